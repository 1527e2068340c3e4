package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// haLaunch launches a `sleep` task on agent (any agent if "") and waits
// until the framework sees it running.
func haLaunch(t *testing.T, f *haFramework, agent, id string) string {
	t.Helper()
	var o map[string]any
	waitFor(t, 60*time.Second, id+" running", func() bool {
		o = f.offer(agent, 20*time.Second)
		if !f.launch(o, id, "sleep 1000") {
			return false
		}
		// A launch on an offer voided by a failover ends TASK_LOST
		// (REASON_INVALID_OFFERS): take the next offer.
		for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			switch s := f.lastState(id); {
			case s == "TASK_RUNNING":
				return true
			case isTerminalState(s):
				f.forget(id) // the test's own retry, not a resurrection
				return false
			}
		}
		return false
	})
	return agentIDOf(o)
}

// reconcileAll reconciles until every task in ids is reported state.
func reconcileAll(t *testing.T, f *haFramework, d time.Duration, state string, ids ...string) {
	t.Helper()
	before := map[string]int{}
	for _, id := range ids {
		before[id] = len(f.states(id))
	}
	waitFor(t, d, "reconciliation to answer "+state+" for "+strings.Join(ids, ","), func() bool {
		f.reconcile()
		time.Sleep(100 * time.Millisecond)
		for _, id := range ids {
			if len(f.states(id)) <= before[id] || f.lastState(id) != state {
				return false
			}
		}
		return true
	})
}

func status(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, strings.TrimSpace(string(b))
}

// TestHALeaderKilled: three masters and two agents; the leader is killed
// with -9 under a subscribed framework with running tasks. A standby is
// elected, both agents re-subscribe to it with their tasks, the framework
// re-subscribes with its id and reconciles every task TASK_RUNNING, and
// new tasks launch. Before that, standbys redirect as Mesos does.
func TestHALeaderKilled(t *testing.T) {
	c := startHA(t, 3, 2)
	l := c.leader()
	leaderAddr := c.addrs[l]
	standby := (l + 1) % 3

	// Standbys: 307 to the leader for the APIs, 307 //leader for
	// /master/redirect, /health served locally, master/elected 0.
	code, h, _ := status(t, "http://"+c.addrs[standby]+"/master/state?jsonp=x")
	if code != 307 || h.Get("Location") != "//"+leaderAddr+"/master/state?jsonp=x" {
		t.Errorf("standby /master/state: %d Location %q", code, h.Get("Location"))
	}
	code, h, _ = status(t, "http://"+c.addrs[standby]+"/master/redirect")
	if code != 307 || h.Get("Location") != "//"+leaderAddr {
		t.Errorf("standby /master/redirect: %d Location %q", code, h.Get("Location"))
	}
	if code, _, _ = status(t, "http://"+c.addrs[standby]+"/health"); code != 200 {
		t.Errorf("standby /health: %d", code)
	}
	var snap map[string]float64
	if err := getJSON(t, "http://"+c.addrs[standby]+"/metrics/snapshot", &snap); err != nil || snap["master/elected"] != 0 {
		t.Errorf("standby master/elected = %v (%v)", snap["master/elected"], err)
	}
	if err := getJSON(t, "http://"+leaderAddr+"/metrics/snapshot", &snap); err != nil || snap["master/elected"] != 1 {
		t.Errorf("leader master/elected = %v (%v)", snap["master/elected"], err)
	}

	f := newHAFramework(t, c.addrs, "ha", false)
	a0 := haLaunch(t, f, "", "t0")
	haLaunch(t, f, "", "t1")
	var agentsBefore []string
	var st struct {
		Slaves []struct{ ID string }
	}
	if err := getJSON(t, "http://"+leaderAddr+"/master/state", &st); err != nil {
		t.Fatal(err)
	}
	for _, s := range st.Slaves {
		agentsBefore = append(agentsBefore, s.ID)
	}

	killed := time.Now()
	c.kill9(l)
	nl := c.waitLeader(15 * time.Second)
	elected := time.Since(killed)
	c.waitAgents(2, 20*time.Second)
	agentsBack := time.Since(killed)
	reconcileAll(t, f, 20*time.Second, "TASK_RUNNING", "t0", "t1")
	t.Logf("kill -9 of the leader: new leader %s after %v, agents back after %v, tasks reconciled RUNNING after %v",
		c.addrs[nl], elected, agentsBack, time.Since(killed))

	// The same agents (ids) came back, not new ones.
	if err := getJSON(t, "http://"+c.addrs[nl]+"/master/state", &st); err != nil {
		t.Fatal(err)
	}
	for _, s := range st.Slaves {
		if !slices.Contains(agentsBefore, s.ID) {
			t.Errorf("agent %s is new after the failover (before: %v)", s.ID, agentsBefore)
		}
	}
	haLaunch(t, f, a0, "t2")
	f.checkNoResurrection()
	if t.Failed() {
		t.Log(f.dump())
	}
}

// TestHANoQuorum: with two of three masters down the last one answers
// 503 "No leader elected" on the APIs (and 200 on /health); once one
// comes back a leader is elected and the agents return to it.
func TestHANoQuorum(t *testing.T) {
	c := startHA(t, 3, 1)
	l := c.leader()
	c.kill9(l)
	other := (l + 1) % 3
	c.kill9(other)
	last := (l + 2) % 3
	waitFor(t, 10*time.Second, "the last master to answer 503", func() bool {
		code, _, body := status(t, "http://"+c.addrs[last]+"/master/state")
		return code == 503 && body == "No leader elected"
	})
	code, _, body := status(t, "http://"+c.addrs[last]+"/master/redirect")
	if code != 503 {
		t.Errorf("/master/redirect without a leader: %d %s", code, body)
	}
	if code, _, _ := status(t, "http://"+c.addrs[last]+"/health"); code != 200 {
		t.Errorf("/health without a leader: %d", code)
	}
	c.startMaster(l)
	c.waitLeader(20 * time.Second)
	c.waitAgents(1, 30*time.Second)
}

// TestHALeaderPaused: a SIGSTOPped leader is replaced within seconds; the
// agents follow the new leader without waiting for ping timeouts, and
// the old leader, resumed, redirects to the new one.
func TestHALeaderPaused(t *testing.T) {
	c := startHA(t, 3, 2)
	f := newHAFramework(t, c.addrs, "paused", false)
	haLaunch(t, f, "", "p0")
	l := c.leader()
	c.signal(l, syscall.SIGSTOP)
	stopped := time.Now()
	resumed := false
	defer func() {
		if !resumed {
			c.signal(l, syscall.SIGCONT)
		}
	}()
	var nl int
	waitFor(t, 15*time.Second, "a new leader", func() bool { nl = c.leader(); return nl >= 0 && nl != l })
	c.waitAgents(2, 15*time.Second)
	t.Logf("SIGSTOP of the leader: agents active on the new leader after %v", time.Since(stopped))
	// The framework's stream to the paused master is silent, not broken
	// (as with Mesos, only heartbeats would tell); once resumed, the old
	// leader finds itself deposed and closes it.
	c.signal(l, syscall.SIGCONT)
	resumed = true
	waitFor(t, 10*time.Second, "the resumed master to redirect", func() bool {
		code, h, _ := status(t, "http://"+c.addrs[l]+"/master/state")
		return code == 307 && h.Get("Location") == "//"+c.addrs[nl]+"/master/state"
	})
	reconcileAll(t, f, 20*time.Second, "TASK_RUNNING", "p0")
	haLaunch(t, f, "", "p1")
	f.checkNoResurrection()
}

// TestHAReplacedMaster: a master restarted with an empty work dir catches
// up from the leader; with the old leader gone it can lead, knowing the
// registry's agents.
func TestHAReplacedMaster(t *testing.T) {
	c := startHA(t, 3, 1)
	l := c.leader()
	r := (l + 1) % 3
	c.kill9(r)
	if err := os.RemoveAll(filepath.Join(c.work, "master"+strconv.Itoa(r))); err != nil {
		t.Fatal(err)
	}
	c.startMaster(r)
	waitFor(t, 10*time.Second, "the replaced master to follow the leader", func() bool {
		li, err := askLeader(c.addrs[r])
		return err == nil && li.Leader == c.addrs[l]
	})
	// Leave only the replaced master and one other: they must elect a
	// leader that knows the agent (from the replicated registry).
	c.kill9(l)
	c.waitLeader(20 * time.Second)
	c.waitAgents(1, 30*time.Second)
}

// TestHAPartitionedAgentThenFailover is the seeds' scenario: an agent is
// cut off past the ping budget (its tasks are reported lost), the leader
// fails over, then the agent heals. A framework that is not
// partition-aware never sees its task again after TASK_LOST (the task is
// killed); a partition-aware one sees TASK_UNREACHABLE, then TASK_RUNNING.
func TestHAPartitionedAgentThenFailover(t *testing.T) {
	c := startHA(t, 3, 2)
	plain := newHAFramework(t, c.addrs, "plain", false)
	aware := newHAFramework(t, c.addrs, "aware", true)
	agent := haLaunch(t, plain, "", "lost-me")
	haLaunch(t, aware, agent, "unreachable-me")

	victim := c.agentProc(agent)
	_ = victim.cmd.Process.Signal(syscall.SIGSTOP)
	resumed := false
	defer func() {
		if !resumed {
			_ = victim.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	waitFor(t, 20*time.Second, "TASK_LOST", func() bool { return plain.lastState("lost-me") == "TASK_LOST" })
	waitFor(t, 20*time.Second, "TASK_UNREACHABLE", func() bool { return aware.lastState("unreachable-me") == "TASK_UNREACHABLE" })

	l := c.leader()
	c.kill9(l)
	c.waitLeader(15 * time.Second)
	_ = victim.cmd.Process.Signal(syscall.SIGCONT)
	resumed = true
	c.waitAgents(2, 30*time.Second)
	waitFor(t, 20*time.Second, "the partition-aware task back to RUNNING", func() bool {
		aware.reconcile()
		time.Sleep(100 * time.Millisecond)
		return aware.lastState("unreachable-me") == "TASK_RUNNING"
	})
	// The lost task is killed on the agent: its sandbox's executor ends.
	waitTaskGone(t, victim.waitListening(t), "lost-me")
	// Reconciliation keeps answering lost for it.
	plain.call(map[string]any{"type": "RECONCILE", "reconcile": map[string]any{"tasks": []any{map[string]any{
		"task_id": map[string]any{"value": "lost-me"}, "agent_id": map[string]any{"value": agent}}}}})
	time.Sleep(300 * time.Millisecond)
	plain.checkNoResurrection()
	aware.checkNoResurrection()
	if s := plain.states("lost-me"); slices.Contains(s[slices.Index(s, "TASK_LOST"):], "TASK_RUNNING") {
		t.Errorf("the lost task was reported running again: %v", s)
	}
	if t.Failed() {
		t.Log("plain:", plain.dump(), "aware:", aware.dump())
	}
}

// TestWebUIFollowsLeader: the console opened on a standby moves to the
// leader, and when the leader is killed it moves to the new one by asking
// the other masters of the group.
func TestWebUIFollowsLeader(t *testing.T) {
	ctx := newBrowser(t, 90*time.Second)
	c := startHA(t, 3, 1)
	l := c.leader()
	standby := (l + 1) % 3
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+c.addrs[standby]+"/")); err != nil {
		t.Fatal(err)
	}
	waitHost(t, ctx, 20*time.Second, c.addrs[l])
	waitJS(t, ctx, 20*time.Second, "the overview to name the leader", textHas("main", "Leading master: "+c.addrs[l]))
	c.kill9(l)
	nl := c.waitLeader(20 * time.Second)
	waitHost(t, ctx, 30*time.Second, c.addrs[nl])
	waitJS(t, ctx, 20*time.Second, "the overview to name the new leader", textHas("main", "Leading master: "+c.addrs[nl]))
}

// waitHost waits until the page is served from host; evaluations that
// fail while the page navigates are retried.
func waitHost(t *testing.T, ctx context.Context, d time.Duration, host string) {
	t.Helper()
	var got string
	waitFor(t, d, "the console to be on "+host, func() bool {
		h, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.host`))
		got = h
		return err == nil && h == host
	})
	_ = got
}
