package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"google.golang.org/protobuf/proto"
)

type testAgent struct {
	*Agent
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func (ta *testAgent) url(p string) string { return "http://" + ta.Addr() + p }

// stop cancels Run and waits for it.
func (ta *testAgent) stop(t *testing.T) {
	t.Helper()
	ta.once.Do(func() {
		ta.cancel()
		select {
		case err := <-ta.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("Run did not return")
		}
	})
}

func startAgent(t *testing.T, m *fakeMaster, mutate func(*Config)) *testAgent {
	t.Helper()
	ta := startAgentNoWait(t, func(c *Config) {
		c.Master = m.addr()
		if mutate != nil {
			mutate(c)
		}
	})
	waitFor(t, 10*time.Second, "agent subscription", func() bool { return len(m.subscriptions()) > 0 })
	return ta
}

// startAgentNoWait starts an agent without waiting for its subscription;
// mutate must set Master.
func startAgentNoWait(t *testing.T, mutate func(*Config)) *testAgent {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Port = 0
	cfg.Hostname = "localhost"
	cfg.WorkDir = t.TempDir()
	cfg.Resources = "cpus:2;mem:2048;disk:10000;ports:[31000-32000]"
	cfg.Attributes = "rack:r1"
	cfg.ExecutorPath = os.Args[0]
	cfg.ExecutorArgs = []string{"-test.run=^$"}
	cfg.DefaultExecutorArgs = []string{"-test.run=^$", "default-executor"}
	cfg.ExecutorEnv = []string{"AGORA_TEST_EXEC=1"}
	cfg.SupervisorPath, cfg.SupervisorArgs = os.Args[0], []string{"supervise"}
	cfg.ExecutorShutdownGracePeriod = 2 * time.Second
	cfg.StatusUpdateRetry = 10 * time.Second
	if mutate != nil {
		mutate(&cfg)
	}
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	a, err := New(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ta := &testAgent{Agent: a, cancel: cancel, done: make(chan error, 1)}
	go func() { ta.done <- a.Run(ctx) }()
	t.Cleanup(func() { ta.stop(t) })
	return ta
}

// processesWith lists the pids whose environment contains marker.
func processesWith(marker string) []string {
	var pids []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil {
			if f := strings.Fields(string(stat)); len(f) > 2 && f[2] == "Z" {
				continue // zombie, already dead
			}
		}
		for _, kv := range bytes.Split(b, []byte{0}) {
			if string(kv) == marker {
				pids = append(pids, e.Name())
				break
			}
		}
	}
	return pids
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, body := doRequest(t, http.MethodGet, u, "", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", u, resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("GET %s: Content-Type %q", u, ct)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v: %s", u, err, body)
	}
}

func TestCommandTaskReliableUpdates(t *testing.T) {
	t.Parallel()
	m := newFakeMaster(t)
	a := startAgent(t, m, func(c *Config) { c.StatusUpdateRetry = 100 * time.Millisecond })

	m.send(runTaskEvent("fw1", commandTask("t1", "echo hi")))

	// The first update is retried while unacknowledged, and nothing else
	// for the task is forwarded meanwhile.
	first := m.waitUpdate(t, "t1", 1)
	if got := first.GetStatus().GetState(); got != mesos.TaskState_TASK_STARTING {
		t.Fatalf("first update %s, want TASK_STARTING", got)
	}
	waitFor(t, 10*time.Second, "a retry of the first update", func() bool { return len(m.updates("t1")) >= 3 })
	for i, u := range m.updates("t1") {
		if !bytes.Equal(u.GetStatus().GetUuid(), first.GetStatus().GetUuid()) {
			t.Fatalf("update %d is %s before the first was acknowledged", i, u.GetStatus().GetState())
		}
	}
	st := first.GetStatus()
	if st.GetAgentId().GetValue() != "S0" || st.Timestamp == nil || st.GetExecutorId().GetValue() != "t1" ||
		st.GetSource() != mesos.TaskStatus_SOURCE_EXECUTOR || len(st.GetUuid()) != 16 {
		t.Errorf("forwarded status lacks agent fields: %v", st)
	}

	// Acknowledge one at a time: RUNNING then FINISHED follow in order.
	var states []mesos.TaskState
	seen := map[string]bool{}
	for len(states) < 3 {
		var next *agentpb.Call_Update
		waitFor(t, 10*time.Second, "next update", func() bool {
			for _, u := range m.updates("t1") {
				if !seen[string(u.GetStatus().GetUuid())] {
					next = u
					return true
				}
			}
			return false
		})
		seen[string(next.GetStatus().GetUuid())] = true
		states = append(states, next.GetStatus().GetState())
		m.ack(next)
	}
	want := []mesos.TaskState{mesos.TaskState_TASK_STARTING, mesos.TaskState_TASK_RUNNING, mesos.TaskState_TASK_FINISHED}
	for i := range want {
		if states[i] != want[i] {
			t.Fatalf("states %v, want %v", states, want)
		}
	}

	// stdout is readable through /files under the virtual path.
	var read struct {
		Offset int    `json:"offset"`
		Data   string `json:"data"`
	}
	waitFor(t, 10*time.Second, "stdout with hi", func() bool {
		getJSON(t, a.url("/files/read?offset=0&path="+url.QueryEscape("/frameworks/fw1/executors/t1/runs/latest/stdout")), &read)
		return strings.Contains(read.Data, "hi")
	})

	// The executor exits; EXECUTOR_EXITED reaches the master and the task
	// ends up in completed_tasks of a completed executor.
	waitFor(t, 10*time.Second, "EXECUTOR_EXITED", func() bool { return len(m.callsOf(agentpb.Call_EXECUTOR_EXITED)) > 0 })
	ee := m.callsOf(agentpb.Call_EXECUTOR_EXITED)[0].GetExecutorExited()
	if ee.GetExecutorId().GetValue() != "t1" || !ee.GetCommandExecutor() || ee.GetStatus() != 0 {
		t.Errorf("EXECUTOR_EXITED = %v", ee)
	}
	waitFor(t, 10*time.Second, "completed task in /state", func() bool {
		var s map[string]any
		getJSON(t, a.url("/state"), &s)
		b, _ := json.Marshal(s)
		return strings.Contains(string(b), `"completed_tasks":[{`) && strings.Contains(string(b), `"TASK_FINISHED"`)
	})
}

func TestCommandTaskExitStatus(t *testing.T) {
	t.Parallel()
	m := newFakeMaster(t)
	startAgent(t, m, nil)
	m.send(runTaskEvent("fw1", commandTask("t3", "exit 3")))
	u := m.waitState(t, "t3", mesos.TaskState_TASK_FAILED)
	if msg := u.GetStatus().GetMessage(); !strings.Contains(msg, "exited with status 3") {
		t.Fatalf("message %q, want it to say the exit status", msg)
	}
}

func TestKillTask(t *testing.T) {
	t.Parallel()
	m := newFakeMaster(t)
	a := startAgent(t, m, nil)
	m.send(runTaskEvent("fw1", commandTask("k1", "sleep 60")))
	m.waitState(t, "k1", mesos.TaskState_TASK_RUNNING)
	marker := containerMarker(t, a, "fw1", "k1")
	if len(processesWith(marker)) == 0 {
		t.Fatal("no executor process found")
	}
	m.send(&agentpb.Event{Type: agentpb.Event_KILL_TASK.Enum(), KillTask: &agentpb.Event_KillTask{
		FrameworkId: &mesos.FrameworkID{Value: proto.String("fw1")}, TaskId: &mesos.TaskID{Value: proto.String("k1")},
	}})
	m.waitState(t, "k1", mesos.TaskState_TASK_KILLED)
	waitFor(t, 10*time.Second, "no process left", func() bool { return len(processesWith(marker)) == 0 })

	// Killing an unknown task answers TASK_LOST from the agent.
	m.send(&agentpb.Event{Type: agentpb.Event_KILL_TASK.Enum(), KillTask: &agentpb.Event_KillTask{
		FrameworkId: &mesos.FrameworkID{Value: proto.String("fw1")}, TaskId: &mesos.TaskID{Value: proto.String("nope")},
	}})
	u := m.waitState(t, "nope", mesos.TaskState_TASK_LOST)
	if u.GetStatus().GetSource() != mesos.TaskStatus_SOURCE_AGENT {
		t.Errorf("source %s, want SOURCE_AGENT", u.GetStatus().GetSource())
	}
}

// containerMarker returns the MESOS_CONTAINER_ID=... entry of an executor's
// environment, read from /state.
func containerMarker(t *testing.T, a *testAgent, fw, exec string) string {
	t.Helper()
	var cid string
	waitFor(t, 10*time.Second, "executor in /state", func() bool {
		var s struct {
			Frameworks []struct {
				ID        string `json:"id"`
				Executors []struct {
					ID        string `json:"id"`
					Container string `json:"container"`
				} `json:"executors"`
			} `json:"frameworks"`
		}
		getJSON(t, a.url("/state"), &s)
		for _, f := range s.Frameworks {
			for _, e := range f.Executors {
				if f.ID == fw && e.ID == exec {
					cid = e.Container
					return true
				}
			}
		}
		return false
	})
	return "MESOS_CONTAINER_ID=" + cid
}

func TestResubscribeReportsExecutors(t *testing.T) {
	t.Parallel()
	m := newFakeMaster(t)
	a := startAgent(t, m, nil)
	if id := m.subscriptions()[0].GetSubscribe().GetAgentInfo().GetId(); id != nil {
		t.Fatalf("first SUBSCRIBE carries agent id %v", id)
	}
	sub := m.subscriptions()[0].GetSubscribe()
	if sub.GetProtocolVersion() != ProtocolVersion || sub.GetEndpoint() != a.Addr() || len(sub.GetAgentInfo().GetResources()) == 0 {
		t.Fatalf("SUBSCRIBE = %v", sub)
	}
	m.send(runTaskEvent("fw1", commandTask("r1", "sleep 60")))
	m.waitState(t, "r1", mesos.TaskState_TASK_RUNNING)

	m.dropStream()
	waitFor(t, 10*time.Second, "resubscription", func() bool { return len(m.subscriptions()) >= 2 })
	re := m.subscriptions()[1]
	if re.GetAgentId().GetValue() != "S0" || re.GetSubscribe().GetAgentInfo().GetId().GetValue() != "S0" {
		t.Fatalf("resubscription without agent id: %v", re)
	}
	execs := re.GetSubscribe().GetExecutors()
	if len(execs) != 1 || execs[0].GetExecutorInfo().GetExecutorId().GetValue() != "r1" || !execs[0].GetCommandExecutor() ||
		len(execs[0].GetTasks()) != 1 || execs[0].GetTasks()[0].GetState() != mesos.TaskState_TASK_RUNNING {
		t.Fatalf("resubscription executors = %v", execs)
	}

	// The agent still works on the new stream.
	m.send(&agentpb.Event{Type: agentpb.Event_KILL_TASK.Enum(), KillTask: &agentpb.Event_KillTask{
		FrameworkId: &mesos.FrameworkID{Value: proto.String("fw1")}, TaskId: &mesos.TaskID{Value: proto.String("r1")},
	}})
	m.waitState(t, "r1", mesos.TaskState_TASK_KILLED)
}

func TestUnackedUpdateResentOnResubscribe(t *testing.T) {
	t.Parallel()
	m := newFakeMaster(t)
	startAgent(t, m, func(c *Config) { c.StatusUpdateRetry = time.Hour })
	m.send(runTaskEvent("fw1", commandTask("u1", "sleep 60")))
	first := m.waitUpdate(t, "u1", 1)
	m.dropStream()
	waitFor(t, 10*time.Second, "resent update", func() bool { return len(m.updates("u1")) >= 2 })
	if u := m.updates("u1")[1]; !bytes.Equal(u.GetStatus().GetUuid(), first.GetStatus().GetUuid()) {
		t.Fatalf("after resubscription got %s, want the unacknowledged head resent", u.GetStatus().GetState())
	}
}

func TestRegistrationTimeout(t *testing.T) {
	t.Parallel()
	m := newFakeMaster(t)
	a := startAgent(t, m, func(c *Config) { c.ExecutorRegistrationTimeout = 300 * time.Millisecond })
	m.send(runTaskEvent("fw1", customTask("c1", "lazy", "sleep 60", nil)))
	marker := containerMarker(t, a, "fw1", "lazy")
	u := m.waitState(t, "c1", mesos.TaskState_TASK_FAILED)
	if u.GetStatus().GetReason() != mesos.TaskStatus_REASON_EXECUTOR_REGISTRATION_TIMEOUT {
		t.Fatalf("reason %s", u.GetStatus().GetReason())
	}
	waitFor(t, 10*time.Second, "EXECUTOR_EXITED", func() bool { return len(m.callsOf(agentpb.Call_EXECUTOR_EXITED)) > 0 })
	waitFor(t, 10*time.Second, "no process left", func() bool { return len(processesWith(marker)) == 0 })
}

func customTask(id, execID, cmd string, env []*mesos.Environment_Variable) *mesos.TaskInfo {
	return &mesos.TaskInfo{
		Name:    proto.String(id),
		TaskId:  &mesos.TaskID{Value: proto.String(id)},
		AgentId: &mesos.AgentID{Value: proto.String("S0")},
		Executor: &mesos.ExecutorInfo{
			ExecutorId: &mesos.ExecutorID{Value: proto.String(execID)},
			Command:    &mesos.CommandInfo{Value: proto.String(cmd), Environment: &mesos.Environment{Variables: env}},
		},
	}
}

func TestRunKillsEverything(t *testing.T) {
	t.Parallel()
	m := newFakeMaster(t)
	a := startAgent(t, m, nil)
	m.send(runTaskEvent("fw1", commandTask("s1", "sleep 60")))
	m.send(runTaskEvent("fw1", customTask("s2", "idle", "sleep 60", nil)))
	m.waitState(t, "s1", mesos.TaskState_TASK_RUNNING)
	m1 := containerMarker(t, a, "fw1", "s1")
	m2 := containerMarker(t, a, "fw1", "idle")
	if len(processesWith(m1)) < 2 || len(processesWith(m2)) < 1 {
		t.Fatalf("processes: %v %v", processesWith(m1), processesWith(m2))
	}
	a.stop(t)
	if p := append(processesWith(m1), processesWith(m2)...); len(p) > 0 {
		t.Fatalf("processes survive Run: %v", p)
	}
}

func TestStateJSON(t *testing.T) {
	t.Parallel()
	m := newFakeMaster(t)
	a := startAgent(t, m, nil)
	m.send(runTaskEvent("fw1", commandTask("j1", "sleep 60")))
	m.waitState(t, "j1", mesos.TaskState_TASK_RUNNING)

	for _, p := range []string{"/state", "/slave(1)/state"} {
		var s map[string]any
		getJSON(t, a.url(p), &s)
		for _, k := range []string{"id", "pid", "hostname", "resources", "attributes", "flags", "frameworks",
			"completed_frameworks", "start_time", "version", "capabilities", "unreserved_resources",
			"reserved_resources", "build_date"} {
			if _, ok := s[k]; !ok {
				t.Errorf("%s: key %q missing", p, k)
			}
		}
		if s["id"] != "S0" || s["pid"] != "slave(1)@"+a.Addr() {
			t.Errorf("%s: id %v pid %v", p, s["id"], s["pid"])
		}
		res := s["resources"].(map[string]any)
		if res["cpus"] != 2.0 || res["mem"] != 2048.0 || res["gpus"] != 0.0 || res["ports"] != "[31000-32000]" {
			t.Errorf("%s: resources %v", p, res)
		}
		if s["attributes"].(map[string]any)["rack"] != "r1" {
			t.Errorf("%s: attributes %v", p, s["attributes"])
		}
		fws := s["frameworks"].([]any)
		if len(fws) != 1 {
			t.Fatalf("%s: frameworks %v", p, fws)
		}
		fw := fws[0].(map[string]any)
		ex := fw["executors"].([]any)[0].(map[string]any)
		for _, k := range []string{"id", "name", "source", "container", "directory", "resources", "tasks",
			"queued_tasks", "completed_tasks"} {
			if _, ok := ex[k]; !ok {
				t.Errorf("%s: executor key %q missing", p, k)
			}
		}
		if !strings.HasPrefix(ex["name"].(string), "Command Executor (Task: j1) (Command: sh -c 'sleep 60')") {
			t.Errorf("executor name %q", ex["name"])
		}
		if st, err := os.Stat(ex["directory"].(string)); err != nil || !st.IsDir() {
			t.Errorf("executor directory %v: %v", ex["directory"], err)
		}
		task := ex["tasks"].([]any)[0].(map[string]any)
		if task["state"] != "TASK_RUNNING" || task["executor_id"] != "" || task["slave_id"] != "S0" {
			t.Errorf("task %v", task)
		}
		if r := ex["resources"].(map[string]any); r["cpus"] != 0.2 || r["mem"] != 32.0 {
			t.Errorf("executor resources %v (want executor 0.1 cpus/32 MB plus the task's)", r)
		}
	}

	var metrics map[string]any
	getJSON(t, a.url("/metrics/snapshot"), &metrics)
	for k, want := range map[string]float64{"slave/registered": 1, "slave/tasks_running": 1, "slave/executors_running": 1,
		"slave/cpus_total": 2, "slave/cpus_used": 0.2, "slave/mem_total": 2048} {
		if metrics[k] != want {
			t.Errorf("metric %s = %v, want %v", k, metrics[k], want)
		}
	}
	resp, body := doRequest(t, http.MethodGet, a.url("/health"), "", nil, nil)
	if resp.StatusCode != http.StatusOK || len(body) != 0 {
		t.Errorf("/health: %s %q", resp.Status, body)
	}
	// Sandbox environment of a command executor (Mesos §3.1).
	dir := ""
	waitFor(t, 10*time.Second, "sandbox", func() bool {
		matches, _ := filepath.Glob(filepath.Join(a.cfg.WorkDir, "slaves/S0/frameworks/fw1/executors/j1/runs/latest"))
		if len(matches) == 1 {
			dir = matches[0]
		}
		return dir != ""
	})
	if _, err := os.Stat(filepath.Join(dir, "stdout")); err != nil {
		t.Errorf("stdout: %v", err)
	}
	_ = io.Discard
}

func TestExecutorEnvironment(t *testing.T) {
	t.Parallel()
	m := newFakeMaster(t)
	a := startAgent(t, m, nil)
	ev := runTaskEvent("fw1", customTask("e1", "envx", "env > env.txt; sleep 60",
		[]*mesos.Environment_Variable{{Name: proto.String("FROM_COMMAND"), Value: proto.String("yes")}}))
	ev.RunTask.FrameworkInfo.Checkpoint = proto.Bool(true)
	m.send(ev)
	var read struct {
		Data string `json:"data"`
	}
	waitFor(t, 10*time.Second, "env.txt", func() bool {
		resp, body := doRequest(t, http.MethodGet,
			a.url("/files/read?offset=0&path="+url.QueryEscape("/frameworks/fw1/executors/envx/runs/latest/env.txt")), "", nil, nil)
		return resp.StatusCode == http.StatusOK && json.Unmarshal(body, &read) == nil && strings.Contains(read.Data, "FROM_COMMAND")
	})
	env := map[string]string{}
	for _, line := range strings.Split(read.Data, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	dir := env["MESOS_DIRECTORY"]
	if !strings.HasPrefix(dir, filepath.Join(a.cfg.WorkDir, "slaves/S0/frameworks/fw1/executors/envx/runs")+"/") {
		t.Errorf("MESOS_DIRECTORY %q", dir)
	}
	for k, want := range map[string]string{
		"MESOS_FRAMEWORK_ID": "fw1", "MESOS_EXECUTOR_ID": "envx", "MESOS_AGENT_ENDPOINT": a.Addr(),
		"MESOS_SANDBOX": dir, "MESOS_CHECKPOINT": "1", "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD": "2secs",
		"MESOS_SLAVE_ID": "S0", "MESOS_SLAVE_PID": "slave(1)@" + a.Addr(), "MESOS_HTTP_COMMAND_EXECUTOR": "0",
		"MESOS_RECOVERY_TIMEOUT": "15mins", "MESOS_SUBSCRIPTION_BACKOFF_MAX": "2secs", "FROM_COMMAND": "yes",
	} {
		if env[k] != want {
			t.Errorf("%s = %q, want %q", k, env[k], want)
		}
	}
}

func TestMasterRefusalIsRetried(t *testing.T) {
	t.Parallel()
	m := newFakeMaster(t)
	m.refuse = "agent not welcome"
	a := startAgent(t, m, nil)
	waitFor(t, 10*time.Second, "a retry after ERROR", func() bool { return len(m.subscriptions()) >= 2 })
	m.mu.Lock()
	m.refuse = ""
	m.mu.Unlock()
	waitFor(t, 10*time.Second, "registration", func() bool {
		var metrics map[string]float64
		getJSON(t, a.url("/metrics/snapshot"), &metrics)
		return metrics["slave/registered"] == 1
	})
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	c := DefaultConfig()
	if c.Port != 5051 || c.ExecutorRegistrationTimeout != time.Minute || c.StatusUpdateRetry != 10*time.Second ||
		c.GCDelay != 7*24*time.Hour || c.DiskWatchInterval != time.Minute || c.GCDiskHeadroom != 0.1 {
		t.Errorf("defaults: %+v", c)
	}
	if err := c.Validate(); err == nil {
		t.Error("config without master validated")
	}
	c.Master = "127.0.0.1:5050"
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
	for _, bad := range []func(*Config){
		func(c *Config) { c.Master = "nohostport" },
		func(c *Config) { c.IP = "not-an-ip" },
		func(c *Config) { c.Port = 70000 },
		func(c *Config) { c.WorkDir = "" },
		func(c *Config) { c.StatusUpdateRetry = -1 },
		func(c *Config) { c.GCDiskHeadroom = 1.5 },
		func(c *Config) { c.GCDiskHeadroom = -0.1 },
		func(c *Config) { c.GCDiskHeadroom = math.NaN() },
		func(c *Config) { c.GCDelay = -time.Second },
		func(c *Config) { c.DiskWatchInterval = -time.Second },
	} {
		cc := c
		bad(&cc)
		if err := cc.Validate(); err == nil {
			t.Errorf("invalid config validated: %+v", cc)
		}
	}
	c.WorkDir = t.TempDir()
	c.Resources = "cpus:lots"
	if _, err := New(c, nil); err == nil {
		t.Error("New accepted bad resources")
	}
}
