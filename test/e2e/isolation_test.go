package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agora-dev/agora/internal/testutil"
)

// TestMemoryLimitationJSON: with cgroups, a task that allocates past its
// mem ends TASK_FAILED with REASON_CONTAINER_LIMITATION_MEMORY, as a JSON
// framework sees it, and the agent says which isolation it uses.
func TestMemoryLimitationJSON(t *testing.T) {
	master, agents := cluster(t, 1)
	var st struct {
		Flags map[string]string `json:"flags"`
	}
	if err := getJSON(t, "http://"+agents[0]+"/state", &st); err != nil {
		t.Fatal(err)
	}
	testutil.Require(t, "cgroups", st.Flags["isolation"] == "cgroups/cpu,cgroups/mem",
		fmt.Sprintf("the agent runs without cgroups (isolation %q): cgroups not writable on this machine", st.Flags["isolation"]))
	s := subscribe(t, master, map[string]any{"user": "nobody", "name": "e2e-isolation"})
	var agentID string
	var offer map[string]any
	for id, o := range s.offersByAgent(1) {
		agentID, offer = id, o
	}
	// tail keeps its newline-free input in memory: 200 MB against 32 MB.
	s.mustCall(accept(offer, commandTask("hog", agentID, "head -c 200M /dev/zero | tail")))
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		ev := s.next("UPDATE", time.Until(deadline))
		status := ev["update"].(map[string]any)["status"].(map[string]any)
		if uuid, ok := status["uuid"]; ok {
			s.mustCall(map[string]any{"type": "ACKNOWLEDGE", "acknowledge": map[string]any{
				"agent_id": status["agent_id"], "task_id": status["task_id"], "uuid": uuid}})
		}
		state, _ := status["state"].(string)
		if state == "TASK_RUNNING" || state == "TASK_STARTING" {
			continue
		}
		msg, _ := status["message"].(string)
		if state != "TASK_FAILED" || status["reason"] != "REASON_CONTAINER_LIMITATION_MEMORY" ||
			status["source"] != "SOURCE_AGENT" || !strings.HasPrefix(msg, "Memory limit exceeded: Requested: 64MB") {
			t.Fatalf("status %v, want TASK_FAILED REASON_CONTAINER_LIMITATION_MEMORY from the agent", status)
		}
		lim, _ := status["limitation"].(map[string]any)
		res, _ := lim["resources"].([]any)
		if len(res) != 1 || res[0].(map[string]any)["name"] != "mem" {
			t.Errorf("limitation %v", status["limitation"])
		}
		return
	}
	t.Fatal("no terminal update")
}
