package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func commandTask(id, agentID, shell string) map[string]any {
	return map[string]any{
		"name":     id,
		"task_id":  map[string]any{"value": id},
		"agent_id": map[string]any{"value": agentID},
		"resources": []any{
			map[string]any{"name": "cpus", "type": "SCALAR", "scalar": map[string]any{"value": 0.1}},
			map[string]any{"name": "mem", "type": "SCALAR", "scalar": map[string]any{"value": 32}},
		},
		"command": map[string]any{"value": shell},
	}
}

// offersByAgent waits until offers from n distinct agents arrived.
func (s *jsonScheduler) offersByAgent(n int) map[string]map[string]any {
	s.t.Helper()
	got := make(map[string]map[string]any)
	for len(got) < n {
		ev := s.next("OFFERS", 20*time.Second)
		for _, o := range ev["offers"].(map[string]any)["offers"].([]any) {
			o := o.(map[string]any)
			got[o["agent_id"].(map[string]any)["value"].(string)] = o
		}
	}
	return got
}

func accept(offer map[string]any, tasks ...map[string]any) map[string]any {
	infos := make([]any, len(tasks))
	for i, t := range tasks {
		infos[i] = t
	}
	return map[string]any{"type": "ACCEPT", "accept": map[string]any{
		"offer_ids":  []any{offer["id"]},
		"operations": []any{map[string]any{"type": "LAUNCH", "launch": map[string]any{"task_infos": infos}}},
		"filters":    map[string]any{"refuse_seconds": 0},
	}}
}

// TestThirdPartyJSONFramework is the core loop as a framework written from
// the Mesos documentation sees it: offers from every agent, tasks that
// finish, fail and are killed, their stdout through /files/read,
// reconciliation, and a teardown that leaves no process behind.
func TestThirdPartyJSONFramework(t *testing.T) {
	master, _ := cluster(t, 2)
	s := subscribe(t, master, map[string]any{"user": "nobody", "name": "e2e-json"})
	offers := s.offersByAgent(2)
	var agentA, agentB string
	for id := range offers {
		if agentA == "" {
			agentA = id
		} else {
			agentB = id
		}
	}
	for id, o := range offers {
		if o["hostname"] == nil || o["url"] == nil {
			t.Errorf("offer from %s lacks hostname or url: %v", id, o)
		}
	}

	s.mustCall(accept(offers[agentA], commandTask("hello", agentA, "echo hello-agora"), commandTask("fails", agentA, "exit 3")))
	marker := fmt.Sprintf("agora-e2e-%d", time.Now().UnixNano())
	s.mustCall(accept(offers[agentB], commandTask("sleeper", agentB, "sleep 600 # "+marker)))

	seen := s.updates(60*time.Second, func(seen map[string][]string) bool {
		return strings.HasPrefix(last(seen["hello"]), "TASK_FINISHED") &&
			strings.HasPrefix(last(seen["fails"]), "TASK_FAILED") && last(seen["sleeper"]) == "TASK_RUNNING"
	})
	if !strings.Contains(last(seen["fails"]), "exited with status 3") {
		t.Errorf("failed task's final update %q does not give the exit status", last(seen["fails"]))
	}
	if seen["hello"][0] != "TASK_STARTING" && seen["hello"][0] != "TASK_RUNNING" {
		t.Errorf("hello's first update is %q", seen["hello"][0])
	}

	// The task's stdout, through the agent's sandbox files API.
	out := readSandboxFile(t, master, s.id, "hello", "stdout")
	if !strings.Contains(out, "hello-agora") {
		t.Errorf("stdout of task hello = %q, want hello-agora", out)
	}

	// Explicit reconciliation of a known and an unknown task; implicit.
	s.mustCall(map[string]any{"type": "RECONCILE", "reconcile": map[string]any{"tasks": []any{
		map[string]any{"task_id": map[string]any{"value": "sleeper"}},
		map[string]any{"task_id": map[string]any{"value": "nope"}, "agent_id": map[string]any{"value": agentA}},
	}}})
	rec := s.updates(10*time.Second, func(seen map[string][]string) bool {
		return len(seen["sleeper"]) > 0 && len(seen["nope"]) > 0
	})
	if rec["sleeper"][0] != "TASK_RUNNING" || !strings.HasPrefix(rec["nope"][0], "TASK_LOST") {
		t.Errorf("reconciliation answers %v", rec)
	}

	// Kill.
	s.mustCall(map[string]any{"type": "KILL", "kill": map[string]any{"task_id": map[string]any{"value": "sleeper"}}})
	s.updates(30*time.Second, func(seen map[string][]string) bool {
		return strings.HasPrefix(last(seen["sleeper"]), "TASK_KILLED")
	})
	waitNoProcess(t, marker)

	// A long task, then TEARDOWN: no task process survives.
	marker2 := marker + "-teardown"
	o := s.offersByAgent(1)
	for agentID, offer := range o {
		s.mustCall(accept(offer, commandTask("long", agentID, "sleep 600 # "+marker2)))
	}
	s.updates(30*time.Second, func(seen map[string][]string) bool { return last(seen["long"]) == "TASK_RUNNING" })
	s.mustCall(map[string]any{"type": "TEARDOWN"})
	waitNoProcess(t, marker2)
	var st struct {
		Frameworks          []any
		CompletedFrameworks []struct{ ID string } `json:"completed_frameworks"`
	}
	waitFor(t, 10*time.Second, "framework to be completed", func() bool {
		return getJSON(t, "http://"+master+"/master/state", &st) == nil && len(st.Frameworks) == 0 &&
			len(st.CompletedFrameworks) == 1 && st.CompletedFrameworks[0].ID == s.id
	})
}

// readSandboxFile finds a command task's sandbox through the master's and
// the agent's state and reads a file there with /files/read.
func readSandboxFile(t *testing.T, master, frameworkID, taskID, file string) string {
	t.Helper()
	var ms struct {
		Slaves []struct {
			ID  string
			PID string
		}
	}
	if err := getJSON(t, "http://"+master+"/master/state", &ms); err != nil {
		t.Fatal(err)
	}
	for _, sl := range ms.Slaves {
		agentAddr := sl.PID[strings.Index(sl.PID, "@")+1:]
		type fw struct {
			ID                 string
			Executors          []struct{ ID, Directory string }
			CompletedExecutors []struct{ ID, Directory string } `json:"completed_executors"`
		}
		var as struct {
			Frameworks []fw
			// A framework whose tasks all ended (and were acknowledged)
			// is a completed one on the agent.
			CompletedFrameworks []fw `json:"completed_frameworks"`
		}
		if err := getJSON(t, "http://"+agentAddr+"/state", &as); err != nil {
			t.Fatal(err)
		}
		for _, f := range append(as.Frameworks, as.CompletedFrameworks...) {
			for _, e := range append(f.Executors, f.CompletedExecutors...) {
				if f.ID == frameworkID && e.ID == taskID {
					var r struct {
						Data   string
						Offset int
					}
					u := "http://" + agentAddr + "/files/read?offset=0&path=" + url.QueryEscape(e.Directory+"/"+file)
					if err := getJSON(t, u, &r); err != nil {
						t.Fatal(err)
					}
					return r.Data
				}
			}
		}
	}
	t.Fatalf("no sandbox found for task %s", taskID)
	return ""
}

// waitNoProcess waits until no process has marker in its command line.
func waitNoProcess(t *testing.T, marker string) {
	t.Helper()
	waitFor(t, 30*time.Second, "task processes with "+marker+" to exit", func() bool {
		err := exec.Command("pgrep", "-f", marker).Run()
		return err != nil // pgrep exits 1 when nothing matches
	})
}

// TestSchedulerAPIErrors checks Mesos's status codes for malformed input.
func TestSchedulerAPIErrors(t *testing.T) {
	master, _ := cluster(t, 1)
	u := "http://" + master + "/api/v1/scheduler"
	post := func(ct, body string, hdr map[string]string) int {
		req, _ := http.NewRequest("POST", u, strings.NewReader(body))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	s := subscribe(t, master, map[string]any{"user": "nobody", "name": "e2e-errors"})
	teardown := fmt.Sprintf(`{"type":"TEARDOWN","framework_id":{"value":%q}}`, s.id)
	subscribeBody := `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n"}}}`
	for _, tc := range []struct {
		name string
		ct   string
		body string
		hdr  map[string]string
		want int
	}{
		{"malformed JSON", "application/json", "not json", nil, 400},
		{"no content type", "", "{}", nil, 400},
		{"wrong content type", "text/plain", "{}", nil, 415},
		{"missing required field", "application/json", `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"name":"n"}}}`, nil, 400},
		{"unknown call type", "application/json", `{"type":"UNKNOWN","framework_id":{"value":"x"}}`, nil, 501},
		{"unknown framework", "application/json", `{"type":"TEARDOWN","framework_id":{"value":"nope"}}`, map[string]string{"Mesos-Stream-Id": "x"}, 400},
		{"missing stream id", "application/json", teardown, nil, 400},
		{"wrong stream id", "application/json", teardown, map[string]string{"Mesos-Stream-Id": "nope"}, 400},
		{"subscribe with stream id", "application/json", subscribeBody, map[string]string{"Mesos-Stream-Id": "x"}, 400},
		{"subscribe not acceptable", "application/json", subscribeBody, map[string]string{"Accept": "text/html"}, 406},
		{"bad ack uuid", "application/json", fmt.Sprintf(`{"type":"ACKNOWLEDGE","framework_id":{"value":%q},"acknowledge":{"agent_id":{"value":"a"},"task_id":{"value":"t"},"uuid":"AAAA"}}`, s.id), map[string]string{"Mesos-Stream-Id": s.streamID}, 400},
		{"bad protobuf", "application/x-protobuf", "\xff\xff\xff", nil, 400},
	} {
		if got := post(tc.ct, tc.body, tc.hdr); got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
		}
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET: %d Allow=%q, want 405 Allow=POST", resp.StatusCode, resp.Header.Get("Allow"))
	}
	// The master is still healthy after all that.
	if code, _ := s.call(map[string]any{"type": "REVIVE"}); code != 202 {
		t.Errorf("REVIVE after bad input: %d", code)
	}
}
