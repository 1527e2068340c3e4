package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	schedpb "github.com/agora-dev/agora/api/mesos/v1/scheduler"
	"github.com/agora-dev/agora/sdk/scheduler"
	"github.com/agora-dev/agora/sdk/scheduler/schedtest"
)

// lockedBuffer is a bytes.Buffer safe to read while Run writes to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// fakeAgent serves the agent's /state and /files/read for sandboxes the
// test creates.
type fakeAgent struct {
	srv *httptest.Server

	mu        sync.Mutex
	executors map[string][]agentExecutor // by framework id
	files     map[string]string          // by path
	reads     int
}

func newFakeAgent(t *testing.T) *fakeAgent {
	a := &fakeAgent{executors: map[string][]agentExecutor{}, files: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /state", func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		st := map[string]any{"id": "a1", "hostname": "host1"}
		var fws []map[string]any
		for fid, exs := range a.executors {
			fws = append(fws, map[string]any{"id": fid, "executors": exs, "completed_executors": []any{}})
		}
		st["frameworks"] = fws
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(st)
	})
	mux.HandleFunc("GET /files/read", func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.reads++
		data, ok := a.files[r.URL.Query().Get("path")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		off, err := strconv.ParseInt(r.URL.Query().Get("offset"), 10, 64)
		if err != nil || off < 0 {
			_ = json.NewEncoder(w).Encode(filesRead{Offset: int64(len(data))})
			return
		}
		chunk := ""
		if off < int64(len(data)) {
			chunk = data[off:min(int64(len(data)), off+7)] // tiny pages exercise the offsets
		}
		_ = json.NewEncoder(w).Encode(filesRead{Data: chunk, Offset: off})
	})
	a.srv = httptest.NewServer(mux)
	t.Cleanup(a.srv.Close)
	return a
}

func (a *fakeAgent) addr() string { return strings.TrimPrefix(a.srv.URL, "http://") }

// launch creates the sandbox of a command task.
func (a *fakeAgent) launch(frameworkID, taskID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	dir := "/work/slaves/a1/frameworks/" + frameworkID + "/executors/" + taskID + "/runs/1"
	a.executors[frameworkID] = append(a.executors[frameworkID], agentExecutor{ID: taskID, Directory: dir})
	a.files[dir+"/stdout"] = ""
	a.files[dir+"/stderr"] = ""
}

func (a *fakeAgent) write(frameworkID, taskID, file, data string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.files["/work/slaves/a1/frameworks/"+frameworkID+"/executors/"+taskID+"/runs/1/"+file] += data
}

type runResult struct {
	code           int
	stdout, stderr *lockedBuffer
	done           chan struct{}
}

func startRun(t *testing.T, ctx context.Context, args ...string) *runResult {
	t.Helper()
	res := &runResult{stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	go func() {
		defer close(res.done)
		res.code = Run(ctx, args, res.stdout, res.stderr)
	}()
	t.Cleanup(func() {
		select {
		case <-res.done:
		case <-time.After(30 * time.Second):
			t.Error("agora run did not return")
		}
	})
	return res
}

func (r *runResult) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-r.done:
		return r.code
	case <-time.After(schedtest.WaitTimeout + 20*time.Second):
		t.Fatalf("agora run did not return; stderr:\n%s", r.stderr)
		return -1
	}
}

func launchedTask(t *testing.T, m *schedtest.Master) *mesos.TaskInfo {
	t.Helper()
	acc := m.WaitCall(t, schedpb.Call_ACCEPT, 1).GetAccept()
	ops := acc.GetOperations()
	if len(ops) != 1 || len(ops[0].GetLaunch().GetTaskInfos()) != 1 {
		t.Fatalf("ACCEPT = %v", acc)
	}
	return ops[0].GetLaunch().GetTaskInfos()[0]
}

func bigOffer(agent *fakeAgent) *mesos.Offer {
	o := schedtest.Offer("o-big", "a1", "host1", agent.addr(),
		scheduler.Scalar("cpus", 4), scheduler.Scalar("mem", 4096), scheduler.Scalar("disk", 1000),
		scheduler.Ranges("ports", [][2]uint64{{31000, 32000}}))
	o.AllocationInfo = &mesos.Resource_AllocationInfo{Role: proto.String("*")}
	return o
}

func TestRunFinishedStreamsOutput(t *testing.T) {
	for _, codecName := range []string{"protobuf", "json"} {
		t.Run(codecName, func(t *testing.T) {
			m := schedtest.NewMaster(t)
			agent := newFakeAgent(t)
			res := startRun(t, context.Background(), "--master="+m.Addr(), "--codec="+codecName, "--env", "A=1", "--", "echo", "hi there")
			sub := m.WaitSubscribed(t, 1).GetSubscribe().GetFrameworkInfo()
			if sub.GetName() != "agora-run" || sub.GetFailoverTimeout() != 0 || sub.GetUser() == "" {
				t.Errorf("framework = %v", sub)
			}
			small := schedtest.Offer("o-small", "a2", "host2", "", scheduler.Scalar("cpus", 0.05), scheduler.Scalar("mem", 16))
			m.SendOffers(small, bigOffer(agent))

			task := launchedTask(t, m)
			cmd := task.GetCommand()
			if cmd.GetShell() || cmd.GetValue() != "echo" || strings.Join(cmd.GetArguments(), "|") != "echo|hi there" {
				t.Errorf("command = %v", cmd)
			}
			if env := cmd.GetEnvironment().GetVariables(); len(env) != 1 || env[0].GetName() != "A" || env[0].GetValue() != "1" {
				t.Errorf("environment = %v", env)
			}
			if got := scheduler.Describe(task.GetResources()); got != "cpus:0.1;mem:32" {
				t.Errorf("task resources = %s", got)
			}
			if task.GetAgentId().GetValue() != "a1" {
				t.Errorf("task agent = %v", task.GetAgentId())
			}
			decl := m.WaitCall(t, schedpb.Call_DECLINE, 1).GetDecline()
			if decl.GetOfferIds()[0].GetValue() != "o-small" {
				t.Errorf("declined %v", decl.GetOfferIds())
			}
			m.WaitCall(t, schedpb.Call_SUPPRESS, 1)

			fid, tid := m.FrameworkID(), task.GetTaskId().GetValue()
			agent.launch(fid, tid)
			agent.write(fid, tid, "stdout", "hello from the task\n")
			m.SendUpdate(schedtest.Status(tid, "a1", mesos.TaskState_TASK_RUNNING, ""))
			m.Wait(t, "streamed stdout", func() bool { return res.stdout.String() == "hello from the task\n" })

			agent.write(fid, tid, "stdout", "bye\n")
			agent.write(fid, tid, "stderr", "a warning\n")
			m.SendUpdate(schedtest.Status(tid, "a1", mesos.TaskState_TASK_FINISHED, "Command exited with status 0"))
			if code := res.wait(t); code != 0 {
				t.Errorf("exit status %d, want 0; stderr:\n%s", code, res.stderr)
			}
			if got := res.stdout.String(); got != "hello from the task\nbye\n" {
				t.Errorf("stdout = %q", got)
			}
			errs := res.stderr.String()
			for _, want := range []string{"TASK_RUNNING on agent a1 (host1)", "TASK_FINISHED on agent a1 (host1)", "a warning\n"} {
				if !strings.Contains(errs, want) {
					t.Errorf("stderr lacks %q:\n%s", want, errs)
				}
			}
			if n := len(m.CallsOf(schedpb.Call_ACKNOWLEDGE)); n != 2 {
				t.Errorf("%d ACKNOWLEDGE calls, want 2", n)
			}
			if n := len(m.CallsOf(schedpb.Call_TEARDOWN)); n != 1 {
				t.Errorf("%d TEARDOWN calls, want 1", n)
			}
		})
	}
}

func TestRunFailedExitStatus(t *testing.T) {
	m := schedtest.NewMaster(t)
	agent := newFakeAgent(t)
	res := startRun(t, context.Background(), "--master", m.Addr(), "--cpus=0.5", "--mem=64", "--shell", "--", "echo", "$A;", "exit 3")
	m.WaitSubscribed(t, 1)
	m.SendOffers(bigOffer(agent))
	task := launchedTask(t, m)
	if cmd := task.GetCommand(); !cmd.GetShell() || cmd.GetValue() != "echo $A; exit 3" || len(cmd.GetArguments()) != 0 {
		t.Errorf("shell command = %v", cmd)
	}
	if got := scheduler.Describe(task.GetResources()); got != "cpus:0.5;mem:64" {
		t.Errorf("task resources = %s", got)
	}
	fid, tid := m.FrameworkID(), task.GetTaskId().GetValue()
	agent.launch(fid, tid)
	agent.write(fid, tid, "stdout", "\n")
	// The task fails before a RUNNING update is seen: its output is read
	// after the fact.
	m.SendUpdate(schedtest.Status(tid, "a1", mesos.TaskState_TASK_FAILED, "Command exited with status 3"))
	if code := res.wait(t); code != 3 {
		t.Errorf("exit status %d, want 3; stderr:\n%s", code, res.stderr)
	}
	if !strings.Contains(res.stderr.String(), "TASK_FAILED on agent a1 (host1): Command exited with status 3") {
		t.Errorf("stderr:\n%s", res.stderr)
	}
	if res.stdout.String() != "\n" {
		t.Errorf("stdout = %q", res.stdout)
	}
	if len(m.CallsOf(schedpb.Call_TEARDOWN)) != 1 {
		t.Error("no TEARDOWN")
	}
}

func TestRunInterruptKillsThenTearsDown(t *testing.T) {
	m := schedtest.NewMaster(t)
	agent := newFakeAgent(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := startRun(t, ctx, "--master="+m.Addr(), "--", "sleep", "1000")
	m.WaitSubscribed(t, 1)
	m.SendOffers(bigOffer(agent))
	task := launchedTask(t, m)
	tid := task.GetTaskId().GetValue()
	agent.launch(m.FrameworkID(), tid)
	m.OnCall(func(c *schedpb.Call) {
		if c.GetType() == schedpb.Call_KILL {
			m.SendUpdate(schedtest.Status(tid, "a1", mesos.TaskState_TASK_KILLED, "Command terminated with signal Terminated"))
		}
	})
	m.SendUpdate(schedtest.Status(tid, "a1", mesos.TaskState_TASK_RUNNING, ""))
	m.Wait(t, "TASK_RUNNING printed", func() bool { return strings.Contains(res.stderr.String(), "TASK_RUNNING") })
	cancel()
	if code := res.wait(t); code != exitInterrupted {
		t.Errorf("exit status %d, want %d", code, exitInterrupted)
	}
	var order []string
	for _, c := range m.Calls() {
		switch c.GetType() {
		case schedpb.Call_KILL:
			if c.GetKill().GetTaskId().GetValue() != tid || c.GetKill().GetAgentId().GetValue() != "a1" {
				t.Errorf("KILL = %v", c.GetKill())
			}
			order = append(order, "KILL")
		case schedpb.Call_TEARDOWN:
			order = append(order, "TEARDOWN")
		}
	}
	if strings.Join(order, ",") != "KILL,TEARDOWN" {
		t.Errorf("calls %v, want KILL then TEARDOWN", order)
	}
	if !strings.Contains(res.stderr.String(), "TASK_KILLED") {
		t.Errorf("stderr:\n%s", res.stderr)
	}
}

func TestRunTimeoutWithoutFittingOffer(t *testing.T) {
	m := schedtest.NewMaster(t)
	res := startRun(t, context.Background(), "--master="+m.Addr(), "--timeout=300ms", "--", "true")
	m.WaitSubscribed(t, 1)
	m.SendOffers(schedtest.Offer("o1", "a2", "host2", "", scheduler.Scalar("cpus", 0.05), scheduler.Scalar("mem", 16)))
	if code := res.wait(t); code != 1 {
		t.Errorf("exit status %d", code)
	}
	errs := res.stderr.String()
	for _, want := range []string{"no offer fitting cpus:0.1;mem:32 within 300ms", "1 offer(s) did not fit, the largest: cpus:0.05;mem:16"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	if len(m.CallsOf(schedpb.Call_TEARDOWN)) != 1 {
		t.Error("no TEARDOWN")
	}
}

func TestRunRefusedByMaster(t *testing.T) {
	m := schedtest.NewMaster(t)
	m.RefuseSubscribe("Role 'x' is not present in the master's --roles")
	res := startRun(t, context.Background(), "--master="+m.Addr(), "--role=x", "--", "true")
	if code := res.wait(t); code != 1 {
		t.Errorf("exit status %d", code)
	}
	if !strings.Contains(res.stderr.String(), "is not present") {
		t.Errorf("stderr:\n%s", res.stderr)
	}
}

func TestRunUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"-h"}, 0, "usage: agora run"},
		{[]string{"--master=x:1"}, exitUsage, "no command given"},
		{[]string{"--env", "novalue", "--", "true"}, exitUsage, "want K=V"},
		{[]string{"--cpus=-1", "true"}, exitUsage, "negative"},
		{[]string{"--codec=xml", "true"}, exitUsage, "unknown codec"},
		{[]string{"--bogus", "true"}, exitUsage, "flag provided but not defined"},
	} {
		var stdout, stderr bytes.Buffer
		code := Run(context.Background(), tc.args, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stdout.String()+stderr.String(), tc.out) {
			t.Errorf("Run(%q) = %d, output %q; want %d with %q", tc.args, code, stdout.String()+stderr.String(), tc.code, tc.out)
		}
	}
}

func TestParseDefaults(t *testing.T) {
	t.Setenv("AGORA_MASTER", "")
	opts, _, err := parseRun([]string{"/bin/echo", "x"})
	if err != nil {
		t.Fatal(err)
	}
	if opts.master != "127.0.0.1:5050" || opts.name != "echo" || opts.role != "*" || opts.want.String() != "cpus:0.1;mem:32" {
		t.Errorf("defaults = %+v", opts)
	}
	t.Setenv("AGORA_MASTER", "m:1")
	if opts, _, _ := parseRun([]string{"true"}); opts.master != "m:1" {
		t.Errorf("AGORA_MASTER ignored: %q", opts.master)
	}
	if id := taskIDFor("a/b c"); !strings.HasPrefix(id, "a_b_c-") {
		t.Errorf("taskIDFor = %q", id)
	}
}

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		state mesos.TaskState
		msg   string
		want  int
	}{
		{mesos.TaskState_TASK_FINISHED, "Command exited with status 0", 0},
		{mesos.TaskState_TASK_FAILED, "Command exited with status 3", 3},
		{mesos.TaskState_TASK_FAILED, "Command exited with status 255", 255},
		{mesos.TaskState_TASK_FAILED, "Command terminated with signal Killed", 137},
		{mesos.TaskState_TASK_FAILED, "Command terminated with signal Segmentation fault", 139},
		{mesos.TaskState_TASK_FAILED, "Command terminated with signal SIGTERM", 143},
		{mesos.TaskState_TASK_FAILED, "killed by signal 2", 130},
		{mesos.TaskState_TASK_FAILED, "Failed to launch container", 1},
		{mesos.TaskState_TASK_KILLED, "Command terminated with signal Killed", 1},
		{mesos.TaskState_TASK_LOST, "", 1},
		{mesos.TaskState_TASK_ERROR, "Task uses more resources than offered", 1},
		{mesos.TaskState_TASK_DROPPED, "", 1},
	} {
		st := &mesos.TaskStatus{State: tc.state.Enum(), Message: proto.String(tc.msg)}
		if got := exitCode(st); got != tc.want {
			t.Errorf("exitCode(%v, %q) = %d, want %d", tc.state, tc.msg, got, tc.want)
		}
	}
}
