package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestAgentRecoveryGC: an agent killed and restarted on its work_dir
// schedules the sandboxes it finds by their mtime (issue 12 item 6). A
// finished executor's sandbox already older than --gc_delay is removed at
// once; the sandbox of the executor that survived the restart, made just
// as old, and the checkpoint are kept, and that task still finishes.
func TestAgentRecoveryGC(t *testing.T) {
	master, _ := cluster(t, 0)
	work := t.TempDir()
	port := strconv.Itoa(freePort(t))
	agentDir := filepath.Join(work, "agent")
	args := []string{"agent", "--master=" + master, "--port=" + port, "--work_dir=" + agentDir,
		"--resources=cpus:2;mem:1024;disk:2048;ports:[31000-31099]", "--gc_delay=1hrs", "--disk_watch_interval=1hrs"}
	agent := start(t, args...)
	agentAddr := agent.waitListening(t)

	s := subscribe(t, master, map[string]any{"user": "nobody", "name": "e2e-gc", "checkpoint": true})
	var agentID string
	offers := s.offersByAgent(1)
	for id := range offers {
		agentID = id
	}
	release := filepath.Join(work, "release")
	s.mustCall(accept(offers[agentID], commandTask("gc-done", agentID, "true"),
		commandTask("gc-live", agentID, "while [ ! -e "+release+" ]; do sleep 0.05; done")))
	states := map[string]string{}
	follow := func(what string, done func() bool) {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for !done() {
			var ev map[string]any
			select {
			case ev = <-s.events:
			case <-deadline:
				t.Fatalf("timed out waiting for %s; states %v", what, states)
			}
			if ev["type"] != "UPDATE" {
				continue
			}
			st := ev["update"].(map[string]any)["status"].(map[string]any)
			states[st["task_id"].(map[string]any)["value"].(string)] = st["state"].(string)
			if uuid, ok := st["uuid"].(string); ok {
				s.mustCall(map[string]any{"type": "ACKNOWLEDGE", "acknowledge": map[string]any{
					"agent_id": st["agent_id"], "task_id": st["task_id"], "uuid": uuid}})
			}
		}
	}
	follow("gc-done finished and gc-live running", func() bool {
		return states["gc-done"] == "TASK_FINISHED" && states["gc-live"] == "TASK_RUNNING"
	})

	// The sandboxes, from the agent's /state.
	dirs := map[string]string{}
	// Once gc-done's executor has exited (an executor that ends after the
	// restart is scheduled from its end, as in Mesos).
	waitFor(t, 20*time.Second, "both sandboxes in /state, gc-done's executor ended", func() bool {
		var raw struct {
			Frameworks []struct {
				Executors []struct {
					ID        string `json:"id"`
					Directory string `json:"directory"`
				} `json:"executors"`
				Completed []struct {
					ID        string `json:"id"`
					Directory string `json:"directory"`
				} `json:"completed_executors"`
			} `json:"frameworks"`
		}
		if getJSON(t, "http://"+agentAddr+"/state", &raw) != nil {
			return false
		}
		ended := false
		for _, f := range raw.Frameworks {
			for _, e := range append(f.Executors, f.Completed...) {
				dirs[e.ID] = e.Directory
			}
			for _, e := range f.Completed {
				ended = ended || e.ID == "gc-done"
			}
		}
		return ended && dirs["gc-live"] != ""
	})

	if err := agent.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-agent.done
	// Both run directories last changed three hours ago.
	past := time.Now().Add(-3 * time.Hour)
	for _, d := range []string{dirs["gc-done"], dirs["gc-live"]} {
		if err := os.Chtimes(d, past, past); err != nil {
			t.Fatal(err)
		}
	}

	restarted := start(t, args...)
	restarted.waitListening(t)
	var m map[string]float64
	waitFor(t, 30*time.Second, "the finished sandbox removed", func() bool {
		_, err := os.Stat(dirs["gc-done"])
		return os.IsNotExist(err) && getJSON(t, "http://"+agentAddr+"/metrics/snapshot", &m) == nil &&
			m["gc/path_removals_succeeded"] >= 1
	})
	for _, p := range []string{filepath.Join(dirs["gc-live"], "stdout"), filepath.Join(agentDir, "meta", "agent.json")} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s after recovery: %v\nagent output:\n%s", p, err, restarted.output())
		}
	}
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	follow("gc-live finished", func() bool { return states["gc-live"] == "TASK_FINISHED" })
}
