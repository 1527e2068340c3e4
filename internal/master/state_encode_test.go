package master

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/internal/resources"
	"google.golang.org/protobuf/proto"
)

// taskJSONOracle is the map form /master/state used to build for a task
// (encoding/json marshals it); appendTask must write the same bytes.
func taskJSONOracle(t *task) jsonObject {
	statuses := make([]jsonObject, 0, len(t.statuses))
	for _, s := range t.statuses {
		js := jsonObject{"state": s.GetState().String(), "timestamp": s.GetTimestamp()}
		if s.Healthy != nil {
			js["healthy"] = s.GetHealthy()
		}
		if s.ContainerStatus != nil {
			js["container_status"] = protoJSON(s.ContainerStatus)
		}
		if s.Labels != nil {
			js["labels"] = protoJSON(s.Labels)
		}
		statuses = append(statuses, js)
	}
	o := jsonObject{
		"id":           t.id(),
		"name":         t.info.GetName(),
		"framework_id": t.frameworkID,
		"executor_id":  t.executorID,
		"slave_id":     t.agentID,
		"state":        t.state.String(),
		"resources":    resourceMap(t.resources),
		"role":         t.role,
		"statuses":     statuses,
	}
	if t.info.Labels != nil {
		o["labels"] = protoJSON(t.info.Labels)
	}
	if t.info.Discovery != nil {
		o["discovery"] = protoJSON(t.info.Discovery)
	}
	if t.info.Container != nil {
		o["container"] = protoJSON(t.info.Container)
	}
	if t.info.HealthCheck != nil {
		o["health_check"] = protoJSON(t.info.HealthCheck)
	}
	return o
}

// TestAppendTask: the task encoder writes exactly what encoding/json
// makes of the map form, for plain and odd tasks alike.
func TestAppendTask(t *testing.T) {
	plain, _ := resources.Parse("cpus:0.1;mem:32")
	odd, _ := resources.Parse("cpus:1.5;mem:1e-7;disk:1e22;ports:[31000-31005,31010-31010];zones:{a,b};foo:3")
	healthy := true
	for _, tc := range []*task{
		{frameworkID: "fw-1", agentID: "S0", role: "*", resources: plain, state: mesos.TaskState_TASK_RUNNING,
			info:     &mesos.TaskInfo{Name: proto.String("t"), TaskId: &mesos.TaskID{Value: proto.String("t1")}},
			statuses: []*mesos.TaskStatus{{State: mesos.TaskState_TASK_RUNNING.Enum(), Timestamp: proto.Float64(1764770000.123456)}}},
		{frameworkID: "fw-<&>", agentID: "S\"1\"", executorID: "ex\u2028é", role: "prod/web", resources: odd, state: mesos.TaskState_TASK_UNREACHABLE,
			info: &mesos.TaskInfo{Name: proto.String("naïve \x01 <b>"), TaskId: &mesos.TaskID{Value: proto.String("t2")},
				Labels:      &mesos.Labels{Labels: []*mesos.Label{{Key: proto.String("k"), Value: proto.String("v")}}},
				Discovery:   &mesos.DiscoveryInfo{Visibility: mesos.DiscoveryInfo_FRAMEWORK.Enum(), Name: proto.String("d")},
				Container:   &mesos.ContainerInfo{Type: mesos.ContainerInfo_MESOS.Enum()},
				HealthCheck: &mesos.HealthCheck{Type: mesos.HealthCheck_COMMAND.Enum()}},
			statuses: []*mesos.TaskStatus{
				{State: mesos.TaskState_TASK_STARTING.Enum(), Timestamp: proto.Float64(0)},
				{State: mesos.TaskState_TASK_RUNNING.Enum(), Timestamp: proto.Float64(1e21), Healthy: &healthy,
					Labels:          &mesos.Labels{Labels: []*mesos.Label{{Key: proto.String("x")}}},
					ContainerStatus: &mesos.ContainerStatus{ExecutorPid: proto.Uint32(42)}},
			}},
		{frameworkID: "f", agentID: "a", state: mesos.TaskState_TASK_STAGING, info: &mesos.TaskInfo{TaskId: &mesos.TaskID{Value: proto.String("")}}},
	} {
		want, err := json.Marshal(taskJSONOracle(tc))
		if err != nil {
			t.Fatal(err)
		}
		if got := appendTask(nil, tc); !bytes.Equal(got, want) {
			t.Errorf("appendTask:\n got %s\nwant %s", got, want)
		}
	}
	for _, f := range []float64{0, 1, -2.5, 0.1, 1e-6, 1e-7, 123456789.125, 1e20, 1e21, 3e-9} {
		want, _ := json.Marshal(f)
		if got := appendFloat(nil, f); !bytes.Equal(got, want) {
			t.Errorf("appendFloat(%v) = %s, want %s", f, got, want)
		}
	}
}

// TestStateDoc: /master/state with its tasks appended is valid JSON with
// every framework and task.
func TestStateDoc(t *testing.T) {
	m := stateMaster(t, 100)
	var doc struct {
		Frameworks          []struct{ Tasks []struct{ ID, State string } } `json:"frameworks"`
		CompletedFrameworks []any                                          `json:"completed_frameworks"`
		Slaves              []any                                          `json:"slaves"`
		Hostname            string                                         `json:"hostname"`
	}
	if err := json.Unmarshal(m.stateDoc(nil), &doc); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range doc.Frameworks {
		n += len(f.Tasks)
	}
	if len(doc.Frameworks) != 10 || n != 100 || doc.CompletedFrameworks == nil || doc.Slaves == nil || doc.Hostname == "" {
		t.Errorf("state: %d frameworks, %d tasks, completed %v, slaves %v, hostname %q", len(doc.Frameworks), n, doc.CompletedFrameworks, doc.Slaves, doc.Hostname)
	}
}

// agentJSONOracle is the map form of an agent of /master/state, which
// appendAgent must write the same bytes as.
func agentJSONOracle(a *agent) jsonObject {
	var used, offered resources.Resources
	for _, tasks := range a.tasks {
		for _, t := range tasks {
			if !t.resourcesFreed {
				used = used.Add(t.resources)
			}
		}
	}
	for _, execs := range a.executors {
		for _, e := range execs {
			used = used.Add(e.resources)
		}
	}
	for _, o := range a.offers {
		offered = offered.Add(o.resources)
	}
	var caps []string
	for _, c := range a.info.GetCapabilities() {
		caps = append(caps, c.GetType().String())
	}
	host, port := splitEndpoint(a.endpoint)
	o := jsonObject{
		"id":                   a.id,
		"hostname":             a.info.GetHostname(),
		"port":                 port,
		"pid":                  fmt.Sprintf("slave(1)@%s:%d", host, port),
		"attributes":           attributeMap(a.info.GetAttributes()),
		"registered_time":      secs(a.registeredTime),
		"resources":            resourceMap(a.total),
		"used_resources":       resourceMap(used),
		"offered_resources":    resourceMap(offered),
		"reserved_resources":   reservedMap(a.total),
		"unreserved_resources": resourceMap(a.total.Unreserved()),
		"active":               a.stream != nil,
		"deactivated":          false,
		"version":              a.version,
		"capabilities":         nonNil(caps),
	}
	if !a.reregisteredTime.IsZero() {
		o["reregistered_time"] = secs(a.reregisteredTime)
	}
	return o
}

// TestAgentDoc: an agent encodes as its map form did.
func TestAgentDoc(t *testing.T) {
	m := stateMaster(t, 0)
	total, _ := resources.Parse("cpus:4;mem:1024;disk:100;ports:[31000-31100]")
	reserved, _ := resources.Parse("cpus:1;mem:64")
	total = total.Add(reserved.Reserve("prod"))
	used, _ := resources.Parse("cpus:0.5;mem:32")
	for _, a := range []*agent{
		{id: "S0", endpoint: "10.0.0.1:5051", total: total, version: "1.12.0",
			info: &mesos.AgentInfo{Hostname: proto.String("h<1>"), Attributes: []*mesos.Attribute{
				{Name: proto.String("rack"), Type: mesos.Value_TEXT.Enum(), Text: &mesos.Value_Text{Value: proto.String("r1")}},
				{Name: proto.String("n"), Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(2.5)}}},
				Capabilities: []*mesos.AgentInfo_Capability{{Type: mesos.AgentInfo_Capability_MULTI_ROLE.Enum()}}},
			registeredTime: time.Unix(1764770000, 123000000), reregisteredTime: time.Unix(1764770100, 0),
			tasks:     map[string]map[string]*task{"f": {"t": {resources: used}, "u": {resources: used, resourcesFreed: true}}},
			executors: map[string]map[string]*executor{"f": {"e": {resources: used}}},
			offers:    map[string]*offer{"o": {resources: used}}},
		{id: "S1", endpoint: "bad", info: &mesos.AgentInfo{}},
	} {
		want, err := json.Marshal(agentJSONOracle(a))
		if err != nil {
			t.Fatal(err)
		}
		if got := m.appendAgent(nil, a); !bytes.Equal(got, want) {
			t.Errorf("appendAgent:\n got %s\nwant %s", got, want)
		}
	}
}

// TestStateKeptUntilChanged: what /master/state keeps encoded of tasks
// and agents is used only while they are unchanged. Each change a master
// makes to a task or an agent shows in the next encoding, which equals
// the map form.
func TestStateKeptUntilChanged(t *testing.T) {
	m := stateMasterAgents(t, 20, 2)
	check := func(what string) {
		t.Helper()
		for _, f := range m.frameworks {
			for _, tk := range f.tasks {
				want, _ := json.Marshal(taskJSONOracle(tk))
				if got := appendTask(nil, tk); !bytes.Equal(got, want) {
					t.Fatalf("%s: task %s:\n got %s\nwant %s", what, tk.id(), got, want)
				}
			}
		}
		for _, a := range m.agents {
			want, _ := json.Marshal(agentJSONOracle(a))
			if got := m.appendAgent(nil, a); !bytes.Equal(got, want) {
				t.Fatalf("%s: agent %s:\n got %s\nwant %s", what, a.id, got, want)
			}
		}
	}
	check("first")
	check("kept")
	f := m.frameworks["fw-3"]
	tk := f.tasks["task-3-1"]
	m.transitionTask(f, tk, mesos.TaskState_TASK_UNREACHABLE, mesos.TaskStatus_REASON_AGENT_REMOVED, "gone")
	if len(tk.json) == 0 {
		t.Fatal("nothing kept encoded of the task")
	}
	check("task unreachable")
	healthy := true
	m.recordStatus(tk, &mesos.TaskStatus{State: mesos.TaskState_TASK_UNREACHABLE.Enum(), Healthy: &healthy, Timestamp: proto.Float64(7)})
	check("task healthy")
	tk.state = mesos.TaskState_TASK_RUNNING
	check("task running again")
	tk.agentID = "agent-0"
	check("task on another agent")
	tk.info = proto.Clone(tk.info).(*mesos.TaskInfo)
	tk.info.Name = proto.String("renamed")
	check("task info replaced")

	a := m.agents["agent-1"]
	a.reregisteredTime = time.Unix(1764770100, 0)
	check("agent re-registered")
	res, _ := resources.Parse("cpus:1;mem:10")
	a.offers = map[string]*offer{"o1": {id: "o1", resources: res}}
	a.executors = map[string]map[string]*executor{}
	a.executors["fw-1"] = map[string]*executor{"e": {resources: res}}
	check("agent offered and running an executor")
	for _, ts := range a.tasks {
		for _, x := range ts {
			x.resourcesFreed = true
			break
		}
	}
	check("a task's resources freed")
	a.stream = &stream{}
	check("agent active")
	info := proto.Clone(a.info).(*mesos.AgentInfo)
	info.Hostname = proto.String("elsewhere")
	total, _ := resources.Parse("cpus:2;mem:20;ports:[1-2]")
	a.info, a.endpoint, a.total, a.version = info, "10.1.1.1:5052", total, "1.13.0"
	check("agent subscribed again")
}

// TestMetricsSnapshotResources: the snapshot's resource sums over agents,
// tasks (those whose resources were not freed), executors and offers.
func TestMetricsSnapshotResources(t *testing.T) {
	m := stateMasterAgents(t, 100, 10) // 100 tasks of cpus:0.1;mem:32 on 10 agents of cpus:16;mem:65536
	res, _ := resources.Parse("cpus:1;mem:100;gpus:1")
	a := m.agents["agent-3"]
	a.offers = map[string]*offer{"o": {resources: res}}
	a.executors = map[string]map[string]*executor{"fw-0": {"e": {resources: res}}}
	m.frameworks["fw-0"].tasks["task-0-0"].resourcesFreed = true
	s := m.metricsSnapshot()
	for k, want := range map[string]float64{
		"master/cpus_total": 160, "master/mem_total": 655360, "master/disk_total": 1000000, "master/gpus_total": 0,
		"master/cpus_used": 99*0.1 + 1, "master/mem_used": 99*32 + 100, "master/gpus_used": 1,
		"master/cpus_offered": 1, "master/mem_offered": 100, "master/gpus_offered": 1,
	} {
		if got := s[k]; math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
}
