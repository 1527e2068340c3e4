package agent

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"google.golang.org/protobuf/proto"
)

// groupEvent is RUN_TASK for a task group on the default executor execID.
func groupEvent(fw, execID string, tasks ...*mesos.TaskInfo) *agentpb.Event {
	ev := runTaskEvent(fw, nil)
	ev.RunTask.ExecutorInfo = &mesos.ExecutorInfo{
		ExecutorId:  &mesos.ExecutorID{Value: proto.String(execID)},
		FrameworkId: &mesos.FrameworkID{Value: proto.String(fw)},
		Type:        mesos.ExecutorInfo_DEFAULT.Enum(),
	}
	ev.RunTask.TaskGroup = &mesos.TaskGroupInfo{Tasks: tasks}
	return ev
}

func killEvent(fw, taskID string) *agentpb.Event {
	return &agentpb.Event{Type: agentpb.Event_KILL_TASK.Enum(), KillTask: &agentpb.Event_KillTask{
		FrameworkId: &mesos.FrameworkID{Value: proto.String(fw)}, TaskId: &mesos.TaskID{Value: proto.String(taskID)}}}
}

// executorSandbox finds the run directory of an executor under work_dir.
func executorSandbox(t *testing.T, a *testAgent, fw, execID string) string {
	t.Helper()
	var dir string
	waitFor(t, 10*time.Second, "sandbox of "+execID, func() bool {
		m, _ := filepath.Glob(filepath.Join(a.cfg.WorkDir, "slaves", "*", "frameworks", fw, "executors", execID, "runs", "latest"))
		if len(m) == 0 {
			return false
		}
		d, err := filepath.EvalSymlinks(m[0])
		dir = d
		return err == nil
	})
	return dir
}

func TestTaskGroupFinishes(t *testing.T) {
	t.Parallel()
	m := newFakeMaster(t)
	a := startAgent(t, m, nil)
	m.send(groupEvent("fw1", "def1", commandTask("a", `echo out-a; echo "sandbox=$MESOS_SANDBOX"`), commandTask("b", "echo out-b >&2")))
	for _, id := range []string{"a", "b"} {
		m.waitState(t, id, mesos.TaskState_TASK_RUNNING)
		u := m.waitState(t, id, mesos.TaskState_TASK_FINISHED)
		if u.GetStatus().GetExecutorId().GetValue() != "def1" {
			t.Errorf("%s: executor id %q", id, u.GetStatus().GetExecutorId().GetValue())
		}
	}
	// Each task has its own sub-sandbox with its output.
	dir := executorSandbox(t, a, "fw1", "def1")
	out, err := os.ReadFile(filepath.Join(dir, "tasks", "a", "stdout"))
	if err != nil || !strings.Contains(string(out), "out-a") ||
		!strings.Contains(string(out), "sandbox="+filepath.Join(dir, "tasks", "a")) {
		t.Errorf("tasks/a/stdout = %q, %v", out, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "tasks", "b", "stderr")); err != nil || !strings.Contains(string(b), "out-b") {
		t.Errorf("tasks/b/stderr = %q, %v", b, err)
	}
	// With every task over and acknowledged, the executor exits.
	waitFor(t, 20*time.Second, "EXECUTOR_EXITED", func() bool { return len(m.callsOf(agentpb.Call_EXECUTOR_EXITED)) > 0 })
	ee := m.callsOf(agentpb.Call_EXECUTOR_EXITED)[0].GetExecutorExited()
	if ee.GetExecutorId().GetValue() != "def1" || ee.GetCommandExecutor() || ee.GetStatus() != 0 {
		t.Errorf("EXECUTOR_EXITED = %v", ee)
	}
}

func TestTaskGroupMemberFailureKillsTheOthers(t *testing.T) {
	t.Parallel()
	m := newFakeMaster(t)
	startAgent(t, m, nil)
	m.send(groupEvent("fw1", "def2", commandTask("fails", "sleep 0.2; exit 2"), commandTask("sleeps", "sleep 60")))
	u := m.waitState(t, "fails", mesos.TaskState_TASK_FAILED)
	if msg := u.GetStatus().GetMessage(); msg != "Command exited with status 2" {
		t.Errorf("message %q", msg)
	}
	m.waitState(t, "sleeps", mesos.TaskState_TASK_KILLED)
	for _, u := range m.updates("sleeps") {
		if u.GetStatus().GetState() == mesos.TaskState_TASK_FAILED || u.GetStatus().GetState() == mesos.TaskState_TASK_FINISHED {
			t.Errorf("sleeps got %s", u.GetStatus().GetState())
		}
	}
	waitFor(t, 20*time.Second, "EXECUTOR_EXITED", func() bool { return len(m.callsOf(agentpb.Call_EXECUTOR_EXITED)) > 0 })
}

func TestTaskGroupKillAndExecutorReuse(t *testing.T) {
	t.Parallel()
	m := newFakeMaster(t)
	a := startAgent(t, m, nil)
	m.send(groupEvent("fw1", "def3", commandTask("k1", "sleep 60"), commandTask("k2", "sleep 60")))
	r1 := m.waitState(t, "k1", mesos.TaskState_TASK_RUNNING)
	m.waitState(t, "k2", mesos.TaskState_TASK_RUNNING)
	marker := containerMarker(t, a, "fw1", "def3")

	// A second group for the running executor goes to the same process.
	m.send(groupEvent("fw1", "def3", commandTask("k3", "sleep 60")))
	r3 := m.waitState(t, "k3", mesos.TaskState_TASK_RUNNING)
	c1 := r1.GetStatus().GetContainerStatus().GetContainerId().GetValue()
	if c3 := r3.GetStatus().GetContainerStatus().GetContainerId().GetValue(); c1 == "" || c1 != c3 {
		t.Errorf("second group ran in container %q, first in %q", c3, c1)
	}
	if n := len(processesWith(marker)); n < 4 {
		t.Errorf("%d processes in the container, want the executor and 3 tasks", n)
	}

	// Killing one task kills its whole group, not the other group.
	m.send(killEvent("fw1", "k2"))
	m.waitState(t, "k1", mesos.TaskState_TASK_KILLED)
	m.waitState(t, "k2", mesos.TaskState_TASK_KILLED)
	for _, u := range m.updates("k3") {
		if mesos.IsTerminal(u.GetStatus().GetState()) {
			t.Fatalf("k3 of the other group ended %s", u.GetStatus().GetState())
		}
	}
	m.send(killEvent("fw1", "k3"))
	m.waitState(t, "k3", mesos.TaskState_TASK_KILLED)
	waitFor(t, 20*time.Second, "no process left", func() bool { return len(processesWith(marker)) == 0 })
}

func TestCommandHealthCheckKillsUnhealthyTask(t *testing.T) {
	t.Parallel()
	m := newFakeMaster(t)
	startAgent(t, m, nil)
	ti := commandTask("sick", "sleep 60")
	ti.HealthCheck = &mesos.HealthCheck{
		Type:                mesos.HealthCheck_COMMAND.Enum(),
		Command:             &mesos.CommandInfo{Value: proto.String("exit 1")},
		DelaySeconds:        proto.Float64(0),
		IntervalSeconds:     proto.Float64(0.05),
		GracePeriodSeconds:  proto.Float64(0),
		ConsecutiveFailures: proto.Uint32(2),
	}
	m.send(runTaskEvent("fw1", ti))
	final := m.waitState(t, "sick", mesos.TaskState_TASK_KILLED)
	if final.GetStatus().Healthy == nil || final.GetStatus().GetHealthy() {
		t.Errorf("final status %v, want healthy false", final.GetStatus())
	}
	if !strings.Contains(final.GetStatus().GetMessage(), "health check failed") {
		t.Errorf("final message %q", final.GetStatus().GetMessage())
	}
	var unhealthy *mesos.TaskStatus
	for _, u := range m.updates("sick") {
		st := u.GetStatus()
		if st.GetState() == mesos.TaskState_TASK_RUNNING && st.Healthy != nil && !st.GetHealthy() {
			unhealthy = st
			break
		}
	}
	if unhealthy == nil || unhealthy.GetReason() != mesos.TaskStatus_REASON_TASK_HEALTH_CHECK_STATUS_UPDATED {
		t.Fatalf("no TASK_RUNNING healthy:false update with REASON_TASK_HEALTH_CHECK_STATUS_UPDATED: %v", unhealthy)
	}
}

func TestHTTPHealthCheckTurnsHealthy(t *testing.T) {
	t.Parallel()
	var ready atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port

	m := newFakeMaster(t)
	startAgent(t, m, nil)
	hc := &mesos.HealthCheck{
		Type:                mesos.HealthCheck_HTTP.Enum(),
		Http:                &mesos.HealthCheck_HTTPCheckInfo{Port: proto.Uint32(uint32(port)), Path: proto.String("/ready")},
		DelaySeconds:        proto.Float64(0),
		IntervalSeconds:     proto.Float64(0.05),
		GracePeriodSeconds:  proto.Float64(0),
		ConsecutiveFailures: proto.Uint32(1000),
	}
	// Both executors: a command task and a task of a group.
	single := commandTask("web", "sleep 60")
	single.HealthCheck = hc
	member := commandTask("gweb", "sleep 60")
	member.HealthCheck = hc
	m.send(runTaskEvent("fw1", single))
	m.send(groupEvent("fw1", "defh", member))
	for _, id := range []string{"web", "gweb"} {
		healthUpdate(t, m, id, false)
	}
	ready.Store(true)
	for _, id := range []string{"web", "gweb"} {
		healthUpdate(t, m, id, true)
		m.send(killEvent("fw1", id))
		m.waitState(t, id, mesos.TaskState_TASK_KILLED)
	}
}

// healthUpdate waits for a TASK_RUNNING update of the task with the given
// health, acknowledging updates as they come.
func healthUpdate(t *testing.T, m *fakeMaster, taskID string, healthy bool) {
	t.Helper()
	acked := map[string]bool{}
	waitFor(t, 20*time.Second, "health update of "+taskID, func() bool {
		for _, u := range m.updates(taskID) {
			if k := string(u.GetStatus().GetUuid()); !acked[k] {
				acked[k] = true
				m.ack(u)
			}
			st := u.GetStatus()
			if st.GetState() == mesos.TaskState_TASK_RUNNING && st.Healthy != nil && st.GetHealthy() == healthy &&
				st.GetReason() == mesos.TaskStatus_REASON_TASK_HEALTH_CHECK_STATUS_UPDATED {
				return true
			}
		}
		return false
	})
}
