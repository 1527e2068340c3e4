package executor

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	executorpb "github.com/agora-dev/agora/api/mesos/v1/executor"
	"github.com/agora-dev/agora/sdk/executor/executortest"
)

const timeout = 10 * time.Second

type harness struct {
	agent   *executortest.Agent
	sandbox string
	exit    chan int
}

// start runs Main in-process against a fake agent that acknowledges every
// update; env entries override the defaults.
func start(t *testing.T, env map[string]string, caps ...mesos.FrameworkInfo_Capability_Type) *harness {
	t.Helper()
	h := &harness{agent: executortest.NewAgent(t), sandbox: t.TempDir(), exit: make(chan int, 1)}
	h.agent.SetAutoAck(true)
	h.agent.OnSubscribe(func(c *executorpb.Call) []*executorpb.Event {
		return []*executorpb.Event{executortest.Subscribed(c, caps...)}
	})
	vars := h.agent.Env(h.sandbox)
	for k, v := range env {
		vars[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	logger := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	go func() { h.exit <- Main(ctx, func(k string) string { return vars[k] }, logger) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.exit:
		case <-time.After(timeout):
			t.Error("Main did not return")
		}
	})
	h.agent.WaitCall(t, timeout, 1, executortest.IsType(executorpb.Call_SUBSCRIBE))
	return h
}

func (h *harness) send(t *testing.T, ev *executorpb.Event) {
	t.Helper()
	if err := h.agent.Send(ev); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) waitExit(t *testing.T) int {
	t.Helper()
	select {
	case code := <-h.exit:
		h.exit <- code // for the cleanup
		return code
	case <-time.After(timeout):
		t.Fatal("Main did not return")
		return -1
	}
}

func states(sts []*mesos.TaskStatus) []string {
	var out []string
	for _, s := range sts {
		out = append(out, s.GetState().String())
	}
	return out
}

func wantStates(t *testing.T, h *harness, want ...string) {
	t.Helper()
	if got := strings.Join(states(h.agent.Updates()), " "); got != strings.Join(want, " ") {
		t.Fatalf("updates = %s, want %s", got, strings.Join(want, " "))
	}
}

func TestEchoFinishes(t *testing.T) {
	h := start(t, nil)
	h.send(t, executortest.Launch(executortest.Task("t1", "echo hello")))
	fin := h.agent.WaitUpdate(t, timeout, 1, mesos.TaskState_TASK_FINISHED)
	if code := h.waitExit(t); code != 0 {
		t.Errorf("Main = %d, want 0", code)
	}
	wantStates(t, h, "TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED")
	running := h.agent.Updates()[1]
	if running.GetContainerStatus().GetExecutorPid() == 0 {
		t.Errorf("TASK_RUNNING has no executor_pid: %v", running)
	}
	if got := running.GetContainerStatus().GetContainerId().GetValue(); got != "container-1" {
		t.Errorf("container_id = %q, want container-1", got)
	}
	for _, st := range h.agent.Updates() {
		if st.GetTaskId().GetValue() != "t1" || st.GetExecutorId().GetValue() != "executor-1" {
			t.Errorf("update names task %q executor %q", st.GetTaskId().GetValue(), st.GetExecutorId().GetValue())
		}
	}
	if fin.Reason != nil {
		t.Errorf("TASK_FINISHED has reason %v", fin.GetReason())
	}
	out, err := os.ReadFile(filepath.Join(h.sandbox, "stdout"))
	if err != nil || string(out) != "hello\n" {
		t.Errorf("stdout = %q, %v; want hello", out, err)
	}
}

func TestExitStatusFails(t *testing.T) {
	h := start(t, nil)
	h.send(t, executortest.Launch(executortest.Task("t1", "echo oops >&2; exit 3")))
	st := h.agent.WaitUpdate(t, timeout, 1, mesos.TaskState_TASK_FAILED)
	if st.GetMessage() != "Command exited with status 3" {
		t.Errorf("message = %q", st.GetMessage())
	}
	if st.Reason != nil {
		t.Errorf("reason = %v, want unset", st.GetReason())
	}
	if code := h.waitExit(t); code != 0 {
		t.Errorf("Main = %d, want 0", code)
	}
	errOut, _ := os.ReadFile(filepath.Join(h.sandbox, "stderr"))
	if !strings.Contains(string(errOut), "oops") {
		t.Errorf("stderr = %q, want oops", errOut)
	}
}

func TestExecWithArgumentsAndEnvironment(t *testing.T) {
	h := start(t, nil)
	task := executortest.Task("t1", "/bin/sh")
	task.Command.Shell = proto.Bool(false)
	task.Command.Arguments = []string{"my-sh", "-c", `echo "$0 $FOO $MESOS_EXECUTOR_ID $MESOS_FRAMEWORK_ID"; pwd`}
	task.Command.Environment = &mesos.Environment{Variables: []*mesos.Environment_Variable{
		{Name: proto.String("FOO"), Value: proto.String("bar")},
		{Name: proto.String("MESOS_FRAMEWORK_ID"), Value: proto.String("overridden")},
		{Name: proto.String("SECRETIVE"), Type: mesos.Environment_Variable_SECRET.Enum()},
	}}
	h.send(t, executortest.Launch(task))
	h.agent.WaitUpdate(t, timeout, 1, mesos.TaskState_TASK_FINISHED)
	h.waitExit(t)
	out, _ := os.ReadFile(filepath.Join(h.sandbox, "stdout"))
	want := "my-sh bar executor-1 overridden\n" + h.sandbox + "\n"
	if string(out) != want {
		t.Errorf("stdout = %q, want %q", out, want)
	}
}

func TestExecWithoutArguments(t *testing.T) {
	h := start(t, nil)
	task := executortest.Task("t1", "true")
	task.Command.Shell = proto.Bool(false)
	h.send(t, executortest.Launch(task))
	h.agent.WaitUpdate(t, timeout, 1, mesos.TaskState_TASK_FINISHED)
	h.waitExit(t)
}

func TestMissingProgramFails(t *testing.T) {
	h := start(t, nil)
	task := executortest.Task("t1", "/nonexistent/program")
	task.Command.Shell = proto.Bool(false)
	h.send(t, executortest.Launch(task))
	st := h.agent.WaitUpdate(t, timeout, 1, mesos.TaskState_TASK_FAILED)
	if !strings.Contains(st.GetMessage(), "Failed to launch command") {
		t.Errorf("message = %q", st.GetMessage())
	}
	h.waitExit(t)
}

// waitGroupGone polls until the process group pgid has no member left.
func waitGroupGone(t *testing.T, pgid int) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Kill(-pgid, 0)
		if errors.Is(err, syscall.ESRCH) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process group %d still alive: %v", pgid, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestKill(t *testing.T) {
	h := start(t, nil)
	h.send(t, executortest.Launch(executortest.Task("t1", "sleep 60")))
	running := h.agent.WaitUpdate(t, timeout, 1, mesos.TaskState_TASK_RUNNING)
	h.send(t, executortest.Kill("t1", -1))
	st := h.agent.WaitUpdate(t, timeout, 1, mesos.TaskState_TASK_KILLED)
	if !strings.HasPrefix(st.GetMessage(), "Command terminated with signal") {
		t.Errorf("message = %q", st.GetMessage())
	}
	waitGroupGone(t, int(running.GetContainerStatus().GetExecutorPid()))
	if code := h.waitExit(t); code != 0 {
		t.Errorf("Main = %d, want 0", code)
	}
	// No TASK_KILLING: the framework lacks TASK_KILLING_STATE.
	wantStates(t, h, "TASK_STARTING", "TASK_RUNNING", "TASK_KILLED")
}

func TestKillEscalatesAfterGrace(t *testing.T) {
	h := start(t, nil, mesos.FrameworkInfo_Capability_TASK_KILLING_STATE)
	h.send(t, executortest.Launch(executortest.Task("t1", "trap '' TERM; echo trapped; sleep 60 & sleep 60; wait")))
	running := h.agent.WaitUpdate(t, timeout, 1, mesos.TaskState_TASK_RUNNING)
	// Kill only once the shell ignores SIGTERM, or SIGTERM alone ends it.
	waitStdout(t, h, "trapped")
	h.send(t, executortest.Kill("t1", 200*time.Millisecond))
	st := h.agent.WaitUpdate(t, timeout, 1, mesos.TaskState_TASK_KILLED)
	if st.GetMessage() != "Command terminated with signal Killed" {
		t.Errorf("message = %q", st.GetMessage())
	}
	waitGroupGone(t, int(running.GetContainerStatus().GetExecutorPid()))
	h.waitExit(t)
	wantStates(t, h, "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING", "TASK_KILLED")
}

func TestTaskKillPolicy(t *testing.T) {
	h := start(t, nil)
	task := executortest.Task("t1", "trap '' TERM; echo trapped; sleep 60")
	task.KillPolicy = &mesos.KillPolicy{GracePeriod: &mesos.DurationInfo{Nanoseconds: proto.Int64(int64(100 * time.Millisecond))}}
	h.send(t, executortest.Launch(task))
	h.agent.WaitUpdate(t, timeout, 1, mesos.TaskState_TASK_RUNNING)
	waitStdout(t, h, "trapped")
	start := time.Now()
	h.send(t, executortest.Kill("t1", -1))
	h.agent.WaitUpdate(t, timeout, 1, mesos.TaskState_TASK_KILLED)
	// The task's 100ms policy applies, not the 3s default.
	if d := time.Since(start); d > DefaultKillGracePeriod {
		t.Errorf("kill took %v", d)
	}
	h.waitExit(t)
}

func TestShutdownKillsTask(t *testing.T) {
	h := start(t, map[string]string{"MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD": "1secs"})
	h.send(t, executortest.Launch(executortest.Task("t1", "sleep 60")))
	running := h.agent.WaitUpdate(t, timeout, 1, mesos.TaskState_TASK_RUNNING)
	h.send(t, executortest.Shutdown())
	h.agent.WaitUpdate(t, timeout, 1, mesos.TaskState_TASK_KILLED)
	if code := h.waitExit(t); code != 0 {
		t.Errorf("Main = %d, want 0", code)
	}
	waitGroupGone(t, int(running.GetContainerStatus().GetExecutorPid()))
}

func TestShutdownWithoutTask(t *testing.T) {
	h := start(t, nil)
	h.send(t, executortest.Shutdown())
	if code := h.waitExit(t); code != 0 {
		t.Errorf("Main = %d, want 0", code)
	}
}

func TestSecondTaskAndGroupRefused(t *testing.T) {
	h := start(t, nil)
	h.send(t, executortest.Launch(executortest.Task("t1", "sleep 60")))
	h.agent.WaitUpdate(t, timeout, 1, mesos.TaskState_TASK_RUNNING)
	h.send(t, executortest.Launch(executortest.Task("t2", "true")))
	st := h.agent.WaitUpdate(t, timeout, 1, mesos.TaskState_TASK_FAILED)
	if st.GetTaskId().GetValue() != "t2" || !strings.Contains(st.GetMessage(), "multiple tasks") {
		t.Errorf("second task: %v", st)
	}
	h.send(t, &executorpb.Event{
		Type: executorpb.Event_LAUNCH_GROUP.Enum(),
		LaunchGroup: &executorpb.Event_LaunchGroup{TaskGroup: &mesos.TaskGroupInfo{
			Tasks: []*mesos.TaskInfo{executortest.Task("g1", "true")},
		}},
	})
	st = h.agent.WaitUpdate(t, timeout, 1, mesos.TaskState_TASK_ERROR)
	if st.GetTaskId().GetValue() != "g1" {
		t.Errorf("group task: %v", st)
	}
	h.send(t, executortest.Kill("t1", 0))
	h.agent.WaitUpdate(t, timeout, 1, mesos.TaskState_TASK_KILLED)
	h.waitExit(t)
}

func TestBadEnvironment(t *testing.T) {
	code := Main(context.Background(), func(string) string { return "" }, nil)
	if code != 1 {
		t.Errorf("Main = %d, want 1", code)
	}
}

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"A=1", "B=2", "TOKEN=x"}, []string{"B=3", "C=4"}, []string{"TOKEN"})
	if strings.Join(got, ",") != "A=1,B=3,C=4" {
		t.Errorf("mergeEnv = %v", got)
	}
}

// waitStdout waits until the task's stdout contains want.
func waitStdout(t *testing.T, h *harness, want string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out, _ := os.ReadFile(filepath.Join(h.sandbox, "stdout"))
		if strings.Contains(string(out), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stdout never contained %q (got %q)", want, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestKillRightAfterLaunch(t *testing.T) {
	h := start(t, nil)
	// LaunchTask runs apart from the event loop, so the KILL may be seen
	// before or after the command started; either way the task ends
	// TASK_KILLED and Main exits.
	h.send(t, executortest.Launch(executortest.Task("t1", "sleep 60")))
	h.send(t, executortest.Kill("t1", 0))
	h.agent.WaitUpdate(t, timeout, 1, mesos.TaskState_TASK_KILLED)
	if code := h.waitExit(t); code != 0 {
		t.Errorf("Main = %d, want 0", code)
	}
	for _, st := range h.agent.Updates() {
		if pid := st.GetContainerStatus().GetExecutorPid(); pid != 0 {
			waitGroupGone(t, int(pid))
		}
	}
}

func TestDisconnectKillsTask(t *testing.T) {
	h := start(t, nil)
	h.send(t, executortest.Launch(executortest.Task("t1", "sleep 60")))
	running := h.agent.WaitUpdate(t, timeout, 1, mesos.TaskState_TASK_RUNNING)
	h.agent.CloseStream() // not checkpointing: the executor exits
	if code := h.waitExit(t); code != 1 {
		t.Errorf("Main = %d, want 1", code)
	}
	waitGroupGone(t, int(running.GetContainerStatus().GetExecutorPid()))
}
