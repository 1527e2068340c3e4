package e2e

import (
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRegistrySurvivesMasterRestart: what the registry persists under the
// master's --work_dir outlives the master. A torn-down framework may not
// re-subscribe to a restarted master, and an agent the operator marked
// gone is still refused by it.
func TestRegistrySurvivesMasterRestart(t *testing.T) {
	work := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	masterArgs := []string{"master", "--port=" + port, "--registry_port=0",
		"--work_dir=" + filepath.Join(work, "master")}
	m := start(t, masterArgs...)
	master := m.waitListening(t)
	a := start(t, "agent", "--master="+master, "--port=0", "--work_dir="+filepath.Join(work, "agent"),
		"--resources=cpus:1;mem:256;disk:256")
	a.waitListening(t)

	// A framework subscribes and tears itself down.
	info := map[string]any{"user": "nobody", "name": "registry", "failover_timeout": 3600.0}
	s := subscribe(t, master, info)
	s.mustCall(map[string]any{"type": "TEARDOWN"})
	waitFor(t, 10*time.Second, "framework removal", func() bool {
		var st struct {
			CompletedFrameworks []struct{ ID string } `json:"completed_frameworks"`
		}
		return getJSON(t, "http://"+master+"/master/state", &st) == nil && len(st.CompletedFrameworks) == 1
	})

	// The operator marks the agent gone; the agent is refused from then on.
	var agentID string
	waitFor(t, 20*time.Second, "the agent to subscribe", func() bool {
		var st struct{ Slaves []struct{ ID string } }
		if getJSON(t, "http://"+master+"/master/state", &st) != nil || len(st.Slaves) != 1 {
			return false
		}
		agentID = st.Slaves[0].ID
		return true
	})
	gone := map[string]any{"type": "MARK_AGENT_GONE", "mark_agent_gone": map[string]any{"agent_id": map[string]any{"value": agentID}}}
	if code, _, body := operatorCall(t, master, gone); code != 200 {
		t.Fatalf("MARK_AGENT_GONE: %d %q", code, body)
	}
	const refused = "may not subscribe again"
	waitFor(t, 20*time.Second, "the gone agent to be refused", func() bool {
		return strings.Contains(a.output(), refused)
	})

	// Restart the master on the same port and work_dir.
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	<-m.done
	before := strings.Count(a.output(), refused) // later refusals come from the new master
	m2 := start(t, masterArgs...)
	m2.waitListening(t)

	info["id"] = map[string]any{"value": s.id}
	code, body := rawSubscribe(t, master, info)
	if code != 200 || !strings.Contains(body, "Framework has been removed") {
		t.Errorf("resubscribing a removed framework after a master restart: %d %q", code, body)
	}
	waitFor(t, 20*time.Second, "the restarted master to refuse the gone agent", func() bool {
		return strings.Count(a.output(), refused) > before
	})
	var st struct{ Slaves []struct{ ID string } }
	if err := getJSON(t, "http://"+master+"/master/state", &st); err != nil || len(st.Slaves) != 0 {
		t.Errorf("restarted master lists agents %v (err %v), want none", st.Slaves, err)
	}
}
