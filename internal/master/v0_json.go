package master

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/internal/resources"
	"google.golang.org/protobuf/proto"
)

// The v0 JSON models of /master/state (docs/mesos-api.md §5.4), built on
// the loop and encoded off it.

type jsonObject = map[string]any

func secs(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

// resourceMap renders resources as Mesos's v0 resource map: cpus, gpus,
// mem and disk always present, other scalars as numbers, ranges as
// "[a-b, c-d]" and sets as "{a, b}".
func resourceMap(r resources.Resources) jsonObject {
	out := jsonObject{"cpus": 0.0, "gpus": 0.0, "mem": 0.0, "disk": 0.0}
	ranges := make(map[string][]resources.Range)
	sets := make(map[string][]string)
	for _, e := range r.Items() {
		switch e.Kind {
		case resources.KindScalar:
			v, _ := out[e.Name].(float64)
			out[e.Name] = v + e.Value()
		case resources.KindRanges:
			ranges[e.Name] = append(ranges[e.Name], e.Ranges...)
		case resources.KindSet:
			sets[e.Name] = append(sets[e.Name], e.Set...)
		}
	}
	for name, rs := range ranges {
		parts := make([]string, len(rs))
		for i, x := range rs {
			parts[i] = fmt.Sprintf("%d-%d", x.Begin, x.End)
		}
		out[name] = "[" + strings.Join(parts, ", ") + "]"
	}
	for name, items := range sets {
		out[name] = "{" + strings.Join(items, ", ") + "}"
	}
	return out
}

// reservedMap groups reserved resources by role.
func reservedMap(r resources.Resources) jsonObject {
	out := jsonObject{}
	for _, role := range r.Roles() {
		if role == resources.Unreserved {
			continue
		}
		out[role] = resourceMap(r.ReservedFor(role))
	}
	return out
}

func attributeMap(attrs []*mesos.Attribute) jsonObject {
	out := jsonObject{}
	for _, a := range attrs {
		switch a.GetType() {
		case mesos.Value_SCALAR:
			out[a.GetName()] = a.GetScalar().GetValue()
		case mesos.Value_RANGES:
			parts := make([]string, 0, len(a.GetRanges().GetRange()))
			for _, x := range a.GetRanges().GetRange() {
				parts = append(parts, fmt.Sprintf("%d-%d", x.GetBegin(), x.GetEnd()))
			}
			out[a.GetName()] = "[" + strings.Join(parts, ", ") + "]"
		case mesos.Value_SET:
			out[a.GetName()] = "{" + strings.Join(a.GetSet().GetItem(), ", ") + "}"
		default:
			out[a.GetName()] = a.GetText().GetValue()
		}
	}
	return out
}

// protoJSON renders a message as Mesos JSON for embedding in a v0 model.
func protoJSON(m proto.Message) json.RawMessage {
	b, err := codec.JSON.Marshal(m)
	if err != nil {
		return json.RawMessage("null")
	}
	return b
}

func capabilityNames[T interface{ String() string }](types []T) []string {
	out := make([]string, 0, len(types))
	for _, t := range types {
		out = append(out, t.String())
	}
	return out
}

// frameworkTasks are the tasks of a framework v may see, as /state lists
// them.
type frameworkTasks struct {
	tasks, unreachable, completed []*task
}

// appendFramework appends a framework of /state: its fields
// (frameworkJSON) and its task lists (appendTasks).
func (m *Master) appendFramework(b []byte, f *framework, v *viewer) []byte {
	o, ft := m.frameworkJSON(f, v)
	b = appendOpen(b, o)
	b = appendKey(b, "completed_tasks", true)
	b = appendTasks(b, ft.completed, m.stateFlush)
	b = appendKey(b, "tasks", false)
	b = appendTasks(b, ft.tasks, m.stateFlush)
	b = appendKey(b, "unreachable_tasks", false)
	b = appendTasks(b, ft.unreachable, m.stateFlush)
	return append(b, '}')
}

// appendOpen appends o as a JSON object left open for more keys: its
// fields, then a comma when it has any.
func appendOpen(b []byte, o jsonObject) []byte {
	head, err := json.Marshal(o)
	if err != nil || len(head) < 2 {
		head = []byte("{}")
	}
	b = append(b, head[:len(head)-1]...)
	if len(head) > 2 {
		b = append(b, ',')
	}
	return b
}

// appendFrameworks appends a JSON array of frameworks.
func (m *Master) appendFrameworks(b []byte, fws []*framework, v *viewer) []byte {
	b = append(b, '[')
	n := 0
	for _, f := range fws {
		if !v.Framework(f.info) {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = m.appendFramework(b, f, v)
	}
	return append(b, ']')
}

// frameworkJSON is a framework of /state without its task lists, which
// it returns, filtered for v.
func (m *Master) frameworkJSON(f *framework, v *viewer) (jsonObject, frameworkTasks) {
	var offered resources.Resources
	var sum resources.Sum
	var ft frameworkTasks
	for _, t := range f.tasks {
		if !t.resourcesFreed {
			sum.Add(t.resources)
		}
		if !v.Task(t.info, f.info) {
			continue
		}
		if t.state == mesos.TaskState_TASK_UNREACHABLE {
			ft.unreachable = append(ft.unreachable, t)
		} else {
			ft.tasks = append(ft.tasks, t)
		}
	}
	for _, t := range f.completedTasks {
		if v.Task(t.info, f.info) {
			ft.completed = append(ft.completed, t)
		}
	}
	offers := []jsonObject{}
	for _, o := range f.offers {
		offered = offered.Add(o.resources)
		offers = append(offers, jsonObject{
			"id": o.id, "framework_id": o.frameworkID, "slave_id": o.agentID,
			"resources": resourceMap(o.resources), "allocation_info": jsonObject{"role": o.role},
		})
	}
	executors := []jsonObject{}
	for agentID, execs := range f.executors {
		for _, e := range execs {
			if a := m.agents[agentID]; a != nil {
				if ex := a.executors[f.id][e.GetExecutorId().GetValue()]; ex != nil {
					sum.Add(ex.resources)
				}
			}
			if v.Executor(e, f.info) {
				executors = append(executors, m.executorJSON(agentID, e))
			}
		}
	}
	used := sum.Resources()
	o := jsonObject{
		"id":                f.id,
		"name":              f.info.GetName(),
		"user":              f.info.GetUser(),
		"hostname":          f.info.GetHostname(),
		"webui_url":         f.info.GetWebuiUrl(),
		"failover_timeout":  f.info.GetFailoverTimeout(),
		"checkpoint":        f.info.GetCheckpoint(),
		"capabilities":      capabilityNames(capTypes(f.info)),
		"active":            f.active,
		"connected":         f.connected(),
		"recovered":         f.recovered,
		"registered_time":   secs(f.registeredTime),
		"unregistered_time": secs(f.unregisteredTime),
		"used_resources":    resourceMap(used),
		"offered_resources": resourceMap(offered),
		"resources":         resourceMap(used.Add(offered)),
		"offers":            offers,
		"executors":         executors,
		"offer_constraints": jsonObject{},
	}
	if !f.reregisteredTime.IsZero() {
		o["reregistered_time"] = secs(f.reregisteredTime)
	}
	if f.info.Principal != nil {
		o["principal"] = f.info.GetPrincipal()
	}
	if f.multiRole() {
		o["roles"] = f.roles()
	} else {
		o["role"] = legacyRole(f.info)
	}
	if f.info.Labels != nil {
		o["labels"] = protoJSON(f.info.Labels)
	}
	return o, ft
}

func capTypes(info *mesos.FrameworkInfo) []mesos.FrameworkInfo_Capability_Type {
	var out []mesos.FrameworkInfo_Capability_Type
	for _, c := range info.GetCapabilities() {
		out = append(out, c.GetType())
	}
	return out
}

func (m *Master) executorJSON(agentID string, e *mesos.ExecutorInfo) jsonObject {
	res, _ := resources.FromProto(e.GetResources())
	o := jsonObject{
		"executor_id":  e.GetExecutorId().GetValue(),
		"name":         e.GetName(),
		"framework_id": e.GetFrameworkId().GetValue(),
		"slave_id":     agentID,
		"resources":    resourceMap(res),
		"command":      commandJSON(e.GetCommand()),
	}
	if e.Type != nil {
		o["type"] = e.GetType().String()
	}
	if e.Labels != nil {
		o["labels"] = protoJSON(e.Labels)
	}
	return o
}

func commandJSON(c *mesos.CommandInfo) jsonObject {
	uris := []jsonObject{}
	for _, u := range c.GetUris() {
		uris = append(uris, jsonObject{"value": u.GetValue(), "executable": u.GetExecutable()})
	}
	o := jsonObject{"shell": c.GetShell(), "value": c.GetValue(), "argv": nonNil(c.GetArguments()), "uris": uris}
	if env := c.GetEnvironment(); env != nil { // c is nil for DEFAULT executors
		o["environment"] = protoJSON(env)
	}
	return o
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// appendAgent appends an agent of /master/state, its keys sorted as
// encoding/json sorted the map form's. What changes only when the agent
// subscribes again (its info, endpoint, version and resources, all set
// together with a new AgentInfo) is kept encoded (agentJSON); what changes
// with its tasks and offers is encoded each time.
func (m *Master) appendAgent(b []byte, a *agent) []byte {
	var used, offered resources.Sum
	for _, tasks := range a.tasks {
		for _, t := range tasks {
			if !t.resourcesFreed {
				used.Add(t.resources)
			}
		}
	}
	for _, execs := range a.executors {
		for _, e := range execs {
			used.Add(e.resources)
		}
	}
	for _, o := range a.offers {
		offered.Add(o.resources)
	}
	if a.json.info != a.info || a.json.endpoint != a.endpoint || a.json.version != a.version || !a.json.registered.Equal(a.registeredTime) {
		a.json = encodeAgentStatic(a)
	}
	c := &a.json
	b = appendKey(append(b, '{'), "active", true)
	b = strconv.AppendBool(b, a.stream != nil)
	b = append(b, c.b[:c.ends[0]]...) // attributes … id
	b = appendKey(b, "offered_resources", false)
	b = appendResources(b, offered.Resources())
	b = append(b, c.b[c.ends[0]:c.ends[1]]...) // pid … registered_time
	if !a.reregisteredTime.IsZero() {
		b = appendKey(b, "reregistered_time", false)
		b = appendFloat(b, secs(a.reregisteredTime))
	}
	b = append(b, c.b[c.ends[1]:c.ends[2]]...) // reserved … unreserved_resources
	b = appendKey(b, "used_resources", false)
	b = appendResources(b, used.Resources())
	b = append(b, c.b[c.ends[2]:]...) // version
	return append(b, '}')
}

// agentJSON is the part of an agent's /master/state object that changes
// only when it subscribes again: three runs of keys between the ones
// encoded each time, and what they were encoded from.
type agentJSON struct {
	b    []byte
	ends [3]int // where the first three runs end in b

	info              *mesos.AgentInfo
	endpoint, version string
	registered        time.Time
}

func encodeAgentStatic(a *agent) agentJSON {
	c := agentJSON{info: a.info, endpoint: a.endpoint, version: a.version, registered: a.registeredTime}
	host, port := splitEndpoint(a.endpoint)
	b := appendKey(nil, "attributes", false)
	b = appendSorted(b, attributeMap(a.info.GetAttributes()))
	b = appendKey(b, "capabilities", false)
	b = append(b, '[')
	for i, c := range a.info.GetCapabilities() {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, c.GetType().String())
	}
	b = append(b, ']')
	b = appendKey(b, "deactivated", false)
	b = append(b, "false"...)
	b = appendKey(b, "hostname", false)
	b = appendString(b, a.info.GetHostname())
	b = appendKey(b, "id", false)
	b = appendString(b, a.id)
	c.ends[0] = len(b)
	b = appendKey(b, "pid", false)
	b = appendString(b, "slave(1)@"+host+":"+strconv.Itoa(port))
	b = appendKey(b, "port", false)
	b = strconv.AppendInt(b, int64(port), 10)
	b = appendKey(b, "registered_time", false)
	b = appendFloat(b, secs(a.registeredTime))
	c.ends[1] = len(b)
	b = appendKey(b, "reserved_resources", false)
	b = append(b, '{')
	n := 0
	for _, role := range a.total.Roles() {
		if role == resources.Unreserved {
			continue
		}
		b = appendKey(b, role, n == 0)
		b = appendResources(b, a.total.ReservedFor(role))
		n++
	}
	b = append(b, '}')
	b = appendKey(b, "resources", false)
	b = appendResources(b, a.total)
	b = appendKey(b, "unreserved_resources", false)
	b = appendResources(b, a.total.Unreserved())
	c.ends[2] = len(b)
	b = appendKey(b, "version", false)
	b = appendString(b, a.version)
	c.b = slices.Clip(b)
	return c
}

// appendAgents appends the JSON array of every agent.
func (m *Master) appendAgents(b []byte) []byte {
	b = append(b, '[')
	n := 0
	for _, a := range m.agents {
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = m.appendAgent(b, a)
		if m.stateFlush != nil {
			b = m.stateFlush(b)
		}
	}
	return append(b, ']')
}

// appendSorted appends a small map of numbers and strings, keys sorted.
func appendSorted(b []byte, o jsonObject) []byte {
	keys := slices.Sorted(maps.Keys(o))
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(appendString(b, k), ':')
		switch v := o[k].(type) {
		case float64:
			b = appendFloat(b, v)
		case string:
			b = appendString(b, v)
		default:
			q, _ := json.Marshal(v)
			b = append(b, q...)
		}
	}
	return append(b, '}')
}

// stateDoc is /master/state as v may see it, encoded whole.
func (m *Master) stateDoc(v *viewer) []byte { return m.encodeState(v, nil) }

// encodeState encodes /master/state as v may see it: the fields of
// stateJSON with the frameworks and agents appended. With flush, the
// encoding hands it what it has at task and agent boundaries (docStream)
// and returns the rest.
func (m *Master) encodeState(v *viewer, flush func([]byte) []byte) []byte {
	var b []byte
	if flush == nil {
		tasks := 0
		for _, f := range m.frameworks {
			tasks += len(f.tasks) + len(f.completedTasks)
		}
		b = make([]byte, 0, 300*tasks+700*len(m.agents)+16384)
	} else {
		b = newChunk()
		m.stateFlush = flush
		defer func() { m.stateFlush = nil }()
	}
	b = appendOpen(b, m.stateJSON(v))
	b = appendKey(b, "completed_frameworks", true)
	b = m.appendFrameworks(b, m.completedFrameworks, v)
	b = appendKey(b, "frameworks", false)
	b = m.appendFrameworks(b, m.sortedFrameworks(), v)
	b = appendKey(b, "slaves", false)
	b = m.appendAgents(b)
	return append(b, '}')
}

// stateJSON is /master/state as v may see it, without its frameworks
// (stateDoc adds them).
func (m *Master) stateJSON(v *viewer) jsonObject {
	active, inactive := 0, 0
	for _, a := range m.agents {
		if a.stream != nil {
			active++
		} else {
			inactive++
		}
	}
	st := jsonObject{
		"version":                 m.info.GetVersion(),
		"build_date":              buildDate,
		"build_time":              secs(buildTime),
		"build_user":              "",
		"start_time":              secs(m.startTime),
		"elected_time":            secs(m.electedTime),
		"id":                      m.ID(),
		"pid":                     m.info.GetPid(),
		"hostname":                m.info.GetHostname(),
		"capabilities":            []string{"AGENT_UPDATE"},
		"activated_slaves":        float64(active),
		"deactivated_slaves":      float64(inactive),
		"unreachable_slaves":      float64(len(m.removedAgents)),
		"leader":                  m.info.GetPid(),
		"leader_info":             protoJSON(m.info),
		"flags":                   m.flags(),
		"recovered_slaves":        m.recoveredAgentsJSON(),
		"orphan_tasks":            []jsonObject{},
		"unregistered_frameworks": []string{},
	}
	if !v.Flags() {
		delete(st, "flags") // view_flags (Mesos also drops cluster, log_dir, external_log_file)
	}
	return st
}

func (m *Master) flags() map[string]string {
	return map[string]string{
		"ip":                      m.cfg.IP,
		"port":                    fmt.Sprint(m.info.GetPort()),
		"hostname":                m.cfg.Hostname,
		"work_dir":                m.cfg.WorkDir,
		"allocation_interval":     m.cfg.AllocationInterval.String(),
		"agent_ping_timeout":      m.cfg.AgentPingTimeout.String(),
		"max_agent_ping_timeouts": fmt.Sprint(m.cfg.MaxAgentPingTimeouts),
		"offer_timeout":           m.cfg.OfferTimeout.String(),
	}
}

// recoveredAgentsJSON lists the agents the registry admitted that have not
// re-subscribed to this leader yet (Mesos shows their SlaveInfo).
func (m *Master) recoveredAgentsJSON() []jsonObject {
	out := []jsonObject{}
	for _, id := range slices.Sorted(maps.Keys(m.recoveredAgents)) {
		ra := m.recoveredAgents[id]
		out = append(out, jsonObject{"id": ra.ID, "hostname": ra.Hostname})
	}
	return out
}
