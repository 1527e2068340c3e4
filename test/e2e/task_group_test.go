package e2e

import (
	"strings"
	"testing"
	"time"
)

func defaultExecutor(id, frameworkID string, memMB float64) map[string]any {
	return map[string]any{
		"executor_id":  map[string]any{"value": id},
		"framework_id": map[string]any{"value": frameworkID},
		"type":         "DEFAULT",
		"resources": []any{
			map[string]any{"name": "cpus", "type": "SCALAR", "scalar": map[string]any{"value": 0.1}},
			map[string]any{"name": "mem", "type": "SCALAR", "scalar": map[string]any{"value": memMB}},
			map[string]any{"name": "disk", "type": "SCALAR", "scalar": map[string]any{"value": 32}},
		},
	}
}

func launchGroup(executor map[string]any, tasks ...map[string]any) map[string]any {
	list := make([]any, len(tasks))
	for i, t := range tasks {
		list[i] = t
	}
	return map[string]any{"type": "LAUNCH_GROUP", "launch_group": map[string]any{
		"executor": executor, "task_group": map[string]any{"tasks": list}}}
}

func acceptOps(offer map[string]any, ops ...map[string]any) map[string]any {
	list := make([]any, len(ops))
	for i, op := range ops {
		list[i] = op
	}
	return map[string]any{"type": "ACCEPT", "accept": map[string]any{
		"offer_ids": []any{offer["id"]}, "operations": list, "filters": map[string]any{"refuse_seconds": 0}}}
}

// TestTaskGroups launches task groups through the real master and agent
// the way a framework written from the Mesos documentation does: an
// invalid group is refused whole, a group whose member exits 2 ends that
// member TASK_FAILED and the other TASK_KILLED, and a group whose members
// exit 0 finishes.
func TestTaskGroups(t *testing.T) {
	master, _ := cluster(t, 1)
	s := subscribe(t, master, map[string]any{"user": "nobody", "name": "e2e-groups"})
	var agent string
	var offer map[string]any
	for id, o := range s.offersByAgent(1) {
		agent, offer = id, o
	}

	// One ACCEPT: an invalid group (executor with 16 MB), a group that
	// fails and one that finishes, each on its own default executor.
	s.mustCall(acceptOps(offer,
		launchGroup(defaultExecutor("small", s.id, 16), commandTask("bad1", agent, "true"), commandTask("bad2", agent, "true")),
		launchGroup(defaultExecutor("ex1", s.id, 32), commandTask("fails", agent, "sleep 0.5; exit 2"),
			commandTask("sleeps", agent, "sleep 60")),
		launchGroup(defaultExecutor("ex2", s.id, 32), commandTask("one", agent, "echo one"), commandTask("two", agent, "echo two"))))
	seen := s.updates(60*time.Second, func(seen map[string][]string) bool {
		return len(seen["bad1"]) > 0 && len(seen["bad2"]) > 0 &&
			strings.HasPrefix(last(seen["fails"]), "TASK_FAILED") && strings.HasPrefix(last(seen["sleeps"]), "TASK_KILLED") &&
			strings.HasPrefix(last(seen["one"]), "TASK_FINISHED") && strings.HasPrefix(last(seen["two"]), "TASK_FINISHED")
	})
	for _, id := range []string{"bad1", "bad2"} {
		if want := "TASK_ERROR: Executor 'small' uses less memory (16MB) than the minimum required (32MB)"; seen[id][0] != want {
			t.Errorf("%s: %v, want %q", id, seen[id], want)
		}
	}
	if got := last(seen["fails"]); got != "TASK_FAILED: Command exited with status 2" {
		t.Errorf("fails ended %q", got)
	}
	for _, id := range []string{"sleeps", "one", "two"} {
		if !contains(seen[id], "TASK_STARTING") || !contains(seen[id], "TASK_RUNNING") {
			t.Errorf("%s: %v, want it to have started and run", id, seen[id])
		}
	}

	// The tasks are known to the master with their executor.
	waitFor(t, 20*time.Second, "completed group tasks in /master/state", func() bool {
		var st struct {
			Frameworks []struct {
				CompletedTasks []struct {
					ID         string `json:"id"`
					ExecutorID string `json:"executor_id"`
					State      string `json:"state"`
				} `json:"completed_tasks"`
			} `json:"frameworks"`
		}
		if getJSON(t, "http://"+master+"/master/state", &st) != nil || len(st.Frameworks) == 0 {
			return false
		}
		n := 0
		for _, ct := range st.Frameworks[0].CompletedTasks {
			if (ct.ID == "one" || ct.ID == "two") && ct.ExecutorID == "ex2" && ct.State == "TASK_FINISHED" {
				n++
			}
		}
		return n == 2
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
