package master

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	masterpb "github.com/agora-dev/agora/api/mesos/v1/master"
	"google.golang.org/protobuf/proto"
)

var codecs = []codec.Codec{codec.JSON, codec.Protobuf}

func opCall(t masterpb.Call_Type) *masterpb.Call {
	c := &masterpb.Call{Type: t.Enum()}
	if t == masterpb.Call_GET_METRICS {
		c.GetMetrics = &masterpb.Call_GetMetrics{}
	}
	return c
}

// query sends a GET_* call and decodes the Response, checking the status
// and the exact Content-Type.
func query(t *testing.T, base string, c codec.Codec, ct masterpb.Call_Type) *masterpb.Response {
	t.Helper()
	resp := postRaw(t, base+"/api/v1", c.MediaType(), mustMarshal(t, c, opCall(ct)),
		map[string]string{"Accept": c.MediaType()})
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s: %s", ct, resp.Status, body)
	}
	if got := resp.Header.Get("Content-Type"); got != c.MediaType() {
		t.Fatalf("%s: Content-Type %q, want %q", ct, got, c.MediaType())
	}
	r := &masterpb.Response{}
	if err := c.Unmarshal(body, r); err != nil {
		t.Fatalf("%s: decode Response %q: %v", ct, body, err)
	}
	return r
}

// action sends TEARDOWN or MARK_AGENT_GONE and returns the response.
func action(t *testing.T, base string, c codec.Codec, call *masterpb.Call) (int, http.Header, string) {
	t.Helper()
	resp := postRaw(t, base+"/api/v1", c.MediaType(), mustMarshal(t, c, call), map[string]string{"Accept": c.MediaType()})
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

func teardownCall(id string) *masterpb.Call {
	return &masterpb.Call{Type: masterpb.Call_TEARDOWN.Enum(), Teardown: &masterpb.Call_Teardown{FrameworkId: frameworkIDProto(id)}}
}

func goneCall(id string) *masterpb.Call {
	return &masterpb.Call{Type: masterpb.Call_MARK_AGENT_GONE.Enum(),
		MarkAgentGone: &masterpb.Call_MarkAgentGone{AgentId: agentIDProto(id)}}
}

// mustNoData checks a "no data" answer: 200, empty body, no Content-Type.
func mustNoData(t *testing.T, what string, code int, h http.Header, body string) {
	t.Helper()
	if code != http.StatusOK || body != "" || len(h.Values("Content-Type")) != 0 {
		t.Fatalf("%s: got %d %q Content-Type %q, want 200 with no body and no Content-Type", what, code, body, h.Values("Content-Type"))
	}
}

func subscribeOperator(t *testing.T, base string, c codec.Codec) *eventStream[*masterpb.Event] {
	t.Helper()
	s := openStream(t, base+"/api/v1", c, opCall(masterpb.Call_SUBSCRIBE), nil, func() *masterpb.Event { return &masterpb.Event{} })
	if got := s.headers.Get("Content-Type"); got != c.MediaType() {
		t.Fatalf("SUBSCRIBE Content-Type %q, want %q", got, c.MediaType())
	}
	if s.headers.Get("Content-Length") != "" {
		t.Fatalf("SUBSCRIBE has a Content-Length")
	}
	return s
}

func isEvent(typ masterpb.Event_Type) func(*masterpb.Event) bool {
	return func(e *masterpb.Event) bool { return e.GetType() == typ }
}

// TestOperatorTransport pins the status codes of malformed operator calls.
func TestOperatorTransport(t *testing.T) {
	_, base := startMaster(t, nil)
	get := mustMarshal(t, codec.JSON, opCall(masterpb.Call_GET_HEALTH))
	for _, tc := range []struct {
		name, method, path, contentType, accept string
		body                                    []byte
		want                                    int
	}{
		{"GET", http.MethodGet, "/api/v1", "", "", nil, http.StatusMethodNotAllowed},
		{"no Content-Type", http.MethodPost, "/api/v1", "", "", get, http.StatusBadRequest},
		{"text/plain", http.MethodPost, "/api/v1", "text/plain", "", get, http.StatusUnsupportedMediaType},
		{"JSON with charset", http.MethodPost, "/api/v1", "application/json; charset=utf-8", "", get, http.StatusUnsupportedMediaType},
		{"bad JSON", http.MethodPost, "/api/v1", codec.MediaJSON, "", []byte(`{"type":`), http.StatusBadRequest},
		{"bad protobuf", http.MethodPost, "/api/v1", codec.MediaProtobuf, "", []byte{0xff, 0xff}, http.StatusBadRequest},
		{"no type", http.MethodPost, "/api/v1", codec.MediaJSON, "", []byte(`{}`), http.StatusBadRequest},
		{"Accept text/html", http.MethodPost, "/api/v1", codec.MediaJSON, "text/html", get, http.StatusNotAcceptable},
		{"UNKNOWN", http.MethodPost, "/api/v1", codec.MediaJSON, "", []byte(`{"type":"UNKNOWN"}`), http.StatusNotImplemented},
		{"GET_WEIGHTS", http.MethodPost, "/api/v1", codec.MediaJSON, "", []byte(`{"type":"GET_WEIGHTS"}`), http.StatusNotImplemented},
		{"RESERVE_RESOURCES", http.MethodPost, "/api/v1", codec.MediaJSON, "", []byte(`{"type":"RESERVE_RESOURCES"}`), http.StatusNotImplemented},
		{"GET_METRICS without get_metrics", http.MethodPost, "/api/v1", codec.MediaJSON, "", []byte(`{"type":"GET_METRICS"}`), http.StatusBadRequest},
		{"TEARDOWN without teardown", http.MethodPost, "/api/v1", codec.MediaJSON, "", []byte(`{"type":"TEARDOWN"}`), http.StatusBadRequest},
		{"TEARDOWN of an unknown framework", http.MethodPost, "/api/v1", codec.MediaJSON, "",
			[]byte(`{"type":"TEARDOWN","teardown":{"framework_id":{"value":"nope"}}}`), http.StatusBadRequest},
		{"MARK_AGENT_GONE of an unknown agent", http.MethodPost, "/api/v1", codec.MediaJSON, "",
			[]byte(`{"type":"MARK_AGENT_GONE","mark_agent_gone":{"agent_id":{"value":"nope"}}}`), http.StatusNotFound},
		{"GET_HEALTH", http.MethodPost, "/api/v1", codec.MediaJSON, "", get, http.StatusOK},
		{"GET_HEALTH on /master/api/v1", http.MethodPost, "/master/api/v1", codec.MediaJSON, "", get, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, base+tc.path, strings.NewReader(string(tc.body)))
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want {
				t.Fatalf("got %d %q, want %d", resp.StatusCode, body, tc.want)
			}
			if tc.want == http.StatusMethodNotAllowed && resp.Header.Get("Allow") != "POST" {
				t.Errorf("405 without Allow: POST")
			}
		})
	}
}

// TestOperatorQueries answers every implemented GET_* call, in both codecs,
// for a master with an agent and a framework running one task.
func TestOperatorQueries(t *testing.T) {
	for _, c := range codecs {
		t.Run(c.MediaType(), func(t *testing.T) {
			_, base := startMaster(t, nil)
			a := startAgent(t, base)
			s := startScheduler(t, base, c, frameworkInfo("queries"))
			s.launch(a.id, "t1")
			a.runTask()
			a.update(s.id, "t1", mesos.TaskState_TASK_RUNNING)
			s.update("t1", mesos.TaskState_TASK_RUNNING)

			if r := query(t, base, c, masterpb.Call_GET_HEALTH); r.GetType() != masterpb.Response_GET_HEALTH || !r.GetGetHealth().GetHealthy() {
				t.Errorf("GET_HEALTH = %v", r)
			}
			if r := query(t, base, c, masterpb.Call_GET_VERSION); r.GetGetVersion().GetVersionInfo().GetVersion() == "" {
				t.Errorf("GET_VERSION = %v", r)
			}
			flags := map[string]string{}
			for _, f := range query(t, base, c, masterpb.Call_GET_FLAGS).GetGetFlags().GetFlags() {
				flags[f.GetName()] = f.GetValue()
			}
			if flags["max_agent_ping_timeouts"] != "5" {
				t.Errorf("GET_FLAGS = %v", flags)
			}
			metrics := map[string]float64{}
			for _, mt := range query(t, base, c, masterpb.Call_GET_METRICS).GetGetMetrics().GetMetrics() {
				metrics[mt.GetName()] = mt.GetValue()
			}
			if metrics["master/tasks_running"] != 1 || metrics["master/slaves_active"] != 1 {
				t.Errorf("GET_METRICS tasks_running=%v slaves_active=%v", metrics["master/tasks_running"], metrics["master/slaves_active"])
			}
			if r := query(t, base, c, masterpb.Call_GET_MASTER); r.GetType() != masterpb.Response_GET_MASTER ||
				r.GetGetMaster().GetMasterInfo().GetId() == "" || r.GetGetMaster().GetStartTime() <= 0 {
				t.Errorf("GET_MASTER = %v", r)
			}

			agents := query(t, base, c, masterpb.Call_GET_AGENTS).GetGetAgents().GetAgents()
			if len(agents) != 1 || agents[0].GetAgentInfo().GetId().GetValue() != a.id || !agents[0].GetActive() ||
				agents[0].GetPid() != "slave(1)@127.0.0.1:5051" || agents[0].GetRegisteredTime() == nil ||
				len(agents[0].GetTotalResources()) != 2 || len(agents[0].GetAllocatedResources()) != 2 {
				t.Errorf("GET_AGENTS = %v", agents)
			}

			fws := query(t, base, c, masterpb.Call_GET_FRAMEWORKS).GetGetFrameworks()
			if len(fws.GetFrameworks()) != 1 || fws.GetFrameworks()[0].GetFrameworkInfo().GetId().GetValue() != s.id ||
				!fws.GetFrameworks()[0].GetActive() || !fws.GetFrameworks()[0].GetConnected() ||
				fws.GetFrameworks()[0].GetRegisteredTime() == nil || len(fws.GetFrameworks()[0].GetAllocatedResources()) != 2 {
				t.Errorf("GET_FRAMEWORKS = %v", fws)
			}

			r := query(t, base, c, masterpb.Call_GET_TASKS)
			if r.GetType() != masterpb.Response_GET_TASKS {
				t.Errorf("GET_TASKS answered type %v", r.GetType())
			}
			tasks := r.GetGetTasks().GetTasks()
			if len(tasks) != 1 {
				t.Fatalf("GET_TASKS = %v", r)
			}
			task := tasks[0]
			if task.GetTaskId().GetValue() != "t1" || task.GetState() != mesos.TaskState_TASK_RUNNING ||
				task.GetFrameworkId().GetValue() != s.id || task.GetAgentId().GetValue() != a.id ||
				task.GetStatusUpdateState() != mesos.TaskState_TASK_RUNNING || len(task.GetStatusUpdateUuid()) != 16 ||
				len(task.GetStatuses()) != 1 || task.GetUser() != "tester" ||
				task.GetResources()[0].GetAllocationInfo().GetRole() != "*" {
				t.Errorf("GET_TASKS task = %v", task)
			}

			roles := query(t, base, c, masterpb.Call_GET_ROLES).GetGetRoles().GetRoles()
			if len(roles) != 1 || roles[0].GetName() != "*" || roles[0].GetWeight() != 1 ||
				len(roles[0].GetFrameworks()) != 1 || len(roles[0].GetResources()) != 2 {
				t.Errorf("GET_ROLES = %v", roles)
			}
			if ex := query(t, base, c, masterpb.Call_GET_EXECUTORS).GetGetExecutors(); len(ex.GetExecutors()) != 0 {
				t.Errorf("GET_EXECUTORS for a command task = %v", ex)
			}

			st := query(t, base, c, masterpb.Call_GET_STATE)
			if st.GetType() != masterpb.Response_GET_STATE || len(st.GetGetState().GetGetTasks().GetTasks()) != 1 ||
				len(st.GetGetState().GetGetAgents().GetAgents()) != 1 ||
				len(st.GetGetState().GetGetFrameworks().GetFrameworks()) != 1 || st.GetGetState().GetGetExecutors() == nil {
				t.Errorf("GET_STATE = %v", st)
			}

			// The task finishes: it moves to completed_tasks.
			a.update(s.id, "t1", mesos.TaskState_TASK_FINISHED)
			s.update("t1", mesos.TaskState_TASK_FINISHED)
			waitFor(t, "t1 among the completed tasks", func() bool {
				gt := query(t, base, c, masterpb.Call_GET_TASKS).GetGetTasks()
				return len(gt.GetTasks()) == 1 && gt.GetTasks()[0].GetState() == mesos.TaskState_TASK_FINISHED ||
					len(gt.GetCompletedTasks()) == 1
			})
		})
	}
}

// TestOperatorSubscribe follows a framework's life on the operator event
// stream, in both codecs, and tears it down with the operator's TEARDOWN.
func TestOperatorSubscribe(t *testing.T) {
	for _, c := range codecs {
		t.Run(c.MediaType(), func(t *testing.T) {
			_, base := startMaster(t, nil)
			ops := subscribeOperator(t, base, c)
			sub := ops.next("SUBSCRIBED", isEvent(masterpb.Event_SUBSCRIBED)).GetSubscribed()
			if sub.GetHeartbeatIntervalSeconds() != 15 || sub.GetGetState() == nil {
				t.Errorf("SUBSCRIBED = %v", sub)
			}
			ops.next("first HEARTBEAT", isEvent(masterpb.Event_HEARTBEAT))

			a := startAgent(t, base)
			added := ops.next("AGENT_ADDED", isEvent(masterpb.Event_AGENT_ADDED)).GetAgentAdded().GetAgent()
			if added.GetAgentInfo().GetId().GetValue() != a.id || !added.GetActive() {
				t.Errorf("AGENT_ADDED = %v", added)
			}

			s := startScheduler(t, base, c, frameworkInfo("watched"))
			fw := ops.next("FRAMEWORK_ADDED", isEvent(masterpb.Event_FRAMEWORK_ADDED)).GetFrameworkAdded().GetFramework()
			if fw.GetFrameworkInfo().GetId().GetValue() != s.id || !fw.GetConnected() {
				t.Errorf("FRAMEWORK_ADDED = %v", fw)
			}

			s.launch(a.id, "t1")
			ta := ops.next("TASK_ADDED", isEvent(masterpb.Event_TASK_ADDED)).GetTaskAdded().GetTask()
			if ta.GetTaskId().GetValue() != "t1" || ta.GetState() != mesos.TaskState_TASK_STAGING {
				t.Errorf("TASK_ADDED = %v", ta)
			}
			a.runTask()
			a.update(s.id, "t1", mesos.TaskState_TASK_RUNNING)
			tu := ops.next("TASK_UPDATED", isEvent(masterpb.Event_TASK_UPDATED)).GetTaskUpdated()
			if tu.GetFrameworkId().GetValue() != s.id || tu.GetState() != mesos.TaskState_TASK_RUNNING ||
				tu.GetStatus().GetTaskId().GetValue() != "t1" || tu.GetStatus().GetAgentId().GetValue() != a.id {
				t.Errorf("TASK_UPDATED = %v", tu)
			}

			code, h, body := action(t, base, c, teardownCall(s.id))
			mustNoData(t, "TEARDOWN", code, h, body)
			killed := ops.next("TASK_UPDATED TASK_KILLED", isEvent(masterpb.Event_TASK_UPDATED)).GetTaskUpdated()
			if killed.GetState() != mesos.TaskState_TASK_KILLED || killed.GetStatus().GetReason() != mesos.TaskStatus_REASON_FRAMEWORK_REMOVED {
				t.Errorf("TASK_UPDATED after TEARDOWN = %v", killed)
			}
			removed := ops.next("FRAMEWORK_REMOVED", isEvent(masterpb.Event_FRAMEWORK_REMOVED)).GetFrameworkRemoved()
			if removed.GetFrameworkInfo().GetId().GetValue() != s.id {
				t.Errorf("FRAMEWORK_REMOVED = %v", removed)
			}
			sd := a.next("SHUTDOWN_FRAMEWORK", func(e *agentpb.Event) bool { return e.GetType() == agentpb.Event_SHUTDOWN_FRAMEWORK })
			if sd.GetShutdownFramework().GetFrameworkId().GetValue() != s.id {
				t.Errorf("agent got %v", sd)
			}
			s.waitEnd()

			fws := query(t, base, c, masterpb.Call_GET_FRAMEWORKS).GetGetFrameworks()
			if len(fws.GetFrameworks()) != 0 || len(fws.GetCompletedFrameworks()) != 1 ||
				fws.GetCompletedFrameworks()[0].GetUnregisteredTime() == nil {
				t.Errorf("GET_FRAMEWORKS after TEARDOWN = %v", fws)
			}
			if code, _, body := action(t, base, c, teardownCall(s.id)); code != http.StatusBadRequest {
				t.Errorf("second TEARDOWN: %d %s, want 400", code, body)
			}
		})
	}
}

// TestOperatorFrameworkUpdated: a disconnection and a resubscription are
// FRAMEWORK_UPDATED events.
func TestOperatorFrameworkUpdated(t *testing.T) {
	_, base := startMaster(t, nil)
	ops := subscribeOperator(t, base, codec.JSON)
	info := frameworkInfo("failover")
	info.FailoverTimeout = proto.Float64(3600)
	s := startScheduler(t, base, codec.JSON, info)
	ops.next("FRAMEWORK_ADDED", isEvent(masterpb.Event_FRAMEWORK_ADDED))
	s.cancel()
	fw := ops.next("FRAMEWORK_UPDATED", isEvent(masterpb.Event_FRAMEWORK_UPDATED)).GetFrameworkUpdated().GetFramework()
	if fw.GetConnected() || fw.GetActive() {
		t.Errorf("FRAMEWORK_UPDATED after disconnection = %v", fw)
	}
	info.Id = frameworkIDProto(s.id)
	s2 := startScheduler(t, base, codec.JSON, info)
	fw = ops.next("FRAMEWORK_UPDATED", isEvent(masterpb.Event_FRAMEWORK_UPDATED)).GetFrameworkUpdated().GetFramework()
	if s2.id != s.id || !fw.GetConnected() || fw.GetReregisteredTime() == nil {
		t.Errorf("FRAMEWORK_UPDATED after resubscription = %v", fw)
	}
}

// TestOperatorHeartbeat: subscribers get HEARTBEAT every HeartbeatInterval.
func TestOperatorHeartbeat(t *testing.T) {
	_, base := startMaster(t, func(c *Config) { c.HeartbeatInterval = 50 * time.Millisecond })
	ops := subscribeOperator(t, base, codec.Protobuf)
	if hb := ops.next("SUBSCRIBED", isEvent(masterpb.Event_SUBSCRIBED)).GetSubscribed().GetHeartbeatIntervalSeconds(); hb != 0.05 {
		t.Errorf("heartbeat_interval_seconds = %v", hb)
	}
	for i := 0; i < 3; i++ {
		ops.next("HEARTBEAT", isEvent(masterpb.Event_HEARTBEAT))
	}
}

// TestOperatorMarkAgentGone: the agent's tasks become TASK_GONE_BY_OPERATOR
// for a partition-aware framework and TASK_LOST for another, the agent is
// shut down and refused, and the call is idempotent.
func TestOperatorMarkAgentGone(t *testing.T) {
	for _, c := range codecs {
		t.Run(c.MediaType(), func(t *testing.T) {
			_, base := startMaster(t, nil)
			ops := subscribeOperator(t, base, c)
			a := startAgent(t, base)
			aware := startScheduler(t, base, c, frameworkInfo("aware", mesos.FrameworkInfo_Capability_PARTITION_AWARE))
			plain := startScheduler(t, base, c, frameworkInfo("plain"))
			aware.launch(a.id, "ta")
			a.runTask()
			plain.launch(a.id, "tp")
			a.runTask()
			a.update(aware.id, "ta", mesos.TaskState_TASK_RUNNING)
			a.update(plain.id, "tp", mesos.TaskState_TASK_RUNNING)
			aware.update("ta", mesos.TaskState_TASK_RUNNING)
			plain.update("tp", mesos.TaskState_TASK_RUNNING)

			code, h, body := action(t, base, c, goneCall(a.id))
			mustNoData(t, "MARK_AGENT_GONE", code, h, body)

			if st := aware.update("ta", mesos.TaskState_TASK_GONE_BY_OPERATOR); st.GetReason() != mesos.TaskStatus_REASON_AGENT_REMOVED_BY_OPERATOR {
				t.Errorf("partition-aware update = %v", st)
			}
			if st := plain.update("tp", mesos.TaskState_TASK_LOST); st.GetReason() != mesos.TaskStatus_REASON_AGENT_REMOVED_BY_OPERATOR {
				t.Errorf("update = %v", st)
			}
			removed := ops.next("AGENT_REMOVED", isEvent(masterpb.Event_AGENT_REMOVED)).GetAgentRemoved()
			if removed.GetAgentId().GetValue() != a.id {
				t.Errorf("AGENT_REMOVED = %v", removed)
			}
			shut := map[string]bool{}
			for len(shut) < 2 {
				ev := a.next("SHUTDOWN_FRAMEWORK", func(e *agentpb.Event) bool { return e.GetType() == agentpb.Event_SHUTDOWN_FRAMEWORK })
				shut[ev.GetShutdownFramework().GetFrameworkId().GetValue()] = true
			}
			a.next("ERROR", func(e *agentpb.Event) bool { return e.GetType() == agentpb.Event_ERROR })
			a.waitEnd()

			// The agent may not come back with its id.
			again := openStream(t, base+agentAPIPath, codec.Protobuf, subscribeAgentCall(a.id), nil,
				func() *agentpb.Event { return &agentpb.Event{} })
			ev := again.next("an answer to the re-subscription", func(*agentpb.Event) bool { return true })
			if ev.GetType() != agentpb.Event_ERROR || !strings.Contains(ev.GetError().GetMessage(), "marked gone") {
				t.Errorf("re-subscription of a gone agent answered %v", ev)
			}

			code, h, body = action(t, base, c, goneCall(a.id))
			mustNoData(t, "second MARK_AGENT_GONE", code, h, body)
			if agents := query(t, base, c, masterpb.Call_GET_AGENTS).GetGetAgents().GetAgents(); len(agents) != 0 {
				t.Errorf("GET_AGENTS after MARK_AGENT_GONE = %v", agents)
			}
			tasks := query(t, base, c, masterpb.Call_GET_TASKS).GetGetTasks()
			if len(tasks.GetTasks()) != 0 || len(tasks.GetCompletedTasks()) != 2 {
				t.Errorf("GET_TASKS after MARK_AGENT_GONE = %v", tasks)
			}
		})
	}
}

// TestOperatorSubscriberLimits: at most 1000 subscribers; one that does not
// keep up is dropped.
func TestOperatorSubscriberLimits(t *testing.T) {
	m, base := startMaster(t, nil)
	var held []*stream
	if err := m.do(func() {
		for i := 0; i < maxOperatorSubscribers; i++ {
			st := newStream(m.newStreamID(), codec.Protobuf, 16)
			if !m.operatorSubscribe(st, nil) {
				t.Errorf("subscriber %d refused", i)
			}
			held = append(held, st)
		}
	}); err != nil {
		t.Fatal(err)
	}
	code, _ := post(t, base+"/api/v1", codec.JSON, opCall(masterpb.Call_SUBSCRIBE), nil)
	if code != http.StatusServiceUnavailable {
		t.Fatalf("subscriber %d: %d, want 503", maxOperatorSubscribers+1, code)
	}

	// A slow subscriber: its backlog is 2 (SUBSCRIBED and HEARTBEAT fill it).
	var remaining int
	slow := newStream("slow", codec.Protobuf, 2)
	if err := m.do(func() {
		for _, st := range held {
			m.operatorUnsubscribe(st)
		}
		m.operatorSubscribe(slow, nil)
		m.opHeartbeat()
		remaining = len(m.op.subscribers)
	}); err != nil {
		t.Fatal(err)
	}
	if remaining != 0 || !slow.closed() {
		t.Errorf("slow subscriber kept: %d subscribers, closed=%v", remaining, slow.closed())
	}
}

// TestOperatorMarkUnreachableAgentGone: the unreachable tasks of an agent
// removed for missing pings become TASK_GONE_BY_OPERATOR.
func TestOperatorMarkUnreachableAgentGone(t *testing.T) {
	m, base := startMaster(t, nil)
	a := startAgent(t, base)
	s := startScheduler(t, base, codec.JSON, frameworkInfo("aware", mesos.FrameworkInfo_Capability_PARTITION_AWARE))
	s.launch(a.id, "t1")
	a.runTask()
	a.update(s.id, "t1", mesos.TaskState_TASK_RUNNING)
	s.update("t1", mesos.TaskState_TASK_RUNNING)
	if err := m.do(func() { m.markUnreachable(m.agents[a.id], "test") }); err != nil {
		t.Fatal(err)
	}
	s.update("t1", mesos.TaskState_TASK_UNREACHABLE)
	code, h, body := action(t, base, codec.JSON, goneCall(a.id))
	mustNoData(t, "MARK_AGENT_GONE", code, h, body)
	if st := s.update("t1", mesos.TaskState_TASK_GONE_BY_OPERATOR); st.GetReason() != mesos.TaskStatus_REASON_AGENT_REMOVED_BY_OPERATOR {
		t.Errorf("update = %v", st)
	}
}
