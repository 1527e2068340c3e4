package e2e

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestAgentRecovery kills an agent with SIGKILL while a checkpointing
// framework's task runs, restarts it on the same work_dir and port, and
// checks that the task kept running, is reported by the recovered agent,
// and finishes with TASK_FINISHED seen by the framework.
func TestAgentRecovery(t *testing.T) {
	master, _ := cluster(t, 0)
	work := t.TempDir()
	port := strconv.Itoa(freePort(t))
	args := []string{"agent", "--master=" + master, "--port=" + port, "--work_dir=" + filepath.Join(work, "agent"),
		"--resources=cpus:2;mem:1024;disk:2048;ports:[31000-31099]"}
	agent := start(t, args...)
	agentAddr := agent.waitListening(t)

	s := subscribe(t, master, map[string]any{"user": "nobody", "name": "e2e-recovery", "checkpoint": true})
	var agentID string
	offers := s.offersByAgent(1)
	for id := range offers {
		agentID = id
	}
	release := filepath.Join(work, "release")
	// The task runs until the test creates the release file.
	s.mustCall(accept(offers[agentID], commandTask("rec-1", agentID,
		"while [ ! -e "+release+" ]; do sleep 0.05; done; echo released")))
	s.updates(30*time.Second, func(seen map[string][]string) bool { return last(seen["rec-1"]) == "TASK_RUNNING" })

	// Crash the agent.
	if err := agent.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-agent.done

	restarted := start(t, args...)
	if addr := restarted.waitListening(t); addr != agentAddr {
		t.Fatalf("restarted agent on %s, want %s", addr, agentAddr)
	}
	waitFor(t, 30*time.Second, "the recovered executor to re-subscribe", func() bool {
		var st struct {
			GetState struct {
				GetTasks struct {
					LaunchedTasks []struct {
						TaskID struct{ Value string } `json:"task_id"`
						State  string
					} `json:"launched_tasks"`
				} `json:"get_tasks"`
			} `json:"get_state"`
		}
		agentOperatorQuery(t, agentAddr, "GET_STATE", &st)
		lt := st.GetState.GetTasks.LaunchedTasks
		return len(lt) == 1 && lt[0].TaskID.Value == "rec-1" && lt[0].State == "TASK_RUNNING" &&
			strings.Contains(restarted.output(), "executor subscribed")
	})
	var ms struct {
		Slaves []struct {
			ID     string
			Active bool
		}
	}
	waitFor(t, 20*time.Second, "the agent to re-subscribe with its id", func() bool {
		return getJSON(t, "http://"+master+"/master/state", &ms) == nil && len(ms.Slaves) == 1 &&
			ms.Slaves[0].ID == agentID && ms.Slaves[0].Active
	})

	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// Updates are delivered at least once: one the framework acknowledged
	// just before the crash may come again (say TASK_STARTING) before the
	// task's end. Wait for a terminal state.
	seen := s.updates(30*time.Second, func(seen map[string][]string) bool {
		l := last(seen["rec-1"])
		for _, p := range []string{"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR", "TASK_DROPPED", "TASK_GONE"} {
			if strings.HasPrefix(l, p) {
				return true
			}
		}
		return false
	})
	if got := last(seen["rec-1"]); !strings.HasPrefix(got, "TASK_FINISHED") {
		t.Fatalf("task ended %q after the agent restart, want TASK_FINISHED (updates %v)\nagent output:\n%s",
			got, seen["rec-1"], restarted.output())
	}
}

// TestAgentRecoveryExecutorGone kills the agent and then its executor's
// process group: the restarted agent finds the executor gone and the
// framework learns that its task is TASK_LOST.
func TestAgentRecoveryExecutorGone(t *testing.T) {
	master, _ := cluster(t, 0)
	work := t.TempDir()
	port := strconv.Itoa(freePort(t))
	args := []string{"agent", "--master=" + master, "--port=" + port, "--work_dir=" + filepath.Join(work, "agent"),
		"--resources=cpus:2;mem:1024;disk:2048;ports:[31000-31099]"}
	agent := start(t, args...)
	agentAddr := agent.waitListening(t)

	s := subscribe(t, master, map[string]any{"user": "nobody", "name": "e2e-recovery-gone", "checkpoint": true})
	var agentID string
	offers := s.offersByAgent(1)
	for id := range offers {
		agentID = id
	}
	s.mustCall(accept(offers[agentID], commandTask("gone-1", agentID, "sleep 600")))
	s.updates(30*time.Second, func(seen map[string][]string) bool { return last(seen["gone-1"]) == "TASK_RUNNING" })
	var cs struct {
		GetContainers struct {
			Containers []struct {
				ContainerStatus struct {
					ExecutorPID int `json:"executor_pid"`
				} `json:"container_status"`
			}
		} `json:"get_containers"`
	}
	agentOperatorQuery(t, agentAddr, "GET_CONTAINERS", &cs)
	if len(cs.GetContainers.Containers) != 1 || cs.GetContainers.Containers[0].ContainerStatus.ExecutorPID <= 0 {
		t.Fatalf("GET_CONTAINERS = %+v", cs)
	}
	pid := cs.GetContainers.Containers[0].ContainerStatus.ExecutorPID

	if err := agent.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-agent.done
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	waitFor(t, 10*time.Second, "the executor to die", func() bool { return syscall.Kill(pid, 0) != nil })

	restarted := start(t, args...)
	restarted.waitListening(t)
	// The master reports the task lost when the agent re-subscribes
	// without it; the agent's own update follows (and is acknowledged).
	const fromAgent = "TASK_LOST: Executor was not running when the agent recovered after a restart"
	seen := s.updates(30*time.Second, func(seen map[string][]string) bool {
		for _, st := range seen["gone-1"] {
			if st == fromAgent {
				return true
			}
		}
		return false
	})
	for _, st := range seen["gone-1"] {
		if !strings.HasPrefix(st, "TASK_LOST") {
			t.Errorf("task update %q after its executor died with the agent, want TASK_LOST", st)
		}
	}
	waitFor(t, 20*time.Second, "the agent to report the task completed", func() bool {
		var st struct {
			GetState struct {
				GetTasks struct {
					CompletedTasks []struct{ State string } `json:"completed_tasks"`
				} `json:"get_tasks"`
			} `json:"get_state"`
		}
		agentOperatorQuery(t, agentAddr, "GET_STATE", &st)
		c := st.GetState.GetTasks.CompletedTasks
		return len(c) == 1 && c[0].State == "TASK_LOST"
	})
}
