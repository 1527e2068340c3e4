package agent

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"google.golang.org/protobuf/proto"
)

// fakeGroup makes fake masters act as a group with one leader, as the
// master's HA contract says: standbys redirect with 307 to
// //leader/path, nobody leads → 503, and every master answers
// GET /agora/v1/leader itself.
type fakeGroup struct {
	mu     sync.Mutex
	leader *fakeMaster
	term   uint64
}

func newFakeGroup(t *testing.T, n int) (*fakeGroup, []*fakeMaster) {
	g := &fakeGroup{}
	ms := make([]*fakeMaster, n)
	for i := range ms {
		ms[i] = newFakeMaster(t)
		ms[i].mu.Lock()
		ms[i].group = g
		ms[i].mu.Unlock()
	}
	return g, ms
}

// elect makes m the leader (nil: nobody) in a new term.
func (g *fakeGroup) elect(m *fakeMaster) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.leader = m
	g.term++
}

func (g *fakeGroup) current() (*fakeMaster, uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.leader, g.term
}

// stall makes m hang every request and stop its stream's events, as a
// SIGSTOPped process would; the returned func resumes it.
func (m *fakeMaster) stall() func() {
	ch := make(chan struct{})
	m.mu.Lock()
	m.stalled = ch
	m.mu.Unlock()
	var once sync.Once
	resume := func() {
		once.Do(func() {
			m.mu.Lock()
			m.stalled = nil
			m.mu.Unlock()
			close(ch)
		})
	}
	m.t.Cleanup(resume)
	return resume
}

func (m *fakeMaster) leaderQueries() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.leaderAsks
}

// haHandle answers what a group member answers before the agent protocol;
// it reports whether it answered.
func (m *fakeMaster) haHandle(w http.ResponseWriter, r *http.Request) bool {
	m.mu.Lock()
	g, unavailable, stalled := m.group, m.unavailable, m.stalled
	m.mu.Unlock()
	if stalled != nil {
		select {
		case <-stalled:
		case <-r.Context().Done():
			return true
		}
	}
	if g == nil {
		return false
	}
	leader, term := g.current()
	if r.URL.Path == "/agora/v1/leader" {
		m.mu.Lock()
		m.leaderAsks++
		says := m.leaderSays
		m.mu.Unlock()
		resp := map[string]any{"leader": "", "self": m.addr(), "elected": leader == m, "term": term}
		if leader != nil {
			resp["leader"] = leader.addr()
		}
		if says != "" {
			resp["leader"] = says
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(resp)
		return true
	}
	m.mu.Lock()
	switch {
	case unavailable || leader == nil:
		m.answered503++
	case leader != m:
		m.redirected++
	}
	m.mu.Unlock()
	switch {
	case unavailable:
		http.Error(w, "Master has not finished recovery", http.StatusServiceUnavailable)
	case leader == nil:
		http.Error(w, "No leader elected", http.StatusServiceUnavailable)
	case leader != m:
		loc := "//" + leader.addr() + r.URL.Path
		if r.URL.RawQuery != "" {
			loc += "?" + r.URL.RawQuery
		}
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusTemporaryRedirect)
	default:
		return false
	}
	return true
}

// deadAddr is a loopback address nobody listens on (connection refused).
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func addrs(ms ...*fakeMaster) string {
	var out []string
	for _, m := range ms {
		out = append(out, m.addr())
	}
	return strings.Join(out, ",")
}

func TestParseMasters(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	os.WriteFile(good, []byte("10.0.0.1:5050,\n10.0.0.2:5050\n  10.0.0.3:5050\n"), 0o644)
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("10.0.0.1:5050,10.0.0.2\n"), 0o644)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o644)

	for in, want := range map[string]string{
		"127.0.0.1:5050":            "127.0.0.1:5050",
		"a:1,b:2, c:3":              "a:1,b:2,c:3",
		"http://a:1,http://b:2":     "a:1,b:2",
		"a:1,a:1,b:2":               "a:1,b:2",
		"[::1]:5050,localhost:5051": "[::1]:5050,localhost:5051",
		"file://" + good:            "10.0.0.1:5050,10.0.0.2:5050,10.0.0.3:5050",
	} {
		got, err := ParseMasters(in)
		if err != nil || strings.Join(got, ",") != want {
			t.Errorf("ParseMasters(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for in, naming := range map[string]string{
		"":                "no master",
		"a:1,nohostport":  `"nohostport"`,
		"a:1,:5050":       `":5050"`,
		"a:1,b:99999":     `"b:99999"`,
		"a:1,b:http":      `"b:http"`,
		"a:1,,,":          "",
		"file://":         "file path",
		"file://" + bad:   `"10.0.0.2"`,
		"file://" + empty: "no master",
		"file:///no/such": "/no/such",
		"a:1/x":           `"a:1/x"`,
	} {
		got, err := ParseMasters(in)
		if naming == "" {
			if err != nil {
				t.Errorf("ParseMasters(%q): %v", in, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), naming) {
			t.Errorf("ParseMasters(%q) = %v, %v; want an error naming %s", in, got, err, naming)
		}
	}
	c := DefaultConfig()
	c.Master = "127.0.0.1:5050,127.0.0.1:50x0"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "127.0.0.1:50x0") {
		t.Errorf("Validate of a bad list: %v", err)
	}
}

// A standby redirects SUBSCRIBE to the leader, which gets the agent and
// its updates.
func TestSubscribeFollowsRedirect(t *testing.T) {
	t.Parallel()
	g, ms := newFakeGroup(t, 3)
	g.elect(ms[2])
	startAgent(t, ms[2], func(c *Config) { c.Master = addrs(ms...) })
	if n := len(ms[0].subscriptions()) + len(ms[1].subscriptions()); n != 0 {
		t.Fatalf("standbys accepted %d subscriptions", n)
	}
	ms[2].send(runTaskEvent("fw1", commandTask("t1", "sleep 60")))
	ms[2].waitState(t, "t1", mesos.TaskState_TASK_RUNNING)
}

// 503 and a refused connection move the agent on to the next master at
// once, without the backoff (set here to a minute).
func TestSubscribeRotatesOn503AndRefused(t *testing.T) {
	t.Parallel()
	g, ms := newFakeGroup(t, 2)
	g.elect(ms[1])
	ms[0].mu.Lock()
	ms[0].unavailable = true
	ms[0].mu.Unlock()
	list := ms[0].addr() + "," + deadAddr(t) + "," + ms[1].addr()
	startAgent(t, ms[1], func(c *Config) {
		c.Master = list
		c.BackoffMin, c.BackoffMax = time.Minute, time.Minute
	})

	// No leader at all: everybody answers 503; the agent keeps trying
	// and subscribes once one is elected.
	g2, ns := newFakeGroup(t, 2)
	g2.elect(nil)
	startAgentNoWait(t, func(c *Config) {
		c.Master = addrs(ns...)
		c.BackoffMin, c.BackoffMax = 10*time.Millisecond, 50*time.Millisecond
	})
	waitFor(t, 10*time.Second, "attempts while no leader is elected", func() bool {
		return ns[0].count503() >= 2 && ns[1].count503() >= 2
	})
	g2.elect(ns[0])
	waitFor(t, 10*time.Second, "subscription to the elected master", func() bool { return len(ns[0].subscriptions()) > 0 })
}

func (m *fakeMaster) count503() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.answered503
}

// A stalled (SIGSTOPped) leader keeps the agent's stream open but silent;
// the detector learns from another master that a new leader was elected,
// checks with it, and moves there well before the ping timeout. The update
// the old leader never acknowledged reaches the new one.
func TestDetectorFollowsNewLeader(t *testing.T) {
	t.Parallel()
	g, ms := newFakeGroup(t, 3)
	g.elect(ms[0])
	startAgent(t, ms[0], func(c *Config) {
		c.Master = addrs(ms...)
		c.LeaderCheckInterval = 50 * time.Millisecond
		c.StatusUpdateRetry = time.Hour
		c.BackoffMin, c.BackoffMax = time.Minute, time.Minute
	})
	ms[0].send(runTaskEvent("fw1", commandTask("d1", "sleep 60")))
	first := ms[0].waitUpdate(t, "d1", 1)

	ms[0].stall()
	g.elect(ms[1])
	start := time.Now()
	waitFor(t, 10*time.Second, "subscription to the new leader", func() bool { return len(ms[1].subscriptions()) > 0 })
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("switching took %v", d)
	}
	if n := len(ms[2].subscriptions()); n != 0 {
		t.Errorf("the standby got %d subscriptions", n)
	}
	u := ms[1].waitUpdate(t, "d1", 1)
	if !bytes.Equal(u.GetStatus().GetUuid(), first.GetStatus().GetUuid()) {
		t.Errorf("new leader got %v, want the unacknowledged update resent", u.GetStatus().GetState())
	}
	// The agent serves the new leader.
	ms[1].send(&agentpb.Event{Type: agentpb.Event_KILL_TASK.Enum(), KillTask: &agentpb.Event_KillTask{
		FrameworkId: &mesos.FrameworkID{Value: proto.String("fw1")}, TaskId: &mesos.TaskID{Value: proto.String("d1")},
	}})
	ms[1].waitState(t, "d1", mesos.TaskState_TASK_KILLED)
}

// A leader that steps down answers the agent's calls with 307 even though
// its stream is still open: the agent resubscribes through the redirect,
// and the update it could not deliver reaches the new leader.
func TestCallRedirectResubscribes(t *testing.T) {
	t.Parallel()
	g, ms := newFakeGroup(t, 2)
	g.elect(ms[0])
	startAgent(t, ms[0], func(c *Config) {
		c.Master = addrs(ms...)
		c.LeaderCheckInterval = time.Hour // the calls alone must tell
		c.StatusUpdateRetry = time.Hour
	})
	g.elect(ms[1])
	ms[0].send(runTaskEvent("fw1", commandTask("c1", "sleep 60")))
	waitFor(t, 10*time.Second, "resubscription to the new leader", func() bool { return len(ms[1].subscriptions()) > 0 })
	ms[1].waitUpdate(t, "c1", 1)
	ms[0].mu.Lock()
	redirected := ms[0].redirected
	ms[0].mu.Unlock()
	if redirected < 1 {
		t.Errorf("the old leader redirected %d requests, want the update", redirected)
	}
}

// With one master in the list the detector asks nobody.
func TestSingleMasterNoDetector(t *testing.T) {
	t.Parallel()
	g, ms := newFakeGroup(t, 1)
	g.elect(ms[0])
	startAgent(t, ms[0], func(c *Config) { c.LeaderCheckInterval = time.Millisecond })
	ms[0].send(runTaskEvent("fw1", commandTask("s1", "sleep 60")))
	ms[0].waitState(t, "s1", mesos.TaskState_TASK_RUNNING)
	if n := ms[0].leaderQueries(); n != 0 {
		t.Errorf("single-master agent asked /agora/v1/leader %d times", n)
	}
}

// file:// names a file holding the list; it is read again on each
// reconnection, so an operator can point agents at new masters.
func TestFileMasterList(t *testing.T) {
	t.Parallel()
	g, ms := newFakeGroup(t, 2)
	g.elect(ms[1])
	path := filepath.Join(t.TempDir(), "masters")
	if err := os.WriteFile(path, []byte(deadAddr(t)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	startAgentNoWait(t, func(c *Config) {
		c.Master = "file://" + path
		c.BackoffMin, c.BackoffMax = 10*time.Millisecond, 50*time.Millisecond
	})
	if err := os.WriteFile(path, []byte(ms[0].addr()+",\n"+ms[1].addr()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "subscription through the new list", func() bool { return len(ms[1].subscriptions()) > 0 })

	// A list that turns bad is ignored: the agent keeps the last good one.
	if err := os.WriteFile(path, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	ms[1].dropStream()
	waitFor(t, 10*time.Second, "resubscription with the last good list", func() bool { return len(ms[1].subscriptions()) > 1 })
}

// A master that names another leader is not believed until that leader
// confirms it is elected.
func TestDetectorNeedsConfirmation(t *testing.T) {
	t.Parallel()
	g, ms := newFakeGroup(t, 3)
	g.elect(ms[0])
	ms[1].mu.Lock()
	ms[1].leaderSays = ms[2].addr() // stale or wrong: ms[2] is a standby
	ms[1].mu.Unlock()
	startAgent(t, ms[0], func(c *Config) {
		c.Master = addrs(ms...)
		c.LeaderCheckInterval = 10 * time.Millisecond
	})
	// ms[2] is asked directly in turn and to confirm ms[1]'s claim.
	waitFor(t, 10*time.Second, "claims checked with ms[2]", func() bool { return ms[2].leaderQueries() >= 6 })
	if n := len(ms[2].subscriptions()); n != 0 {
		t.Errorf("an unconfirmed leader got %d subscriptions", n)
	}
	if n := len(ms[0].subscriptions()); n != 1 {
		t.Errorf("the leader got %d subscriptions, want 1", n)
	}
}

// An agent that went round the whole group during an election (every
// master answering 503) waits its backoff; the detector ends the wait as
// soon as a leader confirms itself, instead of up to a backoff later.
func TestBackoffEndsWhenLeaderFound(t *testing.T) {
	t.Parallel()
	g, ms := newFakeGroup(t, 3)
	g.elect(nil)
	startAgentNoWait(t, func(c *Config) {
		c.Master = addrs(ms...)
		c.LeaderCheckInterval = 50 * time.Millisecond
		c.BackoffMin, c.BackoffMax = time.Minute, time.Minute
	})
	waitFor(t, 10*time.Second, "a round of 503s", func() bool {
		return ms[0].count503() >= 1 && ms[1].count503() >= 1 && ms[2].count503() >= 1
	})
	// The agent is in its backoff (30 s to a minute); the master it tried
	// last is the one elected, which the detector must not skip.
	for _, m := range ms {
		if len(m.subscriptions()) != 0 {
			t.Fatal("subscribed while no leader was elected")
		}
	}
	start := time.Now()
	g.elect(ms[2])
	waitFor(t, 10*time.Second, "subscription to the elected master", func() bool { return len(ms[2].subscriptions()) > 0 })
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the agent reached the new leader %v after its election", d)
	}
}
