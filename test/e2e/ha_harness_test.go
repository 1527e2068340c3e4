package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// haCluster is a group of `agora master --masters=…` processes and
// `agora agent --master=…` processes, each a real process on loopback.
type haCluster struct {
	t       *testing.T
	work    string
	addrs   []string
	masters []*proc // nil while stopped
	args    []string
	agents  []*proc
}

// freePorts returns n loopback addresses that were free a moment ago.
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var lns []net.Listener
	var out []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	for _, ln := range lns {
		_ = ln.Close()
	}
	return out
}

// haMasterArgs are short timeouts so that failures show in seconds.
var haMasterArgs = []string{"--raft_timeout=500ms", "--agent_reregister_timeout=4secs",
	"--agent_ping_timeout=250ms", "--max_agent_ping_timeouts=4", "--allocation_interval=100ms"}

func startHA(t *testing.T, masters, agents int, extra ...string) *haCluster {
	t.Helper()
	c := &haCluster{t: t, work: t.TempDir(), addrs: freePorts(t, masters), args: append(append([]string{}, haMasterArgs...), extra...)}
	c.masters = make([]*proc, masters)
	for i := range masters {
		c.startMaster(i)
	}
	c.waitLeader(20 * time.Second)
	for i := range agents {
		a := start(t, "agent", "--master="+c.list(), "--port=0",
			"--work_dir="+filepath.Join(c.work, "agent"+strconv.Itoa(i)),
			"--resources=cpus:2;mem:1024;disk:2048;ports:[31000-31099]")
		a.waitListening(t)
		c.agents = append(c.agents, a)
	}
	c.waitAgents(agents, 30*time.Second)
	// Runs after the frameworks' cleanups (their TEARDOWN) and before the
	// agents stop: wait until the agents have shut the executors down.
	t.Cleanup(func() { c.waitNoExecutors(15 * time.Second) })
	return c
}

// waitNoExecutors waits, bounded, until no running agent lists a live
// executor.
func (c *haCluster) waitNoExecutors(d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		busy := false
		for _, a := range c.agents {
			if a == nil {
				continue
			}
			select {
			case <-a.done:
				continue
			default:
			}
			var st struct {
				Frameworks []struct{ Executors []any } `json:"frameworks"`
			}
			m := listenRE.FindStringSubmatch(a.output())
			if m == nil || getJSON(c.t, "http://"+m[1]+"/state", &st) != nil {
				continue
			}
			for _, f := range st.Frameworks {
				if len(f.Executors) > 0 {
					busy = true
				}
			}
		}
		if !busy {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Logf("executors still running on the agents after %v", d)
}

func (c *haCluster) list() string { return strings.Join(c.addrs, ",") }

func (c *haCluster) startMaster(i int) {
	_, port, _ := net.SplitHostPort(c.addrs[i])
	args := append([]string{"master", "--port=" + port, "--masters=" + c.list(),
		"--work_dir=" + filepath.Join(c.work, "master"+strconv.Itoa(i))}, c.args...)
	c.masters[i] = start(c.t, args...)
	c.masters[i].waitListening(c.t)
}

// kill9 kills master i at once.
func (c *haCluster) kill9(i int) {
	p := c.masters[i]
	_ = p.cmd.Process.Kill()
	<-p.done
	c.masters[i] = nil
}

func (c *haCluster) signal(i int, sig syscall.Signal) {
	if err := c.masters[i].cmd.Process.Signal(sig); err != nil {
		c.t.Fatal(err)
	}
}

// leaderInfo is /agora/v1/leader.
type leaderInfo struct {
	Leader  string `json:"leader"`
	Self    string `json:"self"`
	Elected bool   `json:"elected"`
	Term    float64
}

var quickClient = &http.Client{Timeout: 2 * time.Second}

func askLeader(addr string) (leaderInfo, error) {
	var li leaderInfo
	resp, err := quickClient.Get("http://" + addr + "/agora/v1/leader")
	if err != nil {
		return li, err
	}
	defer resp.Body.Close()
	return li, json.NewDecoder(resp.Body).Decode(&li)
}

// leader returns the index of the master that says it leads, or -1.
func (c *haCluster) leader() int {
	for i, p := range c.masters {
		if p == nil {
			continue
		}
		if li, err := askLeader(c.addrs[i]); err == nil && li.Elected {
			return i
		}
	}
	return -1
}

func (c *haCluster) waitLeader(d time.Duration) int {
	c.t.Helper()
	var l int
	waitFor(c.t, d, "a leading master", func() bool { l = c.leader(); return l >= 0 })
	return l
}

// activeAgents counts the active agents in the leader's /master/state.
func (c *haCluster) activeAgents() int {
	l := c.leader()
	if l < 0 {
		return -1
	}
	var st struct{ Slaves []struct{ Active bool } }
	if err := getJSON(c.t, "http://"+c.addrs[l]+"/master/state", &st); err != nil {
		return -1
	}
	n := 0
	for _, s := range st.Slaves {
		if s.Active {
			n++
		}
	}
	return n
}

func (c *haCluster) waitAgents(n int, d time.Duration) {
	c.t.Helper()
	waitFor(c.t, d, fmt.Sprintf("%d agents active on the leader", n), func() bool { return c.activeAgents() == n })
}

// haFramework is a framework that survives master failover the way the
// Mesos HA guide asks: it finds the leader (any master, following 307),
// re-subscribes with its framework id and failover_timeout, and retries
// its calls on the new leader. JSON over HTTP, nothing from Agora.
type haFramework struct {
	t       *testing.T
	masters []string
	info    map[string]any

	mu       sync.Mutex
	leader   string
	streamID string
	id       string
	// history is every status the framework was told, per task, in order.
	history map[string][]string
	events  chan map[string]any
	subs    int // successful subscriptions
	// tornDown is set once the test tore the framework down: an ERROR
	// ("Framework has been removed") is then expected.
	tornDown bool
	cancel   context.CancelFunc
	done     chan struct{}
}

func newHAFramework(t *testing.T, masters []string, name string, partitionAware bool, extra ...map[string]any) *haFramework {
	info := map[string]any{"user": "root", "name": name, "failover_timeout": 600.0}
	for _, e := range extra {
		for k, v := range e {
			info[k] = v
		}
	}
	if partitionAware {
		info["capabilities"] = []any{map[string]any{"type": "PARTITION_AWARE"}}
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &haFramework{t: t, masters: masters, info: info, history: map[string][]string{},
		events: make(chan map[string]any, 4096), cancel: cancel, done: make(chan struct{})}
	go f.run(ctx)
	t.Cleanup(func() {
		// Tear the framework down while the cluster still runs, so that
		// its executors (checkpointed ones survive an agent's SIGTERM) do
		// not outlive the test.
		f.teardown()
		cancel()
		<-f.done
	})
	waitFor(t, 30*time.Second, "framework to subscribe", func() bool { return f.subscriptions() > 0 })
	return f
}

func (f *haFramework) subscriptions() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.subs
}

func (f *haFramework) frameworkID() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.id
}

// run subscribes and re-subscribes until ctx ends.
func (f *haFramework) run(ctx context.Context) {
	defer close(f.done)
	next := 0
	for ctx.Err() == nil {
		target := f.masters[next%len(f.masters)]
		next++
		for hop := 0; hop < 3 && ctx.Err() == nil; hop++ {
			resp, err := f.subscribeTo(ctx, target)
			if err != nil {
				break
			}
			if resp.StatusCode == http.StatusTemporaryRedirect {
				target = strings.TrimPrefix(resp.Header.Get("Location"), "//")
				target, _, _ = strings.Cut(target, "/")
				resp.Body.Close()
				continue
			}
			if resp.StatusCode != http.StatusOK {
				resp.Body.Close()
				break
			}
			f.serve(target, resp)
			next = 0
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (f *haFramework) subscribeTo(ctx context.Context, addr string) (*http.Response, error) {
	info := map[string]any{}
	for k, v := range f.info {
		info[k] = v
	}
	call := map[string]any{"type": "SUBSCRIBE", "subscribe": map[string]any{"framework_info": info}}
	if id := f.frameworkID(); id != "" {
		info["id"] = map[string]any{"value": id}
		call["framework_id"] = map[string]any{"value": id}
	}
	body, _ := json.Marshal(call)
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/api/v1/scheduler", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return client.Do(req)
}

// serve reads one subscription until it ends.
func (f *haFramework) serve(addr string, resp *http.Response) {
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		n, err := strconv.Atoi(strings.TrimSpace(line))
		if err != nil {
			return
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return
		}
		var ev map[string]any
		if json.Unmarshal(buf, &ev) != nil {
			return
		}
		switch ev["type"] {
		case "SUBSCRIBED":
			id := ev["subscribed"].(map[string]any)["framework_id"].(map[string]any)["value"].(string)
			f.mu.Lock()
			if f.id != "" && f.id != id {
				f.t.Errorf("framework id changed on failover: %s -> %s", f.id, id)
			}
			f.id, f.leader, f.streamID = id, addr, resp.Header.Get("Mesos-Stream-Id")
			f.subs++
			f.mu.Unlock()
			// Offers of an earlier subscription are void now.
			for drained := false; !drained; {
				select {
				case <-f.events:
				default:
					drained = true
				}
			}
		case "UPDATE":
			st := ev["update"].(map[string]any)["status"].(map[string]any)
			tid := st["task_id"].(map[string]any)["value"].(string)
			f.mu.Lock()
			f.history[tid] = append(f.history[tid], st["state"].(string))
			f.mu.Unlock()
			if uuid, ok := st["uuid"]; ok {
				go f.call(map[string]any{"type": "ACKNOWLEDGE", "acknowledge": map[string]any{
					"agent_id": st["agent_id"], "task_id": st["task_id"], "uuid": uuid}})
			}
		case "ERROR":
			f.mu.Lock()
			expected := f.tornDown
			f.mu.Unlock()
			if !expected {
				f.t.Errorf("ERROR event: %v", ev)
			}
			return
		}
		select {
		case f.events <- ev:
		default:
		}
	}
}

// call posts a call to the master the framework is subscribed to; it
// reports whether the master accepted it (202).
func (f *haFramework) call(c map[string]any) bool {
	f.mu.Lock()
	addr, sid, id := f.leader, f.streamID, f.id
	f.mu.Unlock()
	c["framework_id"] = map[string]any{"value": id}
	body, _ := json.Marshal(c)
	req, _ := http.NewRequest("POST", "http://"+addr+"/api/v1/scheduler", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Mesos-Stream-Id", sid)
	resp, err := quickClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusAccepted
}

// states returns a copy of what the framework was told about task id.
func (f *haFramework) states(id string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.history[id]...)
}

// forget drops what the framework was told about id.
func (f *haFramework) forget(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.history, id)
}

// lastState is the latest state the framework was told for id.
func (f *haFramework) lastState(id string) string {
	return last(f.states(id))
}

// offer waits for an offer (from agent, if not empty) and returns it.
func (f *haFramework) offer(agent string, d time.Duration) map[string]any {
	f.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev := <-f.events:
			if ev["type"] != "OFFERS" {
				continue
			}
			for _, o := range ev["offers"].(map[string]any)["offers"].([]any) {
				o := o.(map[string]any)
				if agent == "" || o["agent_id"].(map[string]any)["value"] == agent {
					return o
				}
			}
		case <-deadline:
			f.t.Fatalf("no offer within %s", d)
		}
	}
}

// launch launches a task running cmd on the offer.
func (f *haFramework) launch(o map[string]any, id, cmd string) bool {
	return f.call(map[string]any{"type": "ACCEPT", "accept": map[string]any{
		"offer_ids": []any{o["id"]},
		"operations": []any{map[string]any{"type": "LAUNCH", "launch": map[string]any{"task_infos": []any{map[string]any{
			"name": id, "task_id": map[string]any{"value": id}, "agent_id": o["agent_id"],
			"resources": []any{
				map[string]any{"name": "cpus", "type": "SCALAR", "scalar": map[string]any{"value": 0.1}},
				map[string]any{"name": "mem", "type": "SCALAR", "scalar": map[string]any{"value": 32}},
			},
			"command": map[string]any{"value": cmd},
		}}}}},
		"filters": map[string]any{"refuse_seconds": 0.1},
	}})
}

// reconcile asks for the state of every task (implicit reconciliation).
func (f *haFramework) reconcile() bool {
	return f.call(map[string]any{"type": "RECONCILE", "reconcile": map[string]any{}})
}

// checkNoResurrection fails the test if any task went from a terminal
// state back to a non-terminal one.
func (f *haFramework) checkNoResurrection() {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, states := range f.history {
		terminal := ""
		for _, s := range states {
			if terminal != "" && !isTerminalState(s) {
				f.t.Errorf("task %s came back after %s: %v", id, terminal, states)
				break
			}
			if isTerminalState(s) {
				terminal = s
			}
		}
	}
}

func isTerminalState(s string) bool {
	switch s {
	case "TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR", "TASK_DROPPED",
		"TASK_GONE", "TASK_GONE_BY_OPERATOR":
		return true
	}
	return false
}

func agentIDOf(o map[string]any) string { return o["agent_id"].(map[string]any)["value"].(string) }

// dump writes the history on failure.
func (f *haFramework) dump() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, _ := json.MarshalIndent(f.history, "", " ")
	return string(b)
}

// waitTaskGone waits until the agent at addr no longer lists the task in
// its /state (it was killed there).
func waitTaskGone(t *testing.T, addr, id string) {
	t.Helper()
	waitFor(t, 20*time.Second, "task "+id+" gone from the agent", func() bool {
		var st struct {
			Frameworks []struct {
				Executors []struct{ Tasks []struct{ ID string } }
			}
		}
		if getJSON(t, "http://"+addr+"/state", &st) != nil {
			return false
		}
		for _, fw := range st.Frameworks {
			for _, e := range fw.Executors {
				for _, tk := range e.Tasks {
					if tk.ID == id {
						return false
					}
				}
			}
		}
		return true
	})
}

// teardown tears the framework down (once the test is done with it).
func (f *haFramework) teardown() {
	f.mu.Lock()
	done := f.tornDown || f.id == ""
	f.tornDown = true
	f.mu.Unlock()
	if !done {
		f.call(map[string]any{"type": "TEARDOWN"})
	}
}

// agentProc is the agent process whose /state has the agent id.
func (c *haCluster) agentProc(id string) *proc {
	c.t.Helper()
	for _, a := range c.agents {
		var st struct{ ID string }
		if getJSON(c.t, "http://"+a.waitListening(c.t)+"/state", &st) == nil && st.ID == id {
			return a
		}
	}
	c.t.Fatalf("no agent process has id %s", id)
	return nil
}
