package agent

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	executorpb "github.com/agora-dev/agora/api/mesos/v1/executor"
	"github.com/agora-dev/agora/api/recordio"
	"google.golang.org/protobuf/proto"
)

func execCall(t *testing.T, typ executorpb.Call_Type, fw, ex string) *executorpb.Call {
	t.Helper()
	c := &executorpb.Call{Type: typ.Enum(),
		FrameworkId: &mesos.FrameworkID{Value: proto.String(fw)},
		ExecutorId:  &mesos.ExecutorID{Value: proto.String(ex)}}
	if typ == executorpb.Call_SUBSCRIBE {
		c.Subscribe = &executorpb.Call_Subscribe{}
	}
	return c
}

func jsonBody(t *testing.T, c *executorpb.Call) []byte {
	t.Helper()
	b, err := codec.JSON.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func updateCall(t *testing.T, fw, ex, task string, st mesos.TaskState, mutate func(*mesos.TaskStatus)) *executorpb.Call {
	c := execCall(t, executorpb.Call_UPDATE, fw, ex)
	s := &mesos.TaskStatus{TaskId: &mesos.TaskID{Value: proto.String(task)}, State: st.Enum(),
		Uuid: newUUID(), Source: mesos.TaskStatus_SOURCE_EXECUTOR.Enum()}
	if mutate != nil {
		mutate(s)
	}
	c.Update = &executorpb.Call_Update{Status: s}
	return c
}

// TestExecutorAPI drives the executor API with raw HTTP, the test playing
// the executor of a custom executor process that never subscribes itself.
func TestExecutorAPI(t *testing.T) {
	t.Parallel()
	m := newFakeMaster(t)
	a := startAgent(t, m, func(c *Config) { c.ExecutorShutdownGracePeriod = 300 * time.Millisecond })
	api := a.url("/api/v1/executor")
	m.send(runTaskEvent("fw1", customTask("x1", "raw", "sleep 60", nil)))
	containerMarker(t, a, "fw1", "raw")

	hb := jsonBody(t, execCall(t, executorpb.Call_HEARTBEAT, "fw1", "raw"))
	sub := jsonBody(t, execCall(t, executorpb.Call_SUBSCRIBE, "fw1", "raw"))
	for _, tc := range []struct {
		name   string
		method string
		ct     string
		body   []byte
		hdr    map[string]string
		want   int
	}{
		{"GET", http.MethodGet, "", nil, nil, http.StatusMethodNotAllowed},
		{"no content type", http.MethodPost, "", hb, nil, http.StatusBadRequest},
		{"text/plain", http.MethodPost, "text/plain", hb, nil, http.StatusUnsupportedMediaType},
		{"json with charset", http.MethodPost, "application/json; charset=utf-8", hb, nil, http.StatusUnsupportedMediaType},
		{"bad json", http.MethodPost, "application/json", []byte("{"), nil, http.StatusBadRequest},
		{"bad protobuf", http.MethodPost, "application/x-protobuf", []byte{0xff, 0xff}, nil, http.StatusBadRequest},
		{"no executor id", http.MethodPost, "application/json", []byte(`{"type":"HEARTBEAT","framework_id":{"value":"fw1"}}`), nil, http.StatusBadRequest},
		{"no framework id", http.MethodPost, "application/json", []byte(`{"type":"HEARTBEAT","executor_id":{"value":"raw"}}`), nil, http.StatusBadRequest},
		{"unknown framework", http.MethodPost, "application/json", jsonBody(t, execCall(t, executorpb.Call_HEARTBEAT, "nofw", "raw")), nil, http.StatusBadRequest},
		{"unknown executor", http.MethodPost, "application/json", jsonBody(t, execCall(t, executorpb.Call_HEARTBEAT, "fw1", "noex")), nil, http.StatusBadRequest},
		{"not acceptable", http.MethodPost, "application/json", sub, map[string]string{"Accept": "text/html"}, http.StatusNotAcceptable},
		{"call before subscribe", http.MethodPost, "application/json", hb, nil, http.StatusForbidden},
	} {
		resp, body := doRequest(t, tc.method, api, tc.ct, tc.body, tc.hdr)
		if resp.StatusCode != tc.want {
			t.Errorf("%s: status %d (%s), want %d", tc.name, resp.StatusCode, body, tc.want)
		}
		if tc.want == http.StatusMethodNotAllowed && resp.Header.Get("Allow") != "POST" {
			t.Errorf("%s: Allow %q", tc.name, resp.Header.Get("Allow"))
		}
	}

	// SUBSCRIBE: 200, exact Content-Type, SUBSCRIBED then the queued LAUNCH.
	events := subscribeExecutor(t, api, sub)
	ev := nextEvent(t, events)
	if ev.GetType() != executorpb.Event_SUBSCRIBED {
		t.Fatalf("first event %s", ev.GetType())
	}
	s := ev.GetSubscribed()
	if s.GetAgentInfo().GetId().GetValue() != "S0" || s.GetFrameworkInfo().GetId().GetValue() != "fw1" ||
		s.GetExecutorInfo().GetExecutorId().GetValue() != "raw" || s.GetContainerId().GetValue() == "" ||
		s.GetAgentInfo().GetPort() == 0 || len(s.GetAgentInfo().GetResources()) == 0 {
		t.Errorf("SUBSCRIBED = %v", s)
	}
	if ev := nextEvent(t, events); ev.GetType() != executorpb.Event_LAUNCH || ev.GetLaunch().GetTask().GetTaskId().GetValue() != "x1" {
		t.Fatalf("second event %v", ev)
	}

	// UPDATE validation.
	for name, c := range map[string]*executorpb.Call{
		"short uuid":   updateCall(t, "fw1", "raw", "x1", mesos.TaskState_TASK_RUNNING, func(s *mesos.TaskStatus) { s.Uuid = []byte("abc") }),
		"agent source": updateCall(t, "fw1", "raw", "x1", mesos.TaskState_TASK_RUNNING, func(s *mesos.TaskStatus) { s.Source = mesos.TaskStatus_SOURCE_AGENT.Enum() }),
		"staging":      updateCall(t, "fw1", "raw", "x1", mesos.TaskState_TASK_STAGING, nil),
		"other executor": updateCall(t, "fw1", "raw", "x1", mesos.TaskState_TASK_RUNNING, func(s *mesos.TaskStatus) {
			s.ExecutorId = &mesos.ExecutorID{Value: proto.String("other")}
		}),
	} {
		if resp, body := doRequest(t, http.MethodPost, api, "application/json", jsonBody(t, c), nil); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("UPDATE %s: %d %s, want 400", name, resp.StatusCode, body)
		}
	}
	// A valid UPDATE (protobuf this time) is ACKNOWLEDGED at once and
	// forwarded to the master.
	up := updateCall(t, "fw1", "raw", "x1", mesos.TaskState_TASK_RUNNING, nil)
	pb, _ := proto.Marshal(up)
	if resp, body := doRequest(t, http.MethodPost, api, "application/x-protobuf", pb, nil); resp.StatusCode != http.StatusAccepted || len(body) != 0 {
		t.Fatalf("UPDATE: %d %q", resp.StatusCode, body)
	}
	if ev := nextEvent(t, events); ev.GetType() != executorpb.Event_ACKNOWLEDGED ||
		string(ev.GetAcknowledged().GetUuid()) != string(up.GetUpdate().GetStatus().GetUuid()) {
		t.Fatalf("want ACKNOWLEDGED, got %v", ev)
	}
	if u := m.waitUpdate(t, "x1", 1); u.GetStatus().GetState() != mesos.TaskState_TASK_RUNNING ||
		u.GetStatus().GetExecutorId().GetValue() != "raw" {
		t.Fatalf("forwarded %v", u)
	}
	m.ack(m.waitUpdate(t, "x1", 1))

	// HEARTBEAT and MESSAGE: 202; the message reaches the master.
	if resp, _ := doRequest(t, http.MethodPost, api, "application/json", hb, nil); resp.StatusCode != http.StatusAccepted {
		t.Errorf("HEARTBEAT: %d", resp.StatusCode)
	}
	msg := execCall(t, executorpb.Call_MESSAGE, "fw1", "raw")
	msg.Message = &executorpb.Call_Message{Data: []byte("to-scheduler")}
	if resp, _ := doRequest(t, http.MethodPost, api, "application/json", jsonBody(t, msg), nil); resp.StatusCode != http.StatusAccepted {
		t.Errorf("MESSAGE: %d", resp.StatusCode)
	}
	waitFor(t, 10*time.Second, "MESSAGE at the master", func() bool {
		ms := m.callsOf(agentpb.Call_MESSAGE)
		return len(ms) == 1 && string(ms[0].GetMessage().GetData()) == "to-scheduler"
	})

	// Master → executor: MESSAGE, a second task on the running executor,
	// KILL of a delivered task.
	m.send(&agentpb.Event{Type: agentpb.Event_MESSAGE.Enum(), Message: &agentpb.Event_Message{
		FrameworkId: &mesos.FrameworkID{Value: proto.String("fw1")},
		ExecutorId:  &mesos.ExecutorID{Value: proto.String("raw")}, Data: []byte("to-executor")}})
	if ev := nextEvent(t, events); ev.GetType() != executorpb.Event_MESSAGE || string(ev.GetMessage().GetData()) != "to-executor" {
		t.Fatalf("want MESSAGE, got %v", ev)
	}
	m.send(runTaskEvent("fw1", customTask("x2", "raw", "sleep 60", nil)))
	if ev := nextEvent(t, events); ev.GetType() != executorpb.Event_LAUNCH || ev.GetLaunch().GetTask().GetTaskId().GetValue() != "x2" {
		t.Fatalf("want LAUNCH x2, got %v", ev)
	}
	m.send(&agentpb.Event{Type: agentpb.Event_KILL_TASK.Enum(), KillTask: &agentpb.Event_KillTask{
		FrameworkId: &mesos.FrameworkID{Value: proto.String("fw1")}, TaskId: &mesos.TaskID{Value: proto.String("x2")}}})
	if ev := nextEvent(t, events); ev.GetType() != executorpb.Event_KILL || ev.GetKill().GetTaskId().GetValue() != "x2" {
		t.Fatalf("want KILL x2, got %v", ev)
	}

	// SHUTDOWN_EXECUTOR: SHUTDOWN on the stream, the process killed after
	// the grace period, tasks left → TASK_LOST, EXECUTOR_EXITED.
	m.send(&agentpb.Event{Type: agentpb.Event_SHUTDOWN_EXECUTOR.Enum(), ShutdownExecutor: &agentpb.Event_ShutdownExecutor{
		FrameworkId: &mesos.FrameworkID{Value: proto.String("fw1")}, ExecutorId: &mesos.ExecutorID{Value: proto.String("raw")}}})
	if ev := nextEvent(t, events); ev.GetType() != executorpb.Event_SHUTDOWN {
		t.Fatalf("want SHUTDOWN, got %v", ev)
	}
	for _, id := range []string{"x1", "x2"} {
		u := m.waitState(t, id, mesos.TaskState_TASK_LOST)
		if u.GetStatus().GetReason() != mesos.TaskStatus_REASON_EXECUTOR_TERMINATED || u.GetStatus().GetSource() != mesos.TaskStatus_SOURCE_AGENT {
			t.Errorf("%s: %v", id, u.GetStatus())
		}
	}
	waitFor(t, 10*time.Second, "EXECUTOR_EXITED", func() bool {
		ee := m.callsOf(agentpb.Call_EXECUTOR_EXITED)
		return len(ee) == 1 && !ee[0].GetExecutorExited().GetCommandExecutor()
	})
}

// subscribeExecutor opens an executor SUBSCRIBE stream (JSON) and returns
// its events.
func subscribeExecutor(t *testing.T, api string, body []byte) <-chan *executorpb.Event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, api, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Add("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" || resp.ContentLength != -1 {
		t.Fatalf("SUBSCRIBE: %d %q length %d", resp.StatusCode, resp.Header.Get("Content-Type"), resp.ContentLength)
	}
	ch := make(chan *executorpb.Event, 100)
	go func() {
		defer resp.Body.Close()
		defer close(ch)
		r := recordio.NewReader(resp.Body)
		for {
			rec, err := r.ReadRecord()
			if err != nil {
				return
			}
			ev := &executorpb.Event{}
			if err := codec.JSON.Unmarshal(rec, ev); err != nil {
				return
			}
			ch <- ev
		}
	}()
	return ch
}

func nextEvent(t *testing.T, ch <-chan *executorpb.Event) *executorpb.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("executor stream closed")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no executor event within 10s")
	}
	return nil
}

// TestCustomExecutor runs a real custom executor process (the test binary)
// with two tasks and a framework message round trip.
func TestCustomExecutor(t *testing.T) {
	t.Parallel()
	m := newFakeMaster(t)
	a := startAgent(t, m, nil)
	env := []*mesos.Environment_Variable{{Name: proto.String("AGORA_TEST_EXEC"), Value: proto.String("custom")}}
	ti := customTask("c1", "ce", os.Args[0], env)
	ti.Executor.Command.Shell = proto.Bool(false)
	ti.Executor.Command.Arguments = []string{os.Args[0], "-test.run=^$"}
	m.send(runTaskEvent("fw1", ti))
	m.waitState(t, "c1", mesos.TaskState_TASK_RUNNING)
	ti2 := proto.Clone(ti).(*mesos.TaskInfo)
	ti2.TaskId.Value = proto.String("c2")
	m.send(runTaskEvent("fw1", ti2))
	m.waitState(t, "c2", mesos.TaskState_TASK_RUNNING)
	m.send(&agentpb.Event{Type: agentpb.Event_MESSAGE.Enum(), Message: &agentpb.Event_Message{
		FrameworkId: &mesos.FrameworkID{Value: proto.String("fw1")},
		ExecutorId:  &mesos.ExecutorID{Value: proto.String("ce")}, Data: []byte("ping")}})
	waitFor(t, 10*time.Second, "echoed message", func() bool {
		ms := m.callsOf(agentpb.Call_MESSAGE)
		return len(ms) == 1 && string(ms[0].GetMessage().GetData()) == "echo:ping"
	})
	marker := containerMarker(t, a, "fw1", "ce")
	if n := len(processesWith(marker)); n != 1 {
		t.Fatalf("%d executor processes, want one for both tasks", n)
	}
	// Framework shutdown: the executor exits on SHUTDOWN; no updates.
	m.send(&agentpb.Event{Type: agentpb.Event_SHUTDOWN_FRAMEWORK.Enum(), ShutdownFramework: &agentpb.Event_ShutdownFramework{
		FrameworkId: &mesos.FrameworkID{Value: proto.String("fw1")}}})
	waitFor(t, 10*time.Second, "executor gone", func() bool { return len(processesWith(marker)) == 0 })
	waitFor(t, 10*time.Second, "framework completed", func() bool {
		var s struct {
			Completed []any `json:"completed_frameworks"`
		}
		getJSON(t, a.url("/state"), &s)
		return len(s.Completed) == 1
	})
	if n := len(m.updates("c1")); n != 1 {
		t.Errorf("%d updates for c1, want only RUNNING", n)
	}
}

func TestKillDuringLaunchAndTaskGroups(t *testing.T) {
	t.Parallel()
	m := newFakeMaster(t)
	a := startAgent(t, m, nil)
	m.send(runTaskEvent("fw1", customTask("q1", "slow", "sleep 60", nil)))
	marker := containerMarker(t, a, "fw1", "slow")
	m.send(&agentpb.Event{Type: agentpb.Event_KILL_TASK.Enum(), KillTask: &agentpb.Event_KillTask{
		FrameworkId: &mesos.FrameworkID{Value: proto.String("fw1")}, TaskId: &mesos.TaskID{Value: proto.String("q1")}}})
	u := m.waitState(t, "q1", mesos.TaskState_TASK_KILLED)
	if u.GetStatus().GetReason() != mesos.TaskStatus_REASON_TASK_KILLED_DURING_LAUNCH {
		t.Errorf("reason %s", u.GetStatus().GetReason())
	}
	waitFor(t, 10*time.Second, "idle executor killed", func() bool { return len(processesWith(marker)) == 0 })

	// A task group needs a DEFAULT executor.
	ev := runTaskEvent("fw1", nil)
	ev.RunTask.ExecutorInfo = &mesos.ExecutorInfo{ExecutorId: &mesos.ExecutorID{Value: proto.String("def")},
		Type: mesos.ExecutorInfo_CUSTOM.Enum()}
	ev.RunTask.TaskGroup = &mesos.TaskGroupInfo{Tasks: []*mesos.TaskInfo{commandTask("g1", "true"), commandTask("g2", "true")}}
	m.send(ev)
	for _, id := range []string{"g1", "g2"} {
		u := m.waitState(t, id, mesos.TaskState_TASK_ERROR)
		if u.GetStatus().GetReason() != mesos.TaskStatus_REASON_TASK_GROUP_INVALID ||
			!strings.Contains(u.GetStatus().GetMessage(), "DEFAULT") {
			t.Errorf("%s: %v", id, u.GetStatus())
		}
	}
}

func TestFetchURIs(t *testing.T) {
	t.Parallel()
	m := newFakeMaster(t)
	startAgent(t, m, nil)
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "hello.txt"), []byte("fetched-plain\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeTgz(t, filepath.Join(src, "bundle.tgz"), "data/a.txt", "fetched-archive\n")

	ti := commandTask("f1", "cat hello.txt data/a.txt && test -x run.sh")
	ti.Command.Uris = []*mesos.CommandInfo_URI{
		{Value: proto.String("file://" + filepath.Join(src, "hello.txt"))},
		{Value: proto.String(filepath.Join(src, "bundle.tgz"))},
		{Value: proto.String(filepath.Join(src, "hello.txt")), Executable: proto.Bool(true), OutputFile: proto.String("run.sh")},
	}
	m.send(runTaskEvent("fw1", ti))
	m.waitState(t, "f1", mesos.TaskState_TASK_FINISHED)

	bad := commandTask("f2", "true")
	bad.Command.Uris = []*mesos.CommandInfo_URI{{Value: proto.String("file:///nonexistent/agora/x.bin")}}
	m.send(runTaskEvent("fw1", bad))
	u := m.waitState(t, "f2", mesos.TaskState_TASK_FAILED)
	if u.GetStatus().GetReason() != mesos.TaskStatus_REASON_CONTAINER_LAUNCH_FAILED ||
		!strings.Contains(u.GetStatus().GetMessage(), "file:///nonexistent/agora/x.bin") {
		t.Errorf("fetch failure: %v", u.GetStatus())
	}
}

func writeTgz(t *testing.T, path, name, content string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
	_, _ = tw.Write([]byte(content))
	_ = tw.Close()
	_ = zw.Close()
}

// TestNoUpdateAfterTerminal: updates reach the framework at least once
// and in order per task; a duplicate of an update already seen may come
// again, a task never comes back from a terminal state. An executor that
// sends TASK_RUNNING after the task's TASK_FINISHED (a stale retry, as an
// executor resends its unacknowledged updates after an agent restart) is
// acknowledged, and the update is not forwarded, neither while the
// terminal update is pending nor once the task has completed.
func TestNoUpdateAfterTerminal(t *testing.T) {
	t.Parallel()
	m := newFakeMaster(t)
	a := startAgent(t, m, nil)
	api := a.url("/api/v1/executor")
	m.send(runTaskEvent("fw1", customTask("y1", "rawt", "sleep 60", nil)))
	containerMarker(t, a, "fw1", "rawt")
	events := subscribeExecutor(t, api, jsonBody(t, execCall(t, executorpb.Call_SUBSCRIBE, "fw1", "rawt")))
	if ev := nextEvent(t, events); ev.GetType() != executorpb.Event_SUBSCRIBED {
		t.Fatalf("first event %v", ev)
	}
	if ev := nextEvent(t, events); ev.GetType() != executorpb.Event_LAUNCH {
		t.Fatalf("second event %v", ev)
	}
	m.send(runTaskEvent("fw1", customTask("y2", "rawt", "sleep 60", nil))) // keeps the executor busy
	if ev := nextEvent(t, events); ev.GetType() != executorpb.Event_LAUNCH {
		t.Fatalf("third event %v", ev)
	}
	post := func(c *executorpb.Call) {
		t.Helper()
		if resp, body := doRequest(t, http.MethodPost, api, "application/json", jsonBody(t, c), nil); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("UPDATE: %d %s", resp.StatusCode, body)
		}
		if ev := nextEvent(t, events); ev.GetType() != executorpb.Event_ACKNOWLEDGED ||
			string(ev.GetAcknowledged().GetUuid()) != string(c.GetUpdate().GetStatus().GetUuid()) {
			t.Fatalf("want ACKNOWLEDGED, got %v", ev)
		}
	}
	post(updateCall(t, "fw1", "rawt", "y1", mesos.TaskState_TASK_RUNNING, nil))
	m.ack(m.waitUpdate(t, "y1", 1))
	finished := updateCall(t, "fw1", "rawt", "y1", mesos.TaskState_TASK_FINISHED, nil)
	post(finished)
	fin := m.waitUpdate(t, "y1", 2)
	// A stale TASK_RUNNING while TASK_FINISHED awaits its acknowledgement.
	post(updateCall(t, "fw1", "rawt", "y1", mesos.TaskState_TASK_RUNNING, nil))
	m.ack(fin)
	waitFor(t, 10*time.Second, "y1 completed", func() bool {
		var done bool
		a.do(context.Background(), func() { done = a.st.findTask("fw1", "y1") == nil && a.st.completedTask("fw1", "y1") })
		return done
	})
	// Once completed: a stale TASK_RUNNING and the terminal update again.
	post(updateCall(t, "fw1", "rawt", "y1", mesos.TaskState_TASK_RUNNING, nil))
	post(finished)
	// The agent forwards in order: once y2's update is at the master,
	// anything forwarded for y1 before it is too.
	post(updateCall(t, "fw1", "rawt", "y2", mesos.TaskState_TASK_RUNNING, nil))
	m.waitUpdate(t, "y2", 1)
	terminal := false
	var states []string
	for _, u := range m.updates("y1") {
		st := u.GetStatus().GetState()
		states = append(states, st.String())
		if terminal && !mesos.IsTerminal(st) {
			t.Errorf("y1 went back from a terminal state: %v", states)
		}
		terminal = terminal || mesos.IsTerminal(st)
	}
	if len(states) != 2 || states[1] != "TASK_FINISHED" {
		t.Errorf("y1 updates at the master %v, want [TASK_RUNNING TASK_FINISHED]", states)
	}
}
