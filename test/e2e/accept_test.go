package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestAcceptValidation: invalid ACCEPTs are answered asynchronously with
// Mesos's task states and reasons, and the master keeps going.
func TestAcceptValidation(t *testing.T) {
	master, _ := cluster(t, 2)
	s := subscribe(t, master, map[string]any{"user": "nobody", "name": "e2e-validation"})
	offers := s.offersByAgent(2)
	var ids []string
	for id := range offers {
		ids = append(ids, id)
	}
	a, b := ids[0], ids[1]

	// Too many resources: TASK_ERROR.
	big := commandTask("too-big", a, "true")
	big["resources"] = []any{map[string]any{"name": "cpus", "type": "SCALAR", "scalar": map[string]any{"value": 64}}}
	// Both command and nothing: invalid.
	neither := commandTask("neither", a, "true")
	delete(neither, "command")
	// Duplicate task id within the same ACCEPT.
	dup1, dup2 := commandTask("dup", a, "sleep 30"), commandTask("dup", a, "true")
	// Wrong agent id.
	wrongAgent := commandTask("wrong-agent", b, "true")
	// Invalid task id.
	badID := commandTask("bad/id", a, "true")
	s.mustCall(accept(offers[a], big, neither, dup1, dup2, wrongAgent, badID))
	seen := s.updates(30*time.Second, func(seen map[string][]string) bool {
		for _, id := range []string{"too-big", "neither", "wrong-agent", "bad/id"} {
			if len(seen[id]) == 0 {
				return false
			}
		}
		return len(seen["dup"]) >= 2
	})
	for _, id := range []string{"too-big", "neither", "wrong-agent", "bad/id"} {
		if !strings.HasPrefix(seen[id][0], "TASK_ERROR") {
			t.Errorf("task %q: %v, want TASK_ERROR", id, seen[id])
		}
	}
	if !strings.Contains(seen["too-big"][0], "more resources") {
		t.Errorf("too-big message: %q", seen["too-big"][0])
	}
	if !strings.Contains(strings.Join(seen["dup"], "|"), "duplicate") {
		t.Errorf("duplicate task id not reported: %v", seen["dup"])
	}

	// Reusing an accepted offer, and offers from two agents: TASK_LOST.
	s.mustCall(accept(offers[a], commandTask("reused", a, "true")))
	both := accept(offers[b], commandTask("two-agents", b, "true"))
	both["accept"].(map[string]any)["offer_ids"] = []any{offers[a]["id"], offers[b]["id"]}
	s.mustCall(both)
	seen = s.updates(30*time.Second, func(seen map[string][]string) bool {
		return len(seen["reused"]) > 0 && len(seen["two-agents"]) > 0
	})
	for _, id := range []string{"reused", "two-agents"} {
		if !strings.HasPrefix(seen[id][0], "TASK_LOST") {
			t.Errorf("task %q: %v, want TASK_LOST", id, seen[id])
		}
	}
	// The master still works: the resources come back in new offers.
	s.mustCall(map[string]any{"type": "REVIVE"})
	s.offersByAgent(1)
}
