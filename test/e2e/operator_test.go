package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// operatorCall posts a v1 operator call (JSON) to the master and returns
// the status, the Content-Type values and the body.
func operatorCall(t *testing.T, master string, call map[string]any) (int, []string, []byte) {
	t.Helper()
	body, _ := json.Marshal(call)
	req, _ := http.NewRequest("POST", "http://"+master+"/api/v1", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("operator %v: %v", call["type"], err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Values("Content-Type"), b
}

// operatorQuery sends a GET_* call and decodes the answer into v.
func operatorQuery(t *testing.T, master, typ string, v any) {
	t.Helper()
	call := map[string]any{"type": typ}
	if typ == "GET_METRICS" {
		call["get_metrics"] = map[string]any{}
	}
	code, ct, body := operatorCall(t, master, call)
	if code != 200 || len(ct) != 1 || ct[0] != "application/json" {
		t.Fatalf("%s: %d Content-Type %q: %s", typ, code, ct, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("%s: %v in %s", typ, err, body)
	}
}

// subscribeOperator opens the operator event stream (JSON, RecordIO).
func subscribeOperator(t *testing.T, master string) *jsonScheduler {
	t.Helper()
	s := &jsonScheduler{t: t, events: make(chan map[string]any, 1024), streamEnd: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+master+"/api/v1", strings.NewReader(`{"type":"SUBSCRIBE"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("operator SUBSCRIBE: %v", err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		cancel()
		t.Fatalf("operator SUBSCRIBE: %s Content-Type %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	go s.read(resp.Body)
	t.Cleanup(func() { cancel(); <-s.streamEnd })
	return s
}

// nextTaskUpdate waits for a TASK_UPDATED of the task to the given state.
func (s *jsonScheduler) nextTaskUpdate(taskID, state string) map[string]any {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ev := s.next("TASK_UPDATED", time.Until(deadline))
		tu := ev["task_updated"].(map[string]any)
		st := tu["status"].(map[string]any)
		if st["task_id"].(map[string]any)["value"] == taskID && tu["state"] == state {
			return tu
		}
	}
	s.t.Fatalf("no TASK_UPDATED %s %s", taskID, state)
	return nil
}

func value(m any, path ...string) any {
	for _, p := range path {
		mm, ok := m.(map[string]any)
		if !ok {
			return nil
		}
		m = mm[p]
	}
	return m
}

// TestOperatorAPI drives the operator API of a master with a real agent:
// the event stream follows a task from launch to the operator's TEARDOWN,
// the GET_* answers show it, and MARK_AGENT_GONE removes the agent for
// good.
func TestOperatorAPI(t *testing.T) {
	master, _ := cluster(t, 0)
	agent := start(t, "agent", "--master="+master, "--port=0", "--work_dir="+filepath.Join(t.TempDir(), "agent"),
		"--resources=cpus:2;mem:1024;disk:2048;ports:[31000-31099]")
	agent.waitListening(t)
	waitFor(t, 20*time.Second, "the agent to register", func() bool {
		var ag map[string]any
		operatorQuery(t, master, "GET_AGENTS", &ag)
		a, _ := value(ag, "get_agents", "agents").([]any)
		return len(a) == 1
	})
	ops := subscribeOperator(t, master)
	sub := ops.next("SUBSCRIBED", 10*time.Second)
	agents := value(sub, "subscribed", "get_state", "get_agents", "agents").([]any)
	if len(agents) != 1 {
		t.Fatalf("SUBSCRIBED get_state lists %d agents", len(agents))
	}
	agentID := value(agents[0], "agent_info", "id", "value").(string)

	s := subscribe(t, master, map[string]any{"user": "nobody", "name": "e2e-operator"})
	if id := value(ops.next("FRAMEWORK_ADDED", 10*time.Second), "framework_added", "framework", "framework_info", "id", "value"); id != s.id {
		t.Errorf("FRAMEWORK_ADDED for %v, want %s", id, s.id)
	}
	marker := fmt.Sprintf("agora-e2e-operator-%d", time.Now().UnixNano())
	offers := s.offersByAgent(1)
	s.mustCall(accept(offers[agentID], commandTask("op-1", agentID, "sleep 600 # "+marker)))
	if id := value(ops.next("TASK_ADDED", 10*time.Second), "task_added", "task", "task_id", "value"); id != "op-1" {
		t.Errorf("TASK_ADDED for %v", id)
	}
	// The agent forwards the next update only after the framework
	// acknowledged the previous one, so acknowledge first.
	s.updates(30*time.Second, func(seen map[string][]string) bool { return last(seen["op-1"]) == "TASK_RUNNING" })
	ops.nextTaskUpdate("op-1", "TASK_RUNNING")

	var tasks struct {
		GetTasks struct {
			Tasks []struct {
				TaskID   struct{ Value string } `json:"task_id"`
				State    string
				Statuses []struct{ State string }
			}
		} `json:"get_tasks"`
	}
	operatorQuery(t, master, "GET_TASKS", &tasks)
	if got := tasks.GetTasks.Tasks; len(got) != 1 || got[0].TaskID.Value != "op-1" || got[0].State != "TASK_RUNNING" ||
		len(got[0].Statuses) == 0 {
		t.Errorf("GET_TASKS = %+v", got)
	}
	var state map[string]any
	operatorQuery(t, master, "GET_STATE", &state)
	if fws := value(state, "get_state", "get_frameworks", "frameworks").([]any); len(fws) != 1 {
		t.Errorf("GET_STATE frameworks = %v", fws)
	}
	var metrics map[string]any
	operatorQuery(t, master, "GET_METRICS", &metrics)
	if m := value(metrics, "get_metrics", "metrics"); m == nil {
		t.Errorf("GET_METRICS = %v", metrics)
	}

	// TEARDOWN by the operator kills the task.
	code, ct, body := operatorCall(t, master, map[string]any{"type": "TEARDOWN", "teardown": map[string]any{"framework_id": map[string]any{"value": s.id}}})
	if code != 200 || len(ct) != 0 || len(body) != 0 {
		t.Fatalf("TEARDOWN: %d Content-Type %q body %q", code, ct, body)
	}
	ops.nextTaskUpdate("op-1", "TASK_KILLED")
	if id := value(ops.next("FRAMEWORK_REMOVED", 10*time.Second), "framework_removed", "framework_info", "id", "value"); id != s.id {
		t.Errorf("FRAMEWORK_REMOVED for %v", id)
	}
	waitNoProcess(t, marker)
	if code, _, body := operatorCall(t, master, map[string]any{"type": "TEARDOWN", "teardown": map[string]any{"framework_id": map[string]any{"value": s.id}}}); code != 400 {
		t.Errorf("TEARDOWN of a removed framework: %d %s", code, body)
	}

	// MARK_AGENT_GONE removes the agent; it is not let back in.
	gone := map[string]any{"type": "MARK_AGENT_GONE", "mark_agent_gone": map[string]any{"agent_id": map[string]any{"value": agentID}}}
	if code, ct, body := operatorCall(t, master, gone); code != 200 || len(ct) != 0 || len(body) != 0 {
		t.Fatalf("MARK_AGENT_GONE: %d Content-Type %q body %q", code, ct, body)
	}
	if id := value(ops.next("AGENT_REMOVED", 10*time.Second), "agent_removed", "agent_id", "value"); id != agentID {
		t.Errorf("AGENT_REMOVED for %v", id)
	}
	waitFor(t, 20*time.Second, "the agent to be refused when it re-subscribes", func() bool {
		return strings.Contains(agent.output(), "marked gone by the operator")
	})
	var ag map[string]any
	operatorQuery(t, master, "GET_AGENTS", &ag)
	if a := value(ag, "get_agents", "agents"); a != nil {
		t.Errorf("GET_AGENTS after MARK_AGENT_GONE = %v", a)
	}
	if code, _, body := operatorCall(t, master, map[string]any{"type": "GET_WEIGHTS"}); code != 501 {
		t.Errorf("GET_WEIGHTS: %d %s, want 501", code, body)
	}
}
