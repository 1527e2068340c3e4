package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/internal/isolation"
	"github.com/agora-dev/agora/internal/testutil"
	"google.golang.org/protobuf/proto"
)

// startCgroupAgent starts an agent with --isolation=cgroups, skipping the
// test when the machine has no writable cgroups.
func startCgroupAgent(t *testing.T, m *fakeMaster) *testAgent {
	t.Helper()
	_, err := isolation.New(isolation.Cgroups)
	testutil.Require(t, "cgroups", err == nil, fmt.Sprintf("not writable on this machine: %v", err))
	return startAgent(t, m, func(c *Config) { c.Isolation = "cgroups" })
}

func scalarRes(name string, v float64) *mesos.Resource {
	return &mesos.Resource{Name: proto.String(name), Type: mesos.Value_SCALAR.Enum(),
		Scalar: &mesos.Value_Scalar{Value: proto.Float64(v)}}
}

// containerOf returns the container of a live executor, read on the loop.
func containerOf(t *testing.T, a *testAgent, fw, exec string) (cid string, c isolation.Container) {
	t.Helper()
	waitFor(t, 10*time.Second, "container of executor "+exec, func() bool {
		a.do(context.Background(), func() {
			if f := a.st.frameworks[fw]; f != nil {
				if e := f.executors[exec]; e != nil && e.container != nil {
					cid, c = e.containerID, e.container
				}
			}
		})
		return c != nil
	})
	return cid, c
}

// TestMemoryLimitation: a task using more memory than its mem ends
// TASK_FAILED with REASON_CONTAINER_LIMITATION_MEMORY, and its cgroups go.
func TestMemoryLimitation(t *testing.T) {
	t.Parallel()
	m := newFakeMaster(t)
	a := startCgroupAgent(t, m)
	// tail holds the whole newline-free input in memory: 200 MB.
	ti := commandTask("hog", "head -c 200M /dev/zero | tail")
	ti.Resources = append(ti.Resources, scalarRes("mem", 32))
	m.send(runTaskEvent("fw1", ti))
	cid, _ := containerOf(t, a, "fw1", "hog")
	u := m.waitState(t, "hog", mesos.TaskState_TASK_FAILED)
	st := u.GetStatus()
	if st.GetReason() != mesos.TaskStatus_REASON_CONTAINER_LIMITATION_MEMORY || st.GetSource() != mesos.TaskStatus_SOURCE_AGENT {
		t.Fatalf("status %v, want REASON_CONTAINER_LIMITATION_MEMORY from SOURCE_AGENT", st)
	}
	// 32 MB for the task and 32 MB for the command executor.
	if !strings.HasPrefix(st.GetMessage(), "Memory limit exceeded: Requested: 64MB Maximum Used: ") {
		t.Errorf("message %q", st.GetMessage())
	}
	lim := st.GetLimitation().GetResources()
	if len(lim) != 1 || lim[0].GetName() != "mem" || lim[0].GetScalar().GetValue() <= 0 {
		t.Errorf("limitation %v", st.GetLimitation())
	}
	waitFor(t, 10*time.Second, "container cgroups removed", func() bool { return a.iso.Recover(cid) == nil })
}

// TestMemoryLimitationOfAChild: the OOM killer takes a child of the task
// and the task goes on; the agent, told by the kernel, destroys the whole
// container at once and reports the limitation (the task would otherwise
// sleep for five minutes).
func TestMemoryLimitationOfAChild(t *testing.T) {
	t.Parallel()
	m := newFakeMaster(t)
	startCgroupAgent(t, m)
	ti := commandTask("hog-child", "head -c 200M /dev/zero | tail; exec sleep 300")
	ti.Resources = append(ti.Resources, scalarRes("mem", 32))
	start := time.Now()
	m.send(runTaskEvent("fw1", ti))
	u := m.waitState(t, "hog-child", mesos.TaskState_TASK_FAILED)
	if r := u.GetStatus().GetReason(); r != mesos.TaskStatus_REASON_CONTAINER_LIMITATION_MEMORY {
		t.Fatalf("reason %v, want REASON_CONTAINER_LIMITATION_MEMORY", r)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("container destroyed %v after the launch", d)
	}
}

// TestKillTaskKillsEscapedDaemon: a task that double-forks a process into
// a session of its own, with a scrubbed environment and another working
// directory (invisible to the /proc sweep), loses it when killed.
func TestKillTaskKillsEscapedDaemon(t *testing.T) {
	t.Parallel()
	m := newFakeMaster(t)
	a := startCgroupAgent(t, m)
	arg := fmt.Sprintf("%d.%d", 40000+os.Getpid()%10000, time.Now().UnixNano()%1000)
	ti := commandTask("d1", "(cd / && setsid env -i sleep "+arg+" </dev/null >/dev/null 2>&1 &) ; exec sleep 300")
	ti.Resources = append(ti.Resources, scalarRes("mem", 64))
	m.send(runTaskEvent("fw1", ti))
	m.waitState(t, "d1", mesos.TaskState_TASK_RUNNING)
	cid, _ := containerOf(t, a, "fw1", "d1")
	waitFor(t, 10*time.Second, "the daemon", func() bool { return len(processesWithArg(arg)) == 1 })

	m.send(&agentpb.Event{Type: agentpb.Event_KILL_TASK.Enum(), KillTask: &agentpb.Event_KillTask{
		FrameworkId: &mesos.FrameworkID{Value: proto.String("fw1")}, TaskId: &mesos.TaskID{Value: proto.String("d1")},
	}})
	m.waitState(t, "d1", mesos.TaskState_TASK_KILLED)
	waitFor(t, 20*time.Second, "container cgroups removed", func() bool { return a.iso.Recover(cid) == nil })
	// The cgroups are removed only once empty: nothing can be left.
	if p := processesWithArg(arg); len(p) > 0 {
		t.Fatalf("daemon survives the container: %v", p)
	}
}

// TestContainerResizedForNewTask: a task joining a running executor
// raises its container's memory limit.
func TestContainerResizedForNewTask(t *testing.T) {
	t.Parallel()
	m := newFakeMaster(t)
	a := startCgroupAgent(t, m)
	env := []*mesos.Environment_Variable{{Name: proto.String("AGORA_TEST_EXEC"), Value: proto.String("custom")}}
	t1 := customTask("r1", "ex", os.Args[0], env)
	t1.Executor.Resources = []*mesos.Resource{scalarRes("mem", 32), scalarRes("cpus", 0.1)}
	t1.Resources = []*mesos.Resource{scalarRes("mem", 64), scalarRes("cpus", 0.5)}
	m.send(runTaskEvent("fw1", t1))
	m.waitState(t, "r1", mesos.TaskState_TASK_RUNNING)
	_, c := containerOf(t, a, "fw1", "ex")
	if limit, _ := c.Memory(); limit != 96<<20 {
		t.Fatalf("limit %d MB, want 96", limit>>20)
	}
	t2 := customTask("r2", "ex", os.Args[0], env)
	t2.Executor.Resources = t1.Executor.Resources
	t2.Resources = []*mesos.Resource{scalarRes("mem", 100)}
	m.send(runTaskEvent("fw1", t2))
	m.waitState(t, "r2", mesos.TaskState_TASK_RUNNING)
	if limit, _ := c.Memory(); limit != 196<<20 {
		t.Fatalf("limit %d MB after the second task, want 196", limit>>20)
	}
}

// TestPosixIsolation: without cgroups the executor gets the posix
// rlimits.
func TestPosixIsolation(t *testing.T) {
	t.Parallel()
	m := newFakeMaster(t)
	a := startAgent(t, m, func(c *Config) { c.Isolation = "posix" })
	if a.iso.Name() != "posix" {
		t.Fatalf("isolator %s", a.iso.Name())
	}
	m.send(runTaskEvent("fw1", commandTask("p1", "ulimit -n; ulimit -c")))
	m.waitState(t, "p1", mesos.TaskState_TASK_FINISHED)
	var out []byte
	waitFor(t, 10*time.Second, "task output", func() bool {
		matches, _ := filepath.Glob(filepath.Join(a.cfg.WorkDir, "slaves", "*", "frameworks", "fw1", "executors", "p1", "runs", "latest", "stdout"))
		if len(matches) == 1 {
			out, _ = os.ReadFile(matches[0])
		}
		return len(strings.Fields(string(out))) >= 2
	})
	f := strings.Fields(string(out))
	var nofile syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &nofile); err != nil {
		t.Fatal(err)
	}
	if f[len(f)-2] != fmt.Sprint(min(isolation.NoFile, nofile.Max)) || f[len(f)-1] != "0" {
		t.Errorf("ulimits in task: %q", out)
	}
}

// processesWithArg lists live processes with arg in their command line.
func processesWithArg(arg string) []string {
	var pids []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(b), "\x00"+arg) {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil {
			if f := strings.Fields(string(stat)); len(f) > 2 && f[2] == "Z" {
				continue
			}
		}
		pids = append(pids, e.Name())
	}
	return pids
}

// TestNoProcessOutsideContainer: the very first thing a container's
// processes do is read their own memory cgroup, and it is always the
// container's: for the command executor's task, for a task of a task
// group (default executor) and for a custom executor's own first command.
// Before the executor was held until it was in its cgroups, a task forked
// before the agent had moved the executor landed in the agent's cgroup;
// run it many times on a normal build (AGORA_E2E_NORACE in make test).
func TestNoProcessOutsideContainer(t *testing.T) {
	t.Parallel()
	m := newFakeMaster(t)
	a := startCgroupAgent(t, m)
	const probe = "grep memory /proc/self/cgroup"
	check := func(what, sandbox, file string) {
		t.Helper()
		var out []byte
		waitFor(t, 20*time.Second, what+" output", func() bool {
			out, _ = os.ReadFile(filepath.Join(sandbox, file))
			return strings.Contains(string(out), "memory:")
		})
		want := "/agora/" + filepath.Base(sandbox) + "\n"
		for line := range strings.Lines(string(out)) {
			if strings.Contains(line, "memory:") && !strings.HasSuffix(line, want) {
				t.Errorf("%s ran outside its container %s: %q", what, filepath.Base(sandbox), line)
			}
		}
	}
	for i := range 8 {
		cmdID, grpID, custID := fmt.Sprintf("c%d", i), fmt.Sprintf("g%d", i), fmt.Sprintf("x%d", i)
		m.send(runTaskEvent("fw1", commandTask(cmdID, probe)))
		m.send(groupEvent("fw1", grpID, commandTask(grpID+"t", probe)))
		m.send(runTaskEvent("fw1", customTask(custID+"t", custID, probe+" > cgroup.txt", nil)))
		check("command task "+cmdID, executorSandbox(t, a, "fw1", cmdID), "stdout")
		check("task group "+grpID, executorSandbox(t, a, "fw1", grpID), filepath.Join("tasks", grpID+"t", "stdout"))
		check("custom executor "+custID, executorSandbox(t, a, "fw1", custID), "cgroup.txt")
		m.waitState(t, cmdID, mesos.TaskState_TASK_FINISHED)
		m.waitState(t, grpID+"t", mesos.TaskState_TASK_FINISHED)
	}
}

// TestMemoryLimitationAfterExitZero: a task whose pipeline loses a
// process to the OOM killer but whose shell then exits 0 still ends
// TASK_FAILED with the memory limitation: the limit hit is the
// container's end.
func TestMemoryLimitationAfterExitZero(t *testing.T) {
	t.Parallel()
	m := newFakeMaster(t)
	startCgroupAgent(t, m)
	for i := range 3 {
		id := fmt.Sprintf("hog%d", i)
		ti := commandTask(id, "head -c 200M /dev/zero | tail | wc -c; exit 0")
		ti.Resources = append(ti.Resources, scalarRes("mem", 32))
		m.send(runTaskEvent("fw1", ti))
		var last *mesos.TaskStatus
		acked := map[string]bool{}
		waitFor(t, 60*time.Second, id+" terminal", func() bool {
			for _, u := range m.updates(id) {
				if k := string(u.GetStatus().GetUuid()); !acked[k] {
					acked[k] = true
					m.ack(u)
				}
				if mesos.IsTerminal(u.GetStatus().GetState()) {
					last = u.GetStatus()
					return true
				}
			}
			return false
		})
		if last.GetState() != mesos.TaskState_TASK_FAILED || last.GetReason() != mesos.TaskStatus_REASON_CONTAINER_LIMITATION_MEMORY ||
			len(last.GetLimitation().GetResources()) != 1 {
			t.Errorf("%s ended %s %s (%q), limitation %v; want TASK_FAILED REASON_CONTAINER_LIMITATION_MEMORY",
				id, last.GetState(), last.GetReason(), last.GetMessage(), last.GetLimitation())
		}
	}
}
