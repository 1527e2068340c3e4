package conformance

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"regexp"
	"testing"
	"time"
)

// mwatch subscribes to the master's operator API (POST /api/v1, SUBSCRIBE,
// protobuf) and prints one line per TASK_ADDED, TASK_UPDATED, AGENT_ADDED,
// AGENT_REMOVED and FRAMEWORK_ADDED/UPDATED/REMOVED event until the stream
// ends. Here it watches an agent join and an msh task run to its end.
func TestMwatch(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	if code := operatorSubscribeStatus(t, c.master); code != http.StatusOK {
		t.Fatalf("POST /api/v1 SUBSCRIBE answered %d, want 200", code)
	}
	host, port, _ := net.SplitHostPort(c.master)
	w := start(t, mwatchBin, "-master", host, "-port", port)

	waitOutput := func(what string, re *regexp.Regexp) {
		t.Helper()
		waitFor(t, 30*time.Second, "mwatch to print "+what, func() bool {
			if exited(w) {
				t.Fatalf("mwatch exited (status %d) before printing %s; output:\n%s", w.exitCode(), what, w.output())
			}
			return re.MatchString(w.output())
		})
	}

	// mwatch prints nothing for SUBSCRIBED, and nothing outside says when
	// its subscription is in place; agents that registered before it are
	// in SUBSCRIBED's state, not in AGENT_ADDED events. So add agents
	// until it prints one: the first line it prints proves the stream is
	// live, and every event after that must reach it. An agent added while
	// it is still subscribing is not a failure, only a retry.
	agentAdded := regexp.MustCompile(`(?m)^AGENT_ADDED `)
	for attempt := 1; !agentAdded.MatchString(w.output()); attempt++ {
		if attempt > 3 {
			t.Fatalf("mwatch printed no AGENT_ADDED for %d agents that joined while it ran; output:\n%s", len(c.agents), w.output())
		}
		c.addAgent() // returns once the master lists the agent as active
		deadline := time.Now().Add(3 * time.Second)
		for !agentAdded.MatchString(w.output()) && time.Now().Before(deadline) && !exited(w) {
			time.Sleep(20 * time.Millisecond)
		}
		if exited(w) {
			t.Fatalf("mwatch exited (status %d); output:\n%s", w.exitCode(), w.output())
		}
	}

	code, out := run(t, mshBin, "-master", c.master, "--", "true")
	if code != 0 {
		t.Fatalf("msh -- true: exit %d; output:\n%s", code, out)
	}
	waitOutput("FRAMEWORK_ADDED", regexp.MustCompile(`(?m)^FRAMEWORK_ADDED .*msh`))
	waitOutput("TASK_ADDED", regexp.MustCompile(`(?m)^TASK_ADDED `))
	waitOutput("TASK_UPDATED ... TASK_FINISHED", regexp.MustCompile(`(?m)^TASK_UPDATED .*TASK_FINISHED`))
	// msh has failover_timeout 0: its framework goes when it disconnects.
	waitOutput("FRAMEWORK_REMOVED", regexp.MustCompile(`(?m)^FRAMEWORK_REMOVED `))
	t.Logf("mwatch output:\n%s", w.output())
}

// operatorSubscribeStatus posts an operator SUBSCRIBE the way any client
// would and returns the status code, closing the stream at once.
func operatorSubscribeStatus(t *testing.T, master string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+master+"/api/v1", bytes.NewReader([]byte(`{"type":"SUBSCRIBE"}`)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("operator SUBSCRIBE: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
