package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	agentapi "github.com/agora-dev/agora/api/mesos/v1/agent"
	executorpb "github.com/agora-dev/agora/api/mesos/v1/executor"
	"google.golang.org/protobuf/proto"
)

// fuzzStatuses are the codes a v1 API of the agent may answer.
var fuzzStatuses = map[int]bool{200: true, 202: true, 400: true, 403: true, 404: true, 405: true,
	406: true, 409: true, 415: true, 501: true, 503: true}

// liveAgent starts, for a whole fuzz target, a fake master and an agent on
// loopback with one custom executor ("raw", of framework fw1) launched and
// not yet subscribed, and returns the agent's base URL.
func liveAgent(f *testing.F) (*Agent, string) {
	m := &fakeMaster{}
	m.srv = httptest.NewServer(http.HandlerFunc(m.handle))
	cfg := DefaultConfig()
	cfg.Master = m.addr()
	cfg.Port = 0
	cfg.Hostname = "localhost"
	cfg.WorkDir = f.TempDir()
	cfg.Resources = "cpus:2;mem:2048;disk:10000;ports:[31000-32000]"
	cfg.Isolation = "posix"
	cfg.ExecutorPath = os.Args[0]
	cfg.ExecutorArgs = []string{"-test.run=^$"}
	cfg.ExecutorEnv = []string{"AGORA_TEST_EXEC=1"}
	cfg.ExecutorShutdownGracePeriod = 200 * time.Millisecond
	cfg.ExecutorRegistrationTimeout = 10 * time.Minute
	a, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = a.Run(ctx); close(done) }()
	f.Cleanup(func() {
		cancel()
		<-done
		m.mu.Lock()
		if m.conn != nil {
			m.conn.close()
		}
		m.mu.Unlock()
		m.srv.CloseClientConnections()
		m.srv.Close()
	})
	deadline := time.Now().Add(10 * time.Second)
	for len(m.subscriptions()) == 0 {
		if time.Now().After(deadline) {
			f.Fatal("agent did not subscribe")
		}
		time.Sleep(10 * time.Millisecond)
	}
	m.send(runTaskEvent("fw1", customTask("x1", "raw", "sleep 600", nil)))
	base := "http://" + a.Addr()
	for {
		var st struct {
			Frameworks []struct {
				Executors []struct{ ID string } `json:"executors"`
			} `json:"frameworks"`
		}
		if resp, err := http.Get(base + "/state"); err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
		}
		if len(st.Frameworks) > 0 && len(st.Frameworks[0].Executors) > 0 {
			break
		}
		if time.Now().After(deadline) {
			f.Fatal("executor raw did not appear in /state")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return a, base
}

// fuzzPost posts body to url and checks the status; a stream (200 to a
// SUBSCRIBE) is cut after its headers. Then the agent must still answer
// /health.
func fuzzPost(t *testing.T, base, path, ct string, body []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Accept", ct)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s %q: %v", path, body, err)
	}
	if !fuzzStatuses[resp.StatusCode] {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("POST %s %q: status %d %q", path, body, resp.StatusCode, b)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(path, "executor") {
		_, _ = io.Copy(io.Discard, resp.Body)
	}
	cancel() // ends a SUBSCRIBE stream
	resp.Body.Close()
	hresp, err := http.Get(base + "/health")
	if err != nil || hresp.StatusCode != http.StatusOK {
		t.Fatalf("agent stopped answering after POST %s %q: %v %v", path, body, err, hresp)
	}
	hresp.Body.Close()
}

// FuzzExecutorAPI posts arbitrary bodies to /api/v1/executor of a live
// agent. With asExecutor, a body that decodes as a call is sent with the
// framework and executor ids of the agent's real executor, so that
// SUBSCRIBE, UPDATE, MESSAGE and HEARTBEAT with arbitrary contents reach
// the agent's state rather than the unknown-executor check.
func FuzzExecutorAPI(f *testing.F) {
	seeds := []*executorpb.Call{
		{Type: executorpb.Call_SUBSCRIBE.Enum(), Subscribe: &executorpb.Call_Subscribe{
			UnacknowledgedTasks: []*mesos.TaskInfo{commandTask("x1", "true")},
			UnacknowledgedUpdates: []*executorpb.Call_Update{{Status: &mesos.TaskStatus{TaskId: &mesos.TaskID{Value: proto.String("x1")},
				State: mesos.TaskState_TASK_RUNNING.Enum(), Uuid: newUUID(), Source: mesos.TaskStatus_SOURCE_EXECUTOR.Enum()}}}}},
		{Type: executorpb.Call_UPDATE.Enum(), Update: &executorpb.Call_Update{Status: &mesos.TaskStatus{
			TaskId: &mesos.TaskID{Value: proto.String("x1")}, State: mesos.TaskState_TASK_FINISHED.Enum(),
			Uuid: newUUID(), Source: mesos.TaskStatus_SOURCE_EXECUTOR.Enum()}}},
		{Type: executorpb.Call_UPDATE.Enum(), Update: &executorpb.Call_Update{Status: &mesos.TaskStatus{
			TaskId: &mesos.TaskID{Value: proto.String("nope")}, State: mesos.TaskState_TASK_RUNNING.Enum(), Uuid: []byte("x")}}},
		{Type: executorpb.Call_MESSAGE.Enum(), Message: &executorpb.Call_Message{Data: []byte("hi")}},
		{Type: executorpb.Call_HEARTBEAT.Enum()},
		{Type: executorpb.Call_UNKNOWN.Enum()},
	}
	for _, c := range seeds {
		c.FrameworkId = &mesos.FrameworkID{Value: proto.String("fw1")}
		c.ExecutorId = &mesos.ExecutorID{Value: proto.String("raw")}
		b, _ := proto.Marshal(c)
		f.Add(true, false, b)
		j, _ := codec.JSON.Marshal(c)
		f.Add(true, true, j)
	}
	f.Add(false, true, []byte(`{"type":"HEARTBEAT","framework_id":{"value":"fw1"}}`))
	f.Add(false, true, []byte(`{"type":"UPDATE","framework_id":{"value":"fw1"},"executor_id":{"value":"raw"},"update":{"status":{"task_id":{"value":"x1"},"state":"TASK_STAGING","uuid":"AAAA"}}}`))
	f.Add(false, false, []byte{0xff, 0xff})
	_, base := liveAgent(f)

	f.Fuzz(func(t *testing.T, asExecutor, asJSON bool, body []byte) {
		c := codec.Protobuf
		if asJSON {
			c = codec.JSON
		}
		if asExecutor {
			call := &executorpb.Call{}
			if c.Unmarshal(body, call) == nil {
				call.FrameworkId = &mesos.FrameworkID{Value: proto.String("fw1")}
				call.ExecutorId = &mesos.ExecutorID{Value: proto.String("raw")}
				if b, err := c.Marshal(call); err == nil {
					body = b
				}
			}
		}
		fuzzPost(t, base, "/api/v1/executor", c.MediaType(), body)
	})
}

// FuzzOperatorAPI posts arbitrary bodies to the agent's operator API
// (/api/v1) of a live agent that runs an executor.
func FuzzOperatorAPI(f *testing.F) {
	for _, t := range []agentapi.Call_Type{agentapi.Call_GET_HEALTH, agentapi.Call_GET_FLAGS, agentapi.Call_GET_VERSION,
		agentapi.Call_GET_STATE, agentapi.Call_GET_FRAMEWORKS, agentapi.Call_GET_EXECUTORS, agentapi.Call_GET_TASKS,
		agentapi.Call_GET_CONTAINERS, agentapi.Call_GET_AGENT, agentapi.Call_UNKNOWN} {
		c := &agentapi.Call{Type: t.Enum()}
		b, _ := proto.Marshal(c)
		f.Add(false, b)
		j, _ := codec.JSON.Marshal(c)
		f.Add(true, j)
	}
	f.Add(true, []byte(`{"type":"GET_METRICS","get_metrics":{"timeout":{"nanoseconds":-1}}}`))
	f.Add(true, []byte(`{"type":"GET_METRICS"}`))
	f.Add(true, []byte(`{"type":"LAUNCH_NESTED_CONTAINER","launch_nested_container":{}}`))
	f.Add(true, []byte(`{}`))
	_, base := liveAgent(f)

	f.Fuzz(func(t *testing.T, asJSON bool, body []byte) {
		ct := codec.MediaProtobuf
		if asJSON {
			ct = codec.MediaJSON
		}
		fuzzPost(t, base, "/api/v1", ct, body)
	})
}

// FuzzCheckpoint recovers an agent from an arbitrary checkpoint
// (meta/agent.json; "@WORK@" in the input stands for the agent's
// work_dir). Recovery either refuses it with an error or recovers a state
// whose own checkpoint reads back; it never panics, and it never sweeps a
// container or sandbox outside the work_dir.
func FuzzCheckpoint(f *testing.F) {
	fi := mustMarshal(&mesos.FrameworkInfo{User: proto.String("u"), Name: proto.String("n"), Checkpoint: proto.Bool(true),
		Id: &mesos.FrameworkID{Value: proto.String("fw1")}})
	ei := mustMarshal(&mesos.ExecutorInfo{ExecutorId: &mesos.ExecutorID{Value: proto.String("e1")},
		Command: &mesos.CommandInfo{Value: proto.String("sleep 1")}})
	ti := mustMarshal(commandTask("t1", "true"))
	st := mustMarshal(&mesos.TaskStatus{TaskId: &mesos.TaskID{Value: proto.String("t1")}, State: mesos.TaskState_TASK_RUNNING.Enum(), Uuid: newUUID()})
	dir := "@WORK@/slaves/S0/frameworks/fw1/executors/e1/runs/c1"
	for _, cp := range []cpState{
		{AgentID: "S0"},
		{AgentID: "S0", Frameworks: []cpFramework{{Info: fi, Executors: []cpExecutor{{Info: ei, ContainerID: "c1", Directory: dir,
			Pid: 999999, Tasks: []cpTask{{Info: ti, State: int32(mesos.TaskState_TASK_RUNNING), Statuses: [][]byte{st}}}}}}},
			Updates: []cpStream{{Framework: "fw1", Task: "t1", Latest: int32(mesos.TaskState_TASK_RUNNING), Pending: [][]byte{st}}}},
		{AgentID: "S0", Frameworks: []cpFramework{{Info: fi, Executors: []cpExecutor{{Info: ei, Command: true, ContainerID: "c1", Directory: dir,
			Tasks: []cpTask{{Info: ti, Group: []byte{0x0a, 0x00}, Queued: true}}}}}}},
		{AgentID: "S0", Frameworks: []cpFramework{{Info: fi, Executors: []cpExecutor{{Info: ei, ContainerID: "", Directory: ""}}}}},
		{AgentID: "S0", Frameworks: []cpFramework{{Info: fi, Executors: []cpExecutor{{Info: ei, ContainerID: "c1", Directory: "/"}}}}},
		{Frameworks: []cpFramework{{Info: []byte{0xff}}}},
	} {
		b, _ := json.Marshal(cp)
		f.Add(b)
	}
	f.Add([]byte(`{"agent_id":1}`))
	f.Add([]byte(`null`))

	f.Fuzz(func(t *testing.T, data []byte) {
		work := t.TempDir()
		data = bytes.ReplaceAll(data, []byte("@WORK@"), []byte(work))
		if err := os.MkdirAll(filepath.Join(work, "meta"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, checkpointPath), data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := DefaultConfig()
		cfg.Master = "127.0.0.1:1"
		cfg.IP = "127.0.0.1"
		cfg.Port = 0
		cfg.WorkDir = work
		cfg.Resources = "cpus:1;mem:128;disk:128"
		cfg.Isolation = "posix"
		a, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer a.ln.Close()
		a.sweep = func(cid, sandbox string) int {
			if !strings.HasPrefix(sandbox, filepath.Join(work, "slaves")+"/") || cid == "" {
				t.Errorf("recovery sweeps container %q, sandbox %q: not below %s", cid, sandbox, work)
				return 0
			}
			return sweepContainer(cid, sandbox)
		}
		// Nothing runs the loop: drop what recovery posts to it.
		stop := make(chan struct{})
		go func() {
			for {
				select {
				case <-a.inbox:
				case <-stop:
					return
				}
			}
		}()
		defer func() { close(stop); close(a.done) }()
		if _, err := a.st.recoverState(); err != nil {
			return
		}
		b, err := json.Marshal(a.st.checkpointState())
		if err != nil {
			t.Fatalf("checkpoint of the recovered state: %v", err)
		}
		if err := os.WriteFile(filepath.Join(work, checkpointPath), b, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := readCheckpoint(work); err != nil {
			t.Fatalf("the recovered state's checkpoint does not read back: %v\n%s", err, b)
		}
	})
}
