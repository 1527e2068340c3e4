package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHARecoveredAgentMarkedUnreachable: an agent the registry admitted
// that does not come back within --agent_reregister_timeout after a
// failover is marked unreachable by the new leader; the framework learns
// it by reconciliation (TASK_LOST with unreachable_time), and the task
// never comes back when the agent does.
func TestHARecoveredAgentMarkedUnreachable(t *testing.T) {
	// A ping budget long enough that the old leader does not mark the
	// paused agent unreachable itself before it is killed.
	c := startHA(t, 3, 2, "--max_agent_ping_timeouts=40")
	f := newHAFramework(t, c.addrs, "recovery", false)
	agent := haLaunch(t, f, "", "r0")
	victim := c.agentProc(agent)
	_ = victim.cmd.Process.Signal(syscall.SIGSTOP)
	resumed := false
	defer func() {
		if !resumed {
			_ = victim.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	l := c.leader()
	c.kill9(l)
	nl := c.waitLeader(15 * time.Second)
	// Until the window (4s here) ends, the task on the recovering agent
	// gets no answer; then it is lost.
	reconcile := func() {
		f.call(map[string]any{"type": "RECONCILE", "reconcile": map[string]any{"tasks": []any{map[string]any{
			"task_id": map[string]any{"value": "r0"}, "agent_id": map[string]any{"value": agent}}}}})
	}
	waitFor(t, 30*time.Second, "reconciliation to answer TASK_LOST after the window", func() bool {
		reconcile()
		time.Sleep(200 * time.Millisecond)
		return f.lastState("r0") == "TASK_LOST"
	})
	var snap map[string]float64
	if err := getJSON(t, "http://"+c.addrs[nl]+"/metrics/snapshot", &snap); err != nil || snap["master/recovery_slave_removals"] != 1 {
		t.Errorf("master/recovery_slave_removals = %v (%v), want 1", snap["master/recovery_slave_removals"], err)
	}
	_ = victim.cmd.Process.Signal(syscall.SIGCONT)
	resumed = true
	c.waitAgents(2, 30*time.Second)
	// The task is killed on the agent that came back; the framework hears
	// nothing but TASK_LOST of it.
	waitTaskGone(t, victim.waitListening(t), "r0")
	before := len(f.states("r0"))
	reconcile()
	waitFor(t, 10*time.Second, "a reconciliation answer", func() bool { return len(f.states("r0")) > before })
	f.checkNoResurrection()
	if t.Failed() {
		t.Log(f.dump())
	}
}

// TestHARecoveryRemovalLimit: with --recovery_agent_removal_limit=0%, a
// new leader whose registry's agents did not all come back within the
// window exits with Mesos's message instead of marking them unreachable.
func TestHARecoveryRemovalLimit(t *testing.T) {
	c := startHA(t, 3, 1, "--recovery_agent_removal_limit=0%", "--max_agent_ping_timeouts=40")
	_ = c.agents[0].cmd.Process.Signal(syscall.SIGSTOP)
	defer func() { _ = c.agents[0].cmd.Process.Signal(syscall.SIGCONT) }()
	l := c.leader()
	c.kill9(l)
	c.waitLeader(15 * time.Second)
	// Whichever master leads when the window ends exits.
	var p *proc
	var pi int
	waitFor(t, 30*time.Second, "a leader to exit after the window", func() bool {
		for i, m := range c.masters {
			if m == nil {
				continue
			}
			select {
			case <-m.done:
				p, pi = m, i
				return true
			default:
			}
		}
		return false
	})
	if code := p.cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if out := p.output(); !strings.Contains(out, "Post-recovery agent removal limit exceeded") ||
		!strings.Contains(out, "The configured removal limit is 0%") {
		t.Errorf("the master's output does not say why it exited:\n%s", out)
	}
	c.masters[pi] = nil
}
