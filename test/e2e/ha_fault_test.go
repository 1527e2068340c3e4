package e2e

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestHARandomFaults is a randomized fault test, bounded in rounds and
// time: a framework launches and kills tasks while the test kills, pauses
// and restarts random masters and agents. At the end, with every fault
// healed, it checks the history the framework saw:
//
//   - no task goes from a terminal state back to a non-terminal one;
//   - no task id is launched twice;
//   - every task the master still knows ends in the state the framework
//     was last told, and every task the framework believes live is live
//     on the master;
//   - every task ends in exactly one kind of terminal state.
//
// AGORA_FAULT_SEED replays a run; AGORA_FAULT_ROUNDS sets its length.
func TestHARandomFaults(t *testing.T) {
	// make test runs a short run (4 rounds) of a new seed each time;
	// make test-faults runs longer ones.
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("AGORA_FAULT_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	rounds := 4
	if s := os.Getenv("AGORA_FAULT_ROUNDS"); s != "" {
		rounds, _ = strconv.Atoi(s)
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	t.Logf("seed %d (AGORA_FAULT_SEED=%d replays it), %d rounds", seed, seed, rounds)

	c := startHA(t, 3, 0)
	agentAddrs := freePorts(t, 2)
	agents := make([]*proc, 2)
	startAgent := func(i int) {
		_, port, _ := net.SplitHostPort(agentAddrs[i])
		agents[i] = start(t, "agent", "--master="+c.list(), "--port="+port,
			"--work_dir="+filepath.Join(c.work, "agent"+strconv.Itoa(i)),
			"--resources=cpus:4;mem:2048;disk:2048;ports:[31000-31099]")
		agents[i].waitListening(t)
	}
	for i := range agents {
		startAgent(i)
	}
	c.waitAgents(2, 30*time.Second)

	f := newHAFramework(t, c.addrs, "chaos", false, map[string]any{"checkpoint": true})
	var history []string
	logf := func(format string, args ...any) {
		history = append(history, fmt.Sprintf("%6.2fs ", time.Since(testStart(t)).Seconds())+fmt.Sprintf(format, args...))
	}

	// The workload: launch short and long tasks, kill some.
	var mu sync.Mutex
	launched := map[string]int{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		wrng := rand.New(rand.NewPCG(seed+1, seed+2))
		n := 0
		for {
			select {
			case <-stop:
				return
			case ev := <-f.events:
				if ev["type"] != "OFFERS" {
					continue
				}
				for _, o := range ev["offers"].(map[string]any)["offers"].([]any) {
					if n >= 60 {
						f.call(map[string]any{"type": "DECLINE", "decline": map[string]any{
							"offer_ids": []any{o.(map[string]any)["id"]}, "filters": map[string]any{"refuse_seconds": 0.2}}})
						continue
					}
					n++
					id := fmt.Sprintf("c%03d", n)
					cmd := "sleep 1000"
					if wrng.IntN(2) == 0 {
						cmd = fmt.Sprintf("sleep 0.%d", 1+wrng.IntN(9))
					}
					mu.Lock()
					launched[id]++
					mu.Unlock()
					if !f.launch(o.(map[string]any), id, cmd) {
						mu.Lock()
						launched[id]-- // refused: never launched
						mu.Unlock()
					}
					// Kill a task the framework believes live, as a real
					// framework would (a KILL of a task the master no longer
					// knows is answered as a reconciliation: TASK_LOST).
					if wrng.IntN(4) == 0 && n > 3 {
						victim := fmt.Sprintf("c%03d", 1+wrng.IntN(n-1))
						if s := f.lastState(victim); s != "" && !isTerminalState(s) {
							f.call(map[string]any{"type": "KILL", "kill": map[string]any{"task_id": map[string]any{"value": victim}}})
						}
					}
				}
			}
		}
	}()

	deadline := time.Now().Add(4 * time.Minute)
	for r := 0; r < rounds && time.Now().Before(deadline); r++ {
		switch k := rng.IntN(5); k {
		case 0: // kill -9 the leader, restart it once another leads
			l := c.leader()
			if l < 0 {
				continue
			}
			logf("round %d: kill -9 leader master %d", r, l)
			c.kill9(l)
			c.waitLeader(20 * time.Second)
			c.startMaster(l)
		case 1: // pause a random master
			i := rng.IntN(3)
			d := time.Duration(500+rng.IntN(2500)) * time.Millisecond
			logf("round %d: SIGSTOP master %d for %v", r, i, d)
			c.signal(i, syscall.SIGSTOP)
			time.Sleep(d)
			c.signal(i, syscall.SIGCONT)
		case 2: // kill -9 a standby and restart it
			l := c.leader()
			i := (l + 1 + rng.IntN(2)) % 3
			logf("round %d: kill -9 standby master %d and restart it", r, i)
			c.kill9(i)
			c.startMaster(i)
		case 3: // pause an agent, sometimes past the ping budget
			i := rng.IntN(2)
			d := time.Duration(200+rng.IntN(2500)) * time.Millisecond
			logf("round %d: SIGSTOP agent %d for %v", r, i, d)
			_ = agents[i].cmd.Process.Signal(syscall.SIGSTOP)
			time.Sleep(d)
			_ = agents[i].cmd.Process.Signal(syscall.SIGCONT)
		case 4: // kill -9 an agent and restart it on its work dir
			i := rng.IntN(2)
			logf("round %d: kill -9 agent %d and restart it", r, i)
			_ = agents[i].cmd.Process.Kill()
			<-agents[i].done
			startAgent(i)
		}
		// Let the workload run between faults.
		time.Sleep(time.Duration(500+rng.IntN(1500)) * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	logf("healed; reconciling")

	// Every fault is healed: one leader, both agents back.
	l := c.waitLeader(30 * time.Second)
	c.waitAgents(2, 60*time.Second)
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf(format, args...)
	}
	defer func() {
		if t.Failed() {
			t.Logf("seed %d\nfaults:\n%s\nhistory:\n%s", seed, joinLines(history), f.dump())
		}
	}()

	// Reconcile until the framework's view is stable and matches the
	// master's: every task the master knows, in the same state.
	type mtask struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	masterTasks := func() map[string]string {
		var st struct {
			Frameworks []struct {
				ID string  `json:"id"`
				T  []mtask `json:"tasks"`
				C  []mtask `json:"completed_tasks"`
				U  []mtask `json:"unreachable_tasks"`
			} `json:"frameworks"`
		}
		out := map[string]string{}
		if getJSON(t, "http://"+c.addrs[l]+"/master/state", &st) != nil {
			return nil
		}
		for _, fw := range st.Frameworks {
			if fw.ID != f.frameworkID() {
				continue
			}
			for _, list := range [][]mtask{fw.C, fw.U, fw.T} {
				for _, tk := range list {
					out[tk.ID] = tk.State
				}
			}
		}
		return out
	}
	var mt map[string]string
	defer func() {
		if t.Failed() && mt != nil {
			for id, state := range mt {
				if got := f.lastState(id); got != state {
					t.Logf("task %s: the master says %s, the framework was last told %s (%v)", id, state, got, f.states(id))
				}
			}
		}
	}()
	waitFor(t, 120*time.Second, "the framework's view to match /master/state", func() bool {
		f.reconcile()
		// Explicit reconciliation of what the framework believes live, as
		// the Mesos HA guide asks of frameworks after a failover.
		var live []any
		f.mu.Lock()
		for id, states := range f.history {
			if s := last(states); s != "" && !isTerminalState(s) {
				live = append(live, map[string]any{"task_id": map[string]any{"value": id}})
			}
		}
		f.mu.Unlock()
		if len(live) > 0 {
			f.call(map[string]any{"type": "RECONCILE", "reconcile": map[string]any{"tasks": live}})
		}
		time.Sleep(200 * time.Millisecond)
		if l = c.leader(); l < 0 {
			return false
		}
		mt = masterTasks()
		if mt == nil {
			return false
		}
		for id, state := range mt {
			if f.lastState(id) != state {
				return false
			}
		}
		return true
	})

	mu.Lock()
	for id, n := range launched {
		if n > 1 {
			fail("task %s launched %d times", id, n)
		}
	}
	f.checkNoResurrection()
	f.mu.Lock()
	for id, states := range f.history {
		terminal := ""
		for _, s := range states {
			if isTerminalState(s) {
				if terminal != "" && terminal != s {
					fail("task %s ended twice, differently: %v", id, states)
					break
				}
				terminal = s
			}
		}
		if terminal == "" {
			if _, known := mt[id]; !known {
				fail("task %s is live for the framework (%v) but unknown to the master", id, states)
			}
		}
	}
	f.mu.Unlock()
	t.Logf("%d tasks launched over %d rounds; faults:\n%s", len(launched), rounds, joinLines(history))
	mu.Unlock()
	// Leave no executor behind (the framework checkpoints: its executors
	// would survive the agents' SIGTERM).
	f.teardown()
	c.agents = agents
	c.waitNoExecutors(20 * time.Second)
}

var (
	startsMu sync.Mutex
	starts   = map[*testing.T]time.Time{}
)

// testStart is when the test first asked (the fault log's origin).
func testStart(t *testing.T) time.Time {
	startsMu.Lock()
	defer startsMu.Unlock()
	if s, ok := starts[t]; ok {
		return s
	}
	starts[t] = time.Now()
	return starts[t]
}

func joinLines(l []string) string {
	out := ""
	for _, s := range l {
		out += s + "\n"
	}
	return out
}
