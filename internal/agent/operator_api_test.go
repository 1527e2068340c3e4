package agent

import (
	"encoding/json"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	agentapi "github.com/agora-dev/agora/api/mesos/v1/agent"
	"google.golang.org/protobuf/proto"
)

// opCall POSTs an operator call to the agent in codec c (also its Accept)
// and decodes a 200 answer.
func opCall(t *testing.T, ta *testAgent, path string, c codec.Codec, call *agentapi.Call) (*http.Response, *agentapi.Response, []byte) {
	t.Helper()
	body, err := c.Marshal(call)
	if err != nil {
		t.Fatal(err)
	}
	resp, b := doRequest(t, http.MethodPost, ta.url(path), c.MediaType(), body, map[string]string{"Accept": c.MediaType()})
	if resp.StatusCode != http.StatusOK {
		return resp, nil, b
	}
	out := &agentapi.Response{}
	if err := c.Unmarshal(b, out); err != nil {
		t.Fatalf("%s: decoding the %s answer: %v: %q", call.GetType(), c.MediaType(), err, b)
	}
	return resp, out, b
}

// mustOp is opCall that insists on 200, the codec's media type and a
// Response of the expected type.
func mustOp(t *testing.T, ta *testAgent, c codec.Codec, call *agentapi.Call, want agentapi.Response_Type) *agentapi.Response {
	t.Helper()
	resp, out, b := opCall(t, ta, "/api/v1", c, call)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s (%s): %s: %s", call.GetType(), c.MediaType(), resp.Status, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != c.MediaType() {
		t.Fatalf("%s: Content-Type %q, want %q", call.GetType(), ct, c.MediaType())
	}
	if out.GetType() != want {
		t.Fatalf("%s: response type %s, want %s", call.GetType(), out.GetType(), want)
	}
	return out
}

func opType(ct agentapi.Call_Type) *agentapi.Call { return &agentapi.Call{Type: ct.Enum()} }

func taskIDs(ts []*mesos.Task) []string {
	var ids []string
	for _, t := range ts {
		ids = append(ids, t.GetTaskId().GetValue())
	}
	return ids
}

// TestOperatorAPIQueries runs every implemented call in both codecs while
// a command task runs, then checks that a finished task, its executor and
// its framework move to the completed lists.
func TestOperatorAPIQueries(t *testing.T) {
	t.Parallel()
	m := newFakeMaster(t)
	a := startAgent(t, m, nil)
	m.send(runTaskEvent("fw1", commandTask("t1", "sleep 60")))
	m.waitState(t, "t1", mesos.TaskState_TASK_RUNNING)

	var st struct {
		Frameworks []struct {
			Executors []struct {
				Container string `json:"container"`
			} `json:"executors"`
		} `json:"frameworks"`
	}
	getJSON(t, a.url("/state"), &st)
	if len(st.Frameworks) != 1 || len(st.Frameworks[0].Executors) != 1 {
		t.Fatalf("/state: %+v", st)
	}
	containerID := st.Frameworks[0].Executors[0].Container

	for _, c := range []codec.Codec{codec.JSON, codec.Protobuf} {
		t.Run(strings.TrimPrefix(c.MediaType(), "application/"), func(t *testing.T) {
			h := mustOp(t, a, c, opType(agentapi.Call_GET_HEALTH), agentapi.Response_GET_HEALTH)
			if !h.GetGetHealth().GetHealthy() {
				t.Errorf("GET_HEALTH: %v", h)
			}

			fl := mustOp(t, a, c, opType(agentapi.Call_GET_FLAGS), agentapi.Response_GET_FLAGS)
			flags := map[string]string{}
			for _, f := range fl.GetGetFlags().GetFlags() {
				flags[f.GetName()] = f.GetValue()
			}
			if flags["work_dir"] != a.cfg.WorkDir || flags["master"] != m.addr() {
				t.Errorf("GET_FLAGS: %v", flags)
			}

			v := mustOp(t, a, c, opType(agentapi.Call_GET_VERSION), agentapi.Response_GET_VERSION)
			if v.GetGetVersion().GetVersionInfo().GetVersion() != Version {
				t.Errorf("GET_VERSION: %v", v)
			}

			mt := mustOp(t, a, c, &agentapi.Call{Type: agentapi.Call_GET_METRICS.Enum(),
				GetMetrics: &agentapi.Call_GetMetrics{}}, agentapi.Response_GET_METRICS)
			metrics := map[string]float64{}
			for _, x := range mt.GetGetMetrics().GetMetrics() {
				metrics[x.GetName()] = x.GetValue()
			}
			if metrics["slave/tasks_running"] != 1 || metrics["slave/registered"] != 1 || metrics["slave/cpus_total"] != 2 {
				t.Errorf("GET_METRICS: %v", metrics)
			}

			s := mustOp(t, a, c, opType(agentapi.Call_GET_STATE), agentapi.Response_GET_STATE).GetGetState()
			checkTasks(t, s.GetGetTasks())
			checkExecutors(t, s.GetGetExecutors())
			checkFrameworks(t, s.GetGetFrameworks())
			checkTasks(t, mustOp(t, a, c, opType(agentapi.Call_GET_TASKS), agentapi.Response_GET_TASKS).GetGetTasks())
			checkExecutors(t, mustOp(t, a, c, opType(agentapi.Call_GET_EXECUTORS), agentapi.Response_GET_EXECUTORS).GetGetExecutors())
			checkFrameworks(t, mustOp(t, a, c, opType(agentapi.Call_GET_FRAMEWORKS), agentapi.Response_GET_FRAMEWORKS).GetGetFrameworks())

			cs := mustOp(t, a, c, opType(agentapi.Call_GET_CONTAINERS), agentapi.Response_GET_CONTAINERS).GetGetContainers()
			if len(cs.GetContainers()) != 1 {
				t.Fatalf("GET_CONTAINERS: %v", cs)
			}
			ct := cs.GetContainers()[0]
			pid := int(ct.GetContainerStatus().GetExecutorPid())
			if ct.GetContainerId().GetValue() != containerID || ct.GetFrameworkId().GetValue() != "fw1" ||
				ct.GetExecutorId().GetValue() != "t1" || !strings.HasPrefix(ct.GetExecutorName(), "Command Executor (Task: t1)") ||
				ct.GetContainerStatus().GetContainerId().GetValue() != containerID || pid <= 0 {
				t.Errorf("GET_CONTAINERS: %v", ct)
			}
			if err := syscall.Kill(pid, 0); err != nil {
				t.Errorf("executor_pid %d is not alive: %v", pid, err)
			}

			ag := mustOp(t, a, c, opType(agentapi.Call_GET_AGENT), agentapi.Response_GET_AGENT).GetGetAgent()
			if ag.GetAgentInfo().GetId().GetValue() != "S0" || ag.GetAgentInfo().GetHostname() != "localhost" ||
				len(ag.GetAgentInfo().GetResources()) == 0 {
				t.Errorf("GET_AGENT: %v", ag)
			}
		})
	}

	// The JSON answer is Mesos's JSON: proto field names, enum names.
	_, _, raw := opCall(t, a, "/slave(1)/api/v1", codec.JSON, opType(agentapi.Call_GET_TASKS))
	for _, want := range []string{`"type":"GET_TASKS"`, `"launched_tasks":[`, `"state":"TASK_RUNNING"`, `"task_id":{"value":"t1"}`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("GET_TASKS JSON lacks %s: %s", want, raw)
		}
	}
	var generic map[string]any
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatalf("GET_TASKS JSON: %v", err)
	}

	// A second framework's task finishes: once the master acknowledged its
	// last update and its executor exited, it is completed everywhere.
	m.send(runTaskEvent("fw2", commandTask("t2", "true")))
	m.waitState(t, "t2", mesos.TaskState_TASK_FINISHED)
	waitFor(t, 20*time.Second, "fw2 completed", func() bool {
		r := mustOp(t, a, codec.Protobuf, opType(agentapi.Call_GET_FRAMEWORKS), agentapi.Response_GET_FRAMEWORKS)
		cf := r.GetGetFrameworks().GetCompletedFrameworks()
		return len(cf) == 1 && cf[0].GetFrameworkInfo().GetId().GetValue() == "fw2"
	})
	s := mustOp(t, a, codec.Protobuf, opType(agentapi.Call_GET_STATE), agentapi.Response_GET_STATE).GetGetState()
	if got := taskIDs(s.GetGetTasks().GetCompletedTasks()); len(got) != 1 || got[0] != "t2" {
		t.Errorf("completed_tasks %v, want [t2]", got)
	}
	if got := taskIDs(s.GetGetTasks().GetLaunchedTasks()); len(got) != 1 || got[0] != "t1" {
		t.Errorf("launched_tasks %v, want [t1]", got)
	}
	done := s.GetGetTasks().GetCompletedTasks()[0]
	if done.GetState() != mesos.TaskState_TASK_FINISHED || len(done.GetStatuses()) != 3 {
		t.Errorf("completed task: %v", done)
	}
	ce := s.GetGetExecutors().GetCompletedExecutors()
	if len(ce) != 1 || ce[0].GetExecutorInfo().GetExecutorId().GetValue() != "t2" {
		t.Errorf("completed_executors: %v", ce)
	}
	cs := mustOp(t, a, codec.JSON, opType(agentapi.Call_GET_CONTAINERS), agentapi.Response_GET_CONTAINERS)
	if n := len(cs.GetGetContainers().GetContainers()); n != 1 {
		t.Errorf("GET_CONTAINERS lists %d containers after t2's executor exited, want 1", n)
	}
}

func checkTasks(t *testing.T, ts *agentapi.Response_GetTasks) {
	t.Helper()
	if len(ts.GetLaunchedTasks()) != 1 || len(ts.GetQueuedTasks())+len(ts.GetTerminatedTasks())+len(ts.GetPendingTasks()) != 0 {
		t.Fatalf("get_tasks: %v", ts)
	}
	task := ts.GetLaunchedTasks()[0]
	if task.GetTaskId().GetValue() != "t1" || task.GetFrameworkId().GetValue() != "fw1" ||
		task.GetAgentId().GetValue() != "S0" || task.GetState() != mesos.TaskState_TASK_RUNNING ||
		task.ExecutorId != nil || task.GetName() != "t1" || len(task.GetResources()) != 1 {
		t.Errorf("launched task: %v", task)
	}
	var states []mesos.TaskState
	for _, s := range task.GetStatuses() {
		states = append(states, s.GetState())
	}
	if len(states) != 2 || states[0] != mesos.TaskState_TASK_STARTING || states[1] != mesos.TaskState_TASK_RUNNING {
		t.Errorf("statuses %v, want [TASK_STARTING TASK_RUNNING]", states)
	}
}

func checkExecutors(t *testing.T, es *agentapi.Response_GetExecutors) {
	t.Helper()
	if len(es.GetExecutors()) != 1 || es.GetExecutors()[0].GetExecutorInfo().GetExecutorId().GetValue() != "t1" ||
		es.GetExecutors()[0].GetExecutorInfo().GetFrameworkId().GetValue() != "fw1" {
		t.Errorf("get_executors: %v", es)
	}
}

func checkFrameworks(t *testing.T, fs *agentapi.Response_GetFrameworks) {
	t.Helper()
	if len(fs.GetFrameworks()) != 1 || fs.GetFrameworks()[0].GetFrameworkInfo().GetId().GetValue() != "fw1" ||
		fs.GetFrameworks()[0].GetFrameworkInfo().GetName() != "test-fw" {
		t.Errorf("get_frameworks: %v", fs)
	}
}

// TestOperatorAPITransport pins the status codes of the agent's /api/v1.
func TestOperatorAPITransport(t *testing.T) {
	t.Parallel()
	m := newFakeMaster(t)
	a := startAgent(t, m, nil)
	health, _ := proto.Marshal(opType(agentapi.Call_GET_HEALTH))
	cases := []struct {
		name, method, ct, body string
		pb                     []byte
		accept                 string
		want                   int
		wantCT                 string
	}{
		{name: "GET", method: http.MethodGet, want: http.StatusMethodNotAllowed},
		{name: "no content type", body: `{"type":"GET_HEALTH"}`, want: http.StatusBadRequest},
		{name: "text/plain", ct: "text/plain", body: `{"type":"GET_HEALTH"}`, want: http.StatusUnsupportedMediaType},
		{name: "json with charset", ct: "application/json; charset=utf-8", body: `{"type":"GET_HEALTH"}`, want: http.StatusUnsupportedMediaType},
		{name: "bad json", ct: codec.MediaJSON, body: `{"type":`, want: http.StatusBadRequest},
		{name: "bad protobuf", ct: codec.MediaProtobuf, body: "\xff\xff\xff", want: http.StatusBadRequest},
		{name: "no type", ct: codec.MediaJSON, body: `{}`, want: http.StatusBadRequest},
		{name: "UNKNOWN", ct: codec.MediaJSON, body: `{"type":"UNKNOWN"}`, want: http.StatusNotImplemented},
		{name: "GET_METRICS without get_metrics", ct: codec.MediaJSON, body: `{"type":"GET_METRICS"}`, want: http.StatusBadRequest},
		{name: "not acceptable", ct: codec.MediaJSON, body: `{"type":"GET_HEALTH"}`, accept: "text/html", want: http.StatusNotAcceptable},
		{name: "unimplemented", ct: codec.MediaJSON, body: `{"type":"LAUNCH_CONTAINER"}`, want: http.StatusNotImplemented},
		{name: "unimplemented GET_OPERATIONS", ct: codec.MediaJSON, body: `{"type":"GET_OPERATIONS"}`, want: http.StatusNotImplemented},
		{name: "no accept means JSON", ct: codec.MediaProtobuf, pb: health, want: http.StatusOK, wantCT: codec.MediaJSON},
		{name: "accept */*", ct: codec.MediaProtobuf, pb: health, accept: "*/*", want: http.StatusOK, wantCT: codec.MediaJSON},
		{name: "accept protobuf", ct: codec.MediaJSON, body: `{"type":"GET_HEALTH"}`, accept: codec.MediaProtobuf,
			want: http.StatusOK, wantCT: codec.MediaProtobuf},
	}
	for _, tc := range cases {
		method := tc.method
		if method == "" {
			method = http.MethodPost
		}
		body := []byte(tc.body)
		if tc.pb != nil {
			body = tc.pb
		}
		hdr := map[string]string{}
		if tc.accept != "" {
			hdr["Accept"] = tc.accept
		}
		resp, b := doRequest(t, method, a.url("/api/v1"), tc.ct, body, hdr)
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %s (%s), want %d", tc.name, resp.Status, b, tc.want)
			continue
		}
		if tc.want == http.StatusMethodNotAllowed && resp.Header.Get("Allow") != http.MethodPost {
			t.Errorf("%s: Allow %q", tc.name, resp.Header.Get("Allow"))
		}
		if tc.wantCT != "" && resp.Header.Get("Content-Type") != tc.wantCT {
			t.Errorf("%s: Content-Type %q, want %q", tc.name, resp.Header.Get("Content-Type"), tc.wantCT)
		}
	}
	// mesos-go sends Accept twice; the last one decides.
	req := opType(agentapi.Call_GET_HEALTH)
	body, _ := proto.Marshal(req)
	httpReq, _ := http.NewRequest(http.MethodPost, a.url("/slave(1)/api/v1"), strings.NewReader(string(body)))
	httpReq.Header.Set("Content-Type", codec.MediaProtobuf)
	httpReq.Header.Add("Accept", codec.MediaJSON)
	httpReq.Header.Add("Accept", codec.MediaProtobuf)
	resp, err := http.DefaultClient.Do(httpReq)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != codec.MediaProtobuf {
		t.Errorf("two Accept headers: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
}
