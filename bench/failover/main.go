// Command failover measures master failover on a loopback group of
// `agora master --masters=…` processes with real `agora agent` processes
// and a framework on the Go SDK:
//
//  1. kill -9 of the leader → a new leader elected (its /agora/v1/leader
//     says elected);
//  2. → every agent active on it (/master/state);
//  3. → the framework, re-subscribed, reconciled every task TASK_RUNNING;
//
// each --rounds times (the killed master is restarted between rounds), and
// ACCEPT → TASK_RUNNING with 3 masters against 1, side by side: the cost
// of replication. It prints a table with the anchors of
// docs/performance.md.
//
//	go run ./bench/failover [--rounds=5] [--agents=2] [--tasks=10] [--launches=50]
//
// With --sim_agents=N the agents are N simulated ones of one `agora sim`
// process (no task processes; tasks run until killed), the group's size
// is what is measured, and the launch-latency comparison is skipped.
//
//	go run ./bench/failover --sim_agents=10000 [--rounds=3]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/bench/internal/build"
	"github.com/agora-dev/agora/sdk/scheduler"
	"google.golang.org/protobuf/proto"
)

func main() {
	rounds := flag.Int("rounds", 5, "failovers to measure")
	agents := flag.Int("agents", 2, "agent processes")
	tasks := flag.Int("tasks", 10, "long-running tasks the framework keeps across failovers")
	launches := flag.Int("launches", 50, "sequential launches per group size for ACCEPT → TASK_RUNNING")
	raftTimeout := flag.String("raft_timeout", "1secs", "the masters' --raft_timeout")
	bin := flag.String("agora", "", "agora binary (default: build ./cmd/agora)")
	flag.IntVar(&simAgents, "sim_agents", 0, "use this many simulated agents (one `agora sim` process) instead of --agents agent processes")
	flag.Parse()
	if simAgents > 0 {
		*agents = simAgents
		*launches = 0
	}
	log.SetFlags(0)
	log.SetPrefix("failover: ")

	work, err := os.MkdirTemp("", "agora-bench-failover-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)
	if *bin == "" {
		if *bin, err = build.Agora(context.Background(), work, true); err != nil {
			log.Fatalf("build agora: %v", err)
		}
	}

	var lat1, lat3 []time.Duration
	for _, n := range []int{1, 3} {
		if *launches == 0 {
			break
		}
		c := newGroup(*bin, filepath.Join(work, "lat"+strconv.Itoa(n)), n, *agents, *raftTimeout)
		fw := newFramework(c)
		lat := fw.sequential(*launches)
		if n == 1 {
			lat1 = lat
		} else {
			lat3 = lat
		}
		fw.stop()
		c.stop()
	}

	c := newGroup(*bin, filepath.Join(work, "failover"), 3, *agents, *raftTimeout)
	defer c.stop()
	fw := newFramework(c)
	defer fw.stop()
	ids := fw.keepRunning(*tasks)
	var elected, agentsBack, reconciled []time.Duration
	for r := range *rounds {
		l := c.leader()
		t0 := time.Now()
		c.kill(l)
		for nl := -1; nl < 0 || nl == l; nl = c.leader() {
			time.Sleep(5 * time.Millisecond)
		}
		elected = append(elected, time.Since(t0))
		for c.activeAgents() != *agents {
			time.Sleep(pollInterval())
		}
		agentsBack = append(agentsBack, time.Since(t0))
		fw.reconcileRunning(ids, t0)
		reconciled = append(reconciled, time.Since(t0))
		fmt.Fprintf(os.Stderr, "round %d: elected %v, agents %v, reconciled %v\n", r+1, elected[r], agentsBack[r], reconciled[r])
		c.start(l)
		for !c.follows(l) {
			time.Sleep(10 * time.Millisecond)
		}
	}

	kind := "agents"
	if simAgents > 0 {
		kind = "simulated agents (agora sim)"
	}
	fmt.Printf("master failover, 3 masters + %d %s + 1 framework with %d running tasks, loopback, --raft_timeout=%s, %d rounds:\n",
		*agents, kind, *tasks, *raftTimeout, *rounds)
	fmt.Printf("%-52s %8s %8s %8s   %s\n", "kill -9 of the leader →", "p50", "max", "min", "anchor")
	row := func(name string, d []time.Duration, anchor string) {
		fmt.Printf("%-52s %8s %8s %8s   %s\n", name, pct(d, 50), pct(d, 100), pct(d, 0), anchor)
	}
	row("new leader elected", elected, "")
	anchor := ""
	if simAgents > 0 {
		anchor = "Mesos 1.5, 10,000 agents: about 4.3 s; aim 1 s"
	}
	row("every agent active on it", agentsBack, anchor)
	row("framework reconciled every task TASK_RUNNING", reconciled, "Mesos 1.12 restarted standalone: 74.5 s; aim ≤ 3 s")
	if *launches == 0 {
		return
	}
	fmt.Printf("\nACCEPT → TASK_RUNNING, %d sequential `sleep` tasks each:\n", *launches)
	fmt.Printf("%-52s %8s %8s\n", "", "p50", "p99")
	fmt.Printf("%-52s %8s %8s\n", "1 master", pct(lat1, 50), pct(lat1, 99))
	fmt.Printf("%-52s %8s %8s\n", "3 masters (replicated registry)", pct(lat3, 50), pct(lat3, 99))
}

func pct(d []time.Duration, p int) string {
	if len(d) == 0 {
		return "-"
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s) - 1) * p / 100
	return s[i].Round(100 * time.Microsecond).String()
}

// group is a master group and its agents, each a child process.
type group struct {
	bin, work string
	addrs     []string
	args      []string
	masters   []*exec.Cmd
	agents    []*exec.Cmd
}

func freeAddrs(n int) []string {
	var lns []net.Listener
	var out []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			log.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

func newGroup(bin, work string, masters, agents int, raftTimeout string) *group {
	g := &group{bin: bin, work: work, addrs: freeAddrs(masters), masters: make([]*exec.Cmd, masters)}
	g.args = []string{"--raft_timeout=" + raftTimeout, "--allocation_interval=100ms", "--log_level=error"}
	for i := range masters {
		g.start(i)
	}
	for g.leader() < 0 {
		time.Sleep(10 * time.Millisecond)
	}
	if simAgents > 0 {
		cmd := exec.Command(bin, "sim", "--master="+strings.Join(g.addrs, ","), "--agents="+strconv.Itoa(simAgents),
			"--subscribe_rate=2000", "--task_duration=0", "--progress_interval=1h", "--log_level=error",
			"--resources=cpus:8;mem:8192;disk:1024;ports:[31000-31999]")
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			log.Fatal(err)
		}
		g.agents = append(g.agents, cmd)
		agents = 0
	}
	for i := range agents {
		cmd := exec.Command(bin, "agent", "--master="+strings.Join(g.addrs, ","), "--port=0", "--log_level=error",
			"--work_dir="+filepath.Join(work, "agent"+strconv.Itoa(i)), "--resources=cpus:8;mem:8192;disk:1024;ports:[31000-31999]")
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			log.Fatal(err)
		}
		g.agents = append(g.agents, cmd)
	}
	for want := max(agents, simAgents); g.activeAgents() != want; {
		time.Sleep(pollInterval())
	}
	return g
}

// simAgents is --sim_agents.
var simAgents int

// pollInterval is how often to ask the leader how many agents are active:
// with thousands of agents, polling as fast as for two would load it.
func pollInterval() time.Duration {
	if simAgents > 0 {
		return 50 * time.Millisecond
	}
	return 5 * time.Millisecond
}

func (g *group) start(i int) {
	_, port, _ := net.SplitHostPort(g.addrs[i])
	args := append([]string{"master", "--port=" + port, "--work_dir=" + filepath.Join(g.work, "master"+strconv.Itoa(i))}, g.args...)
	if len(g.addrs) > 1 {
		args = append(args, "--masters="+strings.Join(g.addrs, ","))
	}
	cmd := exec.Command(g.bin, args...)
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	g.masters[i] = cmd
}

func (g *group) kill(i int) {
	_ = g.masters[i].Process.Signal(syscall.SIGKILL)
	_ = g.masters[i].Wait()
	g.masters[i] = nil
}

func (g *group) stop() {
	for _, c := range append(g.agents, g.masters...) {
		if c != nil {
			_ = c.Process.Signal(syscall.SIGTERM)
			_ = c.Wait()
		}
	}
}

var client = &http.Client{Timeout: time.Second}

type leaderInfo struct {
	Leader  string `json:"leader"`
	Elected bool   `json:"elected"`
}

func (g *group) ask(i int) (leaderInfo, bool) {
	var li leaderInfo
	resp, err := client.Get("http://" + g.addrs[i] + "/agora/v1/leader")
	if err != nil {
		return li, false
	}
	defer resp.Body.Close()
	return li, json.NewDecoder(resp.Body).Decode(&li) == nil
}

func (g *group) leader() int {
	for i, m := range g.masters {
		if m == nil {
			continue
		}
		if li, ok := g.ask(i); ok && li.Elected {
			return i
		}
	}
	return -1
}

func (g *group) follows(i int) bool {
	li, ok := g.ask(i)
	return ok && li.Leader != "" && li.Leader != g.addrs[i]
}

func (g *group) activeAgents() int {
	l := g.leader()
	if l < 0 {
		return -1
	}
	if simAgents > 0 {
		// /master/state of thousands of agents is megabytes: read the
		// counter instead.
		resp, err := client.Get("http://" + g.addrs[l] + "/metrics/snapshot")
		if err != nil {
			return -1
		}
		defer resp.Body.Close()
		var m map[string]float64
		if json.NewDecoder(resp.Body).Decode(&m) != nil {
			return -1
		}
		return int(m["master/slaves_active"])
	}
	resp, err := client.Get("http://" + g.addrs[l] + "/master/state")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var st struct{ Slaves []struct{ Active bool } }
	if json.NewDecoder(resp.Body).Decode(&st) != nil {
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

// framework is an SDK framework that records when it learns each state.
type framework struct {
	scheduler.NopScheduler
	d      *scheduler.Driver
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	offers []*mesos.Offer
	seen   map[string]map[mesos.TaskState]time.Time
	latest map[string]mesos.TaskState
	agent  map[string]*mesos.AgentID
}

func newFramework(g *group) *framework {
	f := &framework{done: make(chan struct{}), seen: map[string]map[mesos.TaskState]time.Time{},
		latest: map[string]mesos.TaskState{}, agent: map[string]*mesos.AgentID{}}
	d, err := scheduler.NewDriver(scheduler.Config{
		Master: strings.Join(g.addrs, ","),
		Framework: &mesos.FrameworkInfo{User: proto.String("root"), Name: proto.String("bench-failover"),
			FailoverTimeout: proto.Float64(3600), Checkpoint: proto.Bool(true)},
		BackoffMin: 10 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		LeaderCheckInterval: 200 * time.Millisecond,
	}, f)
	if err != nil {
		log.Fatal(err)
	}
	f.d = d
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	go func() { defer close(f.done); _ = d.Run(ctx) }()
	return f
}

func (f *framework) stop() { f.cancel(); <-f.done }

func (f *framework) ResourceOffers(_ *scheduler.Driver, offers []*mesos.Offer) {
	f.mu.Lock()
	f.offers = append(f.offers, offers...)
	f.mu.Unlock()
}

func (f *framework) StatusUpdate(_ *scheduler.Driver, s *mesos.TaskStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := s.GetTaskId().GetValue()
	if f.seen[id] == nil {
		f.seen[id] = map[mesos.TaskState]time.Time{}
	}
	f.seen[id][s.GetState()] = time.Now()
	f.latest[id] = s.GetState()
	f.agent[id] = s.GetAgentId()
}

func (f *framework) takeOffer() *mesos.Offer {
	for {
		f.mu.Lock()
		if len(f.offers) > 0 {
			o := f.offers[0]
			f.offers = f.offers[1:]
			f.mu.Unlock()
			return o
		}
		f.mu.Unlock()
		time.Sleep(2 * time.Millisecond)
	}
}

func (f *framework) launch(id string) (time.Time, error) {
	o := f.takeOffer()
	t := &mesos.TaskInfo{
		Name: proto.String(id), TaskId: &mesos.TaskID{Value: proto.String(id)}, AgentId: o.AgentId,
		Resources: []*mesos.Resource{scheduler.Scalar("cpus", 0.01), scheduler.Scalar("mem", 8)},
		Command:   &mesos.CommandInfo{Value: proto.String("sleep 3600")},
	}
	start := time.Now()
	err := f.d.LaunchTasks([]*mesos.OfferID{o.Id}, []*mesos.TaskInfo{t}, &mesos.Filters{RefuseSeconds: proto.Float64(0)})
	return start, err
}

func (f *framework) state(id string) (mesos.TaskState, time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.latest[id], f.seen[id][mesos.TaskState_TASK_RUNNING]
}

func (f *framework) waitRunning(id string) time.Time {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if s, at := f.state(id); s == mesos.TaskState_TASK_RUNNING {
			return at
		}
		time.Sleep(time.Millisecond)
	}
	log.Fatalf("task %s not running after 30s", id)
	return time.Time{}
}

// sequential launches n tasks one at a time and returns ACCEPT →
// TASK_RUNNING for each; it kills them afterwards.
func (f *framework) sequential(n int) []time.Duration {
	var out []time.Duration
	for i := range n {
		id := fmt.Sprintf("seq-%d", i)
		start, err := f.launch(id)
		if err != nil {
			log.Fatal(err)
		}
		out = append(out, f.waitRunning(id).Sub(start))
	}
	for i := range n {
		id := fmt.Sprintf("seq-%d", i)
		f.mu.Lock()
		aid := f.agent[id]
		f.mu.Unlock()
		_ = f.d.KillTask(&mesos.TaskID{Value: proto.String(id)}, aid)
	}
	return out
}

func (f *framework) keepRunning(n int) []string {
	var ids []string
	for i := range n {
		id := fmt.Sprintf("long-%d", i)
		for {
			if _, err := f.launch(id); err == nil {
				break
			}
		}
		f.waitRunning(id)
		ids = append(ids, id)
	}
	return ids
}

// reconcileRunning reconciles until every task was reported TASK_RUNNING
// after t0 (reconciliation is retried: until the leader has the agents'
// reports, it answers nothing for them).
func (f *framework) reconcileRunning(ids []string, t0 time.Time) {
	for {
		var st []*mesos.TaskStatus
		f.mu.Lock()
		for _, id := range ids {
			st = append(st, &mesos.TaskStatus{TaskId: &mesos.TaskID{Value: proto.String(id)},
				State: mesos.TaskState_TASK_RUNNING.Enum(), AgentId: f.agent[id]})
		}
		f.mu.Unlock()
		_ = f.d.ReconcileTasks(st)
		deadline := time.Now().Add(100 * time.Millisecond)
		for time.Now().Before(deadline) {
			all := true
			f.mu.Lock()
			for _, id := range ids {
				if f.latest[id] != mesos.TaskState_TASK_RUNNING || !f.seen[id][mesos.TaskState_TASK_RUNNING].After(t0) {
					all = false
				}
			}
			f.mu.Unlock()
			if all {
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
}
