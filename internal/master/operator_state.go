package master

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"time"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	masterpb "github.com/agora-dev/agora/api/mesos/v1/master"
	"github.com/agora-dev/agora/internal/resources"
	"github.com/agora-dev/agora/internal/version"
	"google.golang.org/protobuf/proto"
)

// The v1 operator API's views of the master's books (the Get* messages of
// mesos.v1.master.Response). They are built and encoded on the loop: they
// share messages with the loop's state.

func timeInfo(t time.Time) *mesos.TimeInfo {
	if t.IsZero() {
		return nil
	}
	return &mesos.TimeInfo{Nanoseconds: proto.Int64(t.UnixNano())}
}

// byRole accumulates resources per allocation role.
type byRole map[string]resources.Resources

func (b byRole) add(role string, r resources.Resources) { b[role] = b[role].Add(r) }

// proto renders the resources with allocation_info set to their role, roles
// in order.
func (b byRole) proto() []*mesos.Resource {
	var out []*mesos.Resource
	for _, role := range slices.Sorted(maps.Keys(b)) {
		out = append(out, b[role].ToProto(role)...)
	}
	return out
}

// taskProto is the mesos.v1.Task of a task; user is its framework's user.
func taskProto(t *task, user string) *mesos.Task {
	p := &mesos.Task{
		Name:        proto.String(t.info.GetName()),
		TaskId:      t.info.TaskId,
		FrameworkId: frameworkIDProto(t.frameworkID),
		AgentId:     agentIDProto(t.agentID),
		State:       t.state.Enum(),
		Resources:   t.resources.ToProto(t.role),
		Statuses:    t.statuses,
		Labels:      t.info.Labels,
		Discovery:   t.info.Discovery,
		Container:   t.info.Container,
		HealthCheck: t.info.HealthCheck,
		KillPolicy:  t.info.KillPolicy,
	}
	if t.executorID != "" {
		p.ExecutorId = &mesos.ExecutorID{Value: proto.String(t.executorID)}
	}
	if u := t.info.GetCommand().GetUser(); u != "" {
		user = u
	}
	if user != "" {
		p.User = proto.String(user)
	}
	if t.latest != nil {
		p.StatusUpdateState = t.latest.GetState().Enum()
		if len(t.latest.GetUuid()) == 16 {
			p.StatusUpdateUuid = t.latest.GetUuid()
		}
	}
	return p
}

// sortedTasks lists tasks by id, for stable answers.
func sortedTasks(m map[string]*task) []*task {
	out := make([]*task, 0, len(m))
	for _, t := range m {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *task) int { return cmp.Compare(a.id(), b.id()) })
	return out
}

func (m *Master) sortedFrameworks() []*framework {
	out := make([]*framework, 0, len(m.frameworks))
	for _, f := range m.frameworks {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b *framework) int { return cmp.Compare(a.id, b.id) })
	return out
}

func (m *Master) getTasks(v *viewer) *masterpb.Response_GetTasks {
	out := &masterpb.Response_GetTasks{}
	add := func(f *framework) {
		if !v.Framework(f.info) {
			return
		}
		user := f.info.GetUser()
		for _, t := range sortedTasks(f.tasks) {
			if !v.Task(t.info, f.info) {
				continue
			}
			if t.state == mesos.TaskState_TASK_UNREACHABLE {
				out.UnreachableTasks = append(out.UnreachableTasks, taskProto(t, user))
			} else {
				out.Tasks = append(out.Tasks, taskProto(t, user))
			}
		}
		for _, t := range f.completedTasks {
			if v.Task(t.info, f.info) {
				out.CompletedTasks = append(out.CompletedTasks, taskProto(t, user))
			}
		}
	}
	for _, f := range m.sortedFrameworks() {
		add(f)
	}
	for _, f := range m.completedFrameworks {
		add(f)
	}
	return out
}

func (m *Master) getExecutors(v *viewer) *masterpb.Response_GetExecutors {
	out := &masterpb.Response_GetExecutors{}
	for _, aid := range slices.Sorted(maps.Keys(m.agents)) {
		a := m.agents[aid]
		for _, fid := range slices.Sorted(maps.Keys(a.executors)) {
			if v != nil {
				f := m.frameworks[fid]
				if f == nil || !v.Framework(f.info) {
					continue
				}
			}
			for _, eid := range slices.Sorted(maps.Keys(a.executors[fid])) {
				if v != nil && !v.Executor(a.executors[fid][eid].info, m.frameworks[fid].info) {
					continue
				}
				out.Executors = append(out.Executors, &masterpb.Response_GetExecutors_Executor{
					ExecutorInfo: a.executors[fid][eid].info,
					AgentId:      agentIDProto(a.id),
				})
			}
		}
	}
	return out
}

// frameworkProto is GetFrameworks.Framework.
func (m *Master) frameworkProto(f *framework) *masterpb.Response_GetFrameworks_Framework {
	allocated, offered := byRole{}, byRole{}
	for _, t := range f.tasks {
		if !t.resourcesFreed {
			allocated.add(t.role, t.resources)
		}
	}
	for aid := range f.executors {
		if a := m.agents[aid]; a != nil {
			for _, e := range a.executors[f.id] {
				allocated.add(e.role, e.resources)
			}
		}
	}
	p := &masterpb.Response_GetFrameworks_Framework{
		FrameworkInfo:    f.info,
		Active:           proto.Bool(f.active),
		Connected:        proto.Bool(f.connected()),
		Recovered:        proto.Bool(f.recovered),
		RegisteredTime:   timeInfo(f.registeredTime),
		ReregisteredTime: timeInfo(f.reregisteredTime),
		UnregisteredTime: timeInfo(f.unregisteredTime),
	}
	for _, oid := range slices.Sorted(maps.Keys(f.offers)) {
		o := f.offers[oid]
		offered.add(o.role, o.resources)
		if a := m.agents[o.agentID]; a != nil {
			p.Offers = append(p.Offers, m.offerProto(f, a, o))
		}
	}
	p.AllocatedResources = allocated.proto()
	p.OfferedResources = offered.proto()
	return p
}

func (m *Master) getFrameworks(v *viewer) *masterpb.Response_GetFrameworks {
	out := &masterpb.Response_GetFrameworks{}
	for _, f := range m.sortedFrameworks() {
		if v.Framework(f.info) {
			out.Frameworks = append(out.Frameworks, m.frameworkProto(f))
		}
	}
	for _, f := range m.completedFrameworks {
		if v.Framework(f.info) {
			out.CompletedFrameworks = append(out.CompletedFrameworks, m.frameworkProto(f))
		}
	}
	return out
}

// agentProto is GetAgents.Agent.
func (m *Master) agentProto(a *agent) *masterpb.Response_GetAgents_Agent {
	allocated, offered := byRole{}, byRole{}
	for _, tasks := range a.tasks {
		for _, t := range tasks {
			if !t.resourcesFreed {
				allocated.add(t.role, t.resources)
			}
		}
	}
	for _, execs := range a.executors {
		for _, e := range execs {
			allocated.add(e.role, e.resources)
		}
	}
	for _, o := range a.offers {
		offered.add(o.role, o.resources)
	}
	host, port := splitEndpoint(a.endpoint)
	return &masterpb.Response_GetAgents_Agent{
		AgentInfo:          a.info,
		Active:             proto.Bool(a.stream != nil),
		Deactivated:        proto.Bool(false),
		Version:            proto.String(a.version),
		Pid:                proto.String(fmt.Sprintf("slave(1)@%s:%d", host, port)),
		RegisteredTime:     timeInfo(a.registeredTime),
		ReregisteredTime:   timeInfo(a.reregisteredTime),
		TotalResources:     a.total.ToProto(""),
		AllocatedResources: allocated.proto(),
		OfferedResources:   offered.proto(),
		Capabilities:       a.info.GetCapabilities(),
	}
}

func (m *Master) getAgents() *masterpb.Response_GetAgents {
	out := &masterpb.Response_GetAgents{}
	for _, id := range slices.Sorted(maps.Keys(m.agents)) {
		out.Agents = append(out.Agents, m.agentProto(m.agents[id]))
	}
	return out
}

func (m *Master) getState(v *viewer) *masterpb.Response_GetState {
	return &masterpb.Response_GetState{
		GetTasks:      m.getTasks(v),
		GetExecutors:  m.getExecutors(v),
		GetFrameworks: m.getFrameworks(v),
		GetAgents:     m.getAgents(),
	}
}

// getRoles lists the roles frameworks are subscribed to and the roles that
// hold allocated resources, each with weight 1 (Agora has no weights yet).
func (m *Master) getRoles(v *viewer) *masterpb.Response_GetRoles {
	frameworks := make(map[string][]string)
	allocated := byRole{}
	for _, f := range m.sortedFrameworks() {
		for _, r := range f.roles() {
			frameworks[r] = append(frameworks[r], f.id)
		}
	}
	for _, a := range m.agents {
		for _, tasks := range a.tasks {
			for _, t := range tasks {
				if !t.resourcesFreed {
					allocated.add(t.role, t.resources)
				}
			}
		}
		for _, execs := range a.executors {
			for _, e := range execs {
				allocated.add(e.role, e.resources)
			}
		}
	}
	names := make(map[string]bool)
	for r := range frameworks {
		names[r] = true
	}
	for r := range allocated {
		names[r] = true
	}
	out := &masterpb.Response_GetRoles{}
	for _, name := range slices.Sorted(maps.Keys(names)) {
		if !v.Role(name) {
			continue
		}
		role := &mesos.Role{Name: proto.String(name), Weight: proto.Float64(1)}
		for _, id := range frameworks[name] {
			role.Frameworks = append(role.Frameworks, frameworkIDProto(id))
		}
		role.Resources = allocated[name].ToProto("")
		out.Roles = append(out.Roles, role)
	}
	return out
}

func (m *Master) getMaster() *masterpb.Response_GetMaster {
	return &masterpb.Response_GetMaster{
		MasterInfo:  m.info,
		StartTime:   proto.Float64(secs(m.startTime)),
		ElectedTime: proto.Float64(secs(m.electedTime)),
	}
}

func getVersion() *masterpb.Response_GetVersion {
	return &masterpb.Response_GetVersion{VersionInfo: &mesos.VersionInfo{
		Version:   proto.String(version.Mesos),
		BuildDate: proto.String(buildDate),
		BuildTime: proto.Float64(secs(buildTime)),
		BuildUser: proto.String(""),
	}}
}

func (m *Master) getFlags() *masterpb.Response_GetFlags {
	flags := m.flags()
	out := &masterpb.Response_GetFlags{}
	for _, name := range slices.Sorted(maps.Keys(flags)) {
		out.Flags = append(out.Flags, &mesos.Flag{Name: proto.String(name), Value: proto.String(flags[name])})
	}
	return out
}

func (m *Master) getMetrics() *masterpb.Response_GetMetrics {
	snap := m.metricsSnapshot()
	out := &masterpb.Response_GetMetrics{}
	for _, name := range slices.Sorted(maps.Keys(snap)) {
		out.Metrics = append(out.Metrics, &mesos.Metric{Name: proto.String(name), Value: proto.Float64(snap[name])})
	}
	return out
}
