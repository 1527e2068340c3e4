package e2e

import (
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// killMarked kills leftover task processes of a test (an agent killed with
// SIGKILL cannot clean up after itself, as in Mesos without cgroups).
func killMarked(t *testing.T, marker string) {
	t.Cleanup(func() { _ = exec.Command("pkill", "-KILL", "-f", marker).Run() })
}

func sleeperOn(s *jsonScheduler, offers map[string]map[string]any, id, marker string) string {
	for agentID, offer := range offers {
		s.mustCall(accept(offer, commandTask(id, agentID, "sleep 600 # "+marker)))
		return agentID
	}
	return ""
}

// TestAgentLossLosesTasks: an agent that dies is removed after the ping
// budget; its tasks become TASK_LOST (TASK_UNREACHABLE for a
// partition-aware framework) and frameworks get a FAILURE event.
func TestAgentLossLosesTasks(t *testing.T) {
	work := t.TempDir()
	m := start(t, "master", "--port=0", "--agent_ping_timeout=200ms", "--max_agent_ping_timeouts=3")
	master := m.waitListening(t)
	a := start(t, "agent", "--master="+master, "--port=0", "--work_dir="+filepath.Join(work, "agent"),
		"--resources=cpus:2;mem:1024;disk:1024")
	a.waitListening(t)

	marker := fmt.Sprintf("agora-e2e-loss-%d", time.Now().UnixNano())
	killMarked(t, marker)
	plain := subscribe(t, master, map[string]any{"user": "nobody", "name": "plain"})
	pa := subscribe(t, master, map[string]any{"user": "nobody", "name": "partition-aware",
		"capabilities": []any{map[string]any{"type": "PARTITION_AWARE"}}})
	// One framework at a time gets the agent's whole offer; launch a small
	// task from each and decline nothing so both get offers.
	sleeperOn(plain, plain.offersByAgent(1), "t-plain", marker)
	plain.updates(30*time.Second, func(s map[string][]string) bool { return last(s["t-plain"]) == "TASK_RUNNING" })
	sleeperOn(pa, pa.offersByAgent(1), "t-pa", marker)
	pa.updates(30*time.Second, func(s map[string][]string) bool { return last(s["t-pa"]) == "TASK_RUNNING" })

	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	got := plain.updates(30*time.Second, func(s map[string][]string) bool { return len(s["t-plain"]) > 0 })
	if !strings.HasPrefix(got["t-plain"][0], "TASK_LOST") || !strings.Contains(got["t-plain"][0], "removed") {
		t.Errorf("non-partition-aware framework got %v, want TASK_LOST saying the agent was removed", got["t-plain"])
	}
	got = pa.updates(30*time.Second, func(s map[string][]string) bool { return len(s["t-pa"]) > 0 })
	if !strings.HasPrefix(got["t-pa"][0], "TASK_UNREACHABLE") {
		t.Errorf("partition-aware framework got %v, want TASK_UNREACHABLE", got["t-pa"])
	}
	plain.next("FAILURE", 10*time.Second)
}

// TestFrameworkFailover: a re-subscription with the same framework id
// replaces the old stream (which gets ERROR "Framework failed over"); a
// framework that stays away longer than its failover_timeout is removed
// and its tasks are killed.
func TestFrameworkFailover(t *testing.T) {
	master, _ := cluster(t, 1)
	marker := fmt.Sprintf("agora-e2e-failover-%d", time.Now().UnixNano())
	killMarked(t, marker)
	info := map[string]any{"user": "nobody", "name": "failover", "failover_timeout": 1.5}
	s1 := subscribe(t, master, info)
	sleeperOn(s1, s1.offersByAgent(1), "long", marker)
	s1.updates(30*time.Second, func(s map[string][]string) bool { return last(s["long"]) == "TASK_RUNNING" })

	info["id"] = map[string]any{"value": s1.id}
	s2 := subscribe(t, master, info)
	if s2.id != s1.id {
		t.Fatalf("resubscription got framework id %s, want %s", s2.id, s1.id)
	}
	ev := s1.next("ERROR", 10*time.Second)
	if msg := ev["error"].(map[string]any)["message"]; msg != "Framework failed over" {
		t.Errorf("old stream got ERROR %q", msg)
	}
	select {
	case <-s1.streamEnd:
	case <-time.After(10 * time.Second):
		t.Error("old stream was not closed after failover")
	}
	// The task survived the failover.
	s2.mustCall(map[string]any{"type": "RECONCILE", "reconcile": map[string]any{}})
	rec := s2.updates(10*time.Second, func(s map[string][]string) bool { return len(s["long"]) > 0 })
	if rec["long"][0] != "TASK_RUNNING" {
		t.Errorf("after failover the task is %v", rec["long"])
	}
	// Calls with the old stream id are refused.
	if code, _ := s1.call(map[string]any{"type": "REVIVE"}); code != 400 {
		t.Errorf("call with the old stream id: %d, want 400", code)
	}

	// Disconnect for longer than failover_timeout: removed, task killed.
	s2.cancel()
	<-s2.streamEnd
	waitNoProcess(t, marker)
	var st struct {
		CompletedFrameworks []struct{ ID string } `json:"completed_frameworks"`
	}
	waitFor(t, 10*time.Second, "framework removal", func() bool {
		return getJSON(t, "http://"+master+"/master/state", &st) == nil && len(st.CompletedFrameworks) == 1
	})
	// A removed framework cannot come back.
	code, body := rawSubscribe(t, master, info)
	if code != 200 || !strings.Contains(body, "Framework has been removed") {
		t.Errorf("resubscribing a removed framework: %d %q", code, body)
	}
}

// rawSubscribe posts SUBSCRIBE and returns the status and the first record.
func rawSubscribe(t *testing.T, master string, info map[string]any) (int, string) {
	t.Helper()
	resp, err := postJSON("http://"+master+"/api/v1/scheduler", map[string]any{"type": "SUBSCRIBE",
		"framework_id": info["id"], "subscribe": map[string]any{"framework_info": info}})
	if err != nil {
		t.Fatal(err)
	}
	return resp.code, resp.body
}

// TestMasterRestart: agents re-subscribe to a restarted master with their
// running tasks; the framework resubscribes with its id and reconciles.
func TestMasterRestart(t *testing.T) {
	work := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	m := start(t, "master", "--port="+port)
	master := m.waitListening(t)
	a := start(t, "agent", "--master="+master, "--port=0", "--work_dir="+filepath.Join(work, "agent"),
		"--resources=cpus:2;mem:1024;disk:1024")
	a.waitListening(t)
	marker := fmt.Sprintf("agora-e2e-restart-%d", time.Now().UnixNano())
	killMarked(t, marker)
	info := map[string]any{"user": "nobody", "name": "restart", "failover_timeout": 3600.0}
	s := subscribe(t, master, info)
	sleeperOn(s, s.offersByAgent(1), "survivor", marker)
	s.updates(30*time.Second, func(st map[string][]string) bool { return last(st["survivor"]) == "TASK_RUNNING" })

	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	<-m.done
	s.cancel()
	m2 := start(t, "master", "--port="+port)
	m2.waitListening(t)
	waitFor(t, 20*time.Second, "agent to re-subscribe", func() bool {
		var st struct{ Slaves []struct{ Active bool } }
		return getJSON(t, "http://"+master+"/master/state", &st) == nil && len(st.Slaves) == 1 && st.Slaves[0].Active
	})
	info["id"] = map[string]any{"value": s.id}
	s2 := subscribe(t, master, info)
	if s2.id != s.id {
		t.Fatalf("resubscribed with id %s, got %s", s.id, s2.id)
	}
	s2.mustCall(map[string]any{"type": "RECONCILE", "reconcile": map[string]any{"tasks": []any{
		map[string]any{"task_id": map[string]any{"value": "survivor"}}}}})
	rec := s2.updates(10*time.Second, func(st map[string][]string) bool { return len(st["survivor"]) > 0 })
	if rec["survivor"][0] != "TASK_RUNNING" {
		t.Errorf("after master restart the task reconciles as %v", rec["survivor"])
	}
	s2.mustCall(map[string]any{"type": "TEARDOWN"})
	waitNoProcess(t, marker)
}
