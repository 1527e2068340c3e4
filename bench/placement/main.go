// Command placement measures how fast the master places tasks: `agora
// master` and `agora sim --agents=N` on loopback, then F frameworks (the
// Go SDK) that launch small tasks on every offer until --tasks are
// RUNNING. It prints placements per second from the first ACCEPT to the
// last TASK_RUNNING, the ACCEPT → TASK_RUNNING latency, and the anchors of
// docs/performance.md.
//
//	go run ./bench/placement --agents=5000 --frameworks=20 --tasks=50000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/bench/internal/build"
	"github.com/agora-dev/agora/sdk/scheduler"
	"google.golang.org/protobuf/proto"
)

type config struct {
	agents, frameworks, tasks, perOffer int
	agentResources                      string
	taskCPUs, taskMem                   float64
	agoraBin                            string
	timeout                             time.Duration
	stateGets                           int
}

func main() {
	var c config
	flag.IntVar(&c.agents, "agents", 5000, "simulated agents (agora sim)")
	flag.IntVar(&c.frameworks, "frameworks", 20, "frameworks launching tasks")
	flag.IntVar(&c.tasks, "tasks", 50000, "tasks to place in all")
	flag.IntVar(&c.perOffer, "tasks_per_offer", 16, "most tasks a framework launches on one offer")
	flag.StringVar(&c.agentResources, "resources", "cpus:16;mem:65536;disk:100000;ports:[31000-32000]", "each simulated agent's resources")
	flag.Float64Var(&c.taskCPUs, "task_cpus", 0.1, "cpus of each task")
	flag.Float64Var(&c.taskMem, "task_mem", 32, "mem (MB) of each task")
	flag.StringVar(&c.agoraBin, "agora", "", "agora binary (default: build ./cmd/agora)")
	flag.DurationVar(&c.timeout, "timeout", 10*time.Minute, "bound on the whole run")
	flag.IntVar(&c.stateGets, "state_gets", 3, "GET /master/state this many times once every task runs (time to the last byte, size)")
	flag.Parse()
	if c.agents <= 0 || c.frameworks <= 0 || c.tasks <= 0 || c.perOffer <= 0 || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "placement:", err)
		os.Exit(1)
	}
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%s] %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

func run(ctx context.Context, c config) error {
	// Every simulated agent holds a connection: raise the file limit the
	// children inherit.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	dir, err := os.MkdirTemp("", "agora-placement-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := c.agoraBin
	if bin == "" {
		progress("building ./cmd/agora")
		if bin, err = build.Agora(ctx, dir, true); err != nil {
			return err
		}
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	master := "127.0.0.1:" + strconv.Itoa(port)
	mlog, _ := os.Create(filepath.Join(dir, "master.log"))
	m := exec.Command(bin, "master", "--port="+strconv.Itoa(port), "--log_level=warn")
	m.Stdout, m.Stderr = mlog, mlog
	if err := m.Start(); err != nil {
		return err
	}
	defer stop(m)
	slog, _ := os.Create(filepath.Join(dir, "sim.log"))
	s := exec.Command(bin, "sim", "--master="+master, "--agents="+strconv.Itoa(c.agents),
		"--resources="+c.agentResources, "--task_duration=0", "--subscribe_rate=2000", "--progress_interval=1h")
	s.Stdout, s.Stderr = slog, slog
	if err := s.Start(); err != nil {
		return err
	}
	defer stop(s)
	progress("waiting for %d simulated agents to be active", c.agents)
	for {
		n, err := activeAgents(ctx, master)
		if err == nil && n >= c.agents {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("agents not active in time (%d of %d): see %s", n, c.agents, filepath.Join(dir, "sim.log"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	progress("%d agents active; %d frameworks place %d tasks", c.agents, c.frameworks, c.tasks)
	rssBefore := rss(m.Process.Pid, "VmRSS")

	p := &placer{cfg: c, done: make(chan struct{}), acks: make(chan struct{}, 64), launched: make(map[string]time.Time)}
	p.remaining.Store(int64(c.tasks))
	var wg sync.WaitGroup
	fctx, fcancel := context.WithCancel(ctx)
	defer fcancel()
	var errs []error
	var errMu sync.Mutex
	for i := range c.frameworks {
		d, err := scheduler.NewDriver(scheduler.Config{
			Master:            master,
			ManualAcknowledge: true, // acknowledged concurrently (StatusUpdate)
			Framework: &mesos.FrameworkInfo{User: proto.String("bench"), Name: proto.String(fmt.Sprintf("placement-%02d", i)),
				Roles: []string{"*"}, Capabilities: []*mesos.FrameworkInfo_Capability{{Type: mesos.FrameworkInfo_Capability_MULTI_ROLE.Enum()}}},
		}, p)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.Run(fctx); err != nil && !errors.Is(err, context.Canceled) {
				errMu.Lock()
				errs = append(errs, err)
				errMu.Unlock()
			}
		}()
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		return fmt.Errorf("%d of %d tasks RUNNING before the timeout", p.running.Load(), c.tasks)
	}
	rssAfter, hwm := rss(m.Process.Pid, "VmRSS"), rss(m.Process.Pid, "VmHWM")
	p.report(os.Stdout)
	if c.stateGets > 0 {
		if err := measureState(ctx, master, c, m.Process.Pid, rssAfter); err != nil {
			return err
		}
	}
	fmt.Printf("| master RSS, %d agents, no tasks | %.0f MB | |\n", c.agents, float64(rssBefore)/1e6)
	fmt.Printf("| master RSS, %d agents, %d tasks (peak) | %.0f MB (%.0f MB) | |\n", c.agents, c.tasks, float64(rssAfter)/1e6, float64(hwm)/1e6)
	fmt.Printf("| master bytes per running task | %.0f | |\n", float64(rssAfter-rssBefore)/float64(c.tasks))
	fcancel()
	wg.Wait()
	return errors.Join(errs...)
}

// measureState GETs /master/state with a client of its own, as an
// operator's tool would, and prints the time to the last byte, the size
// and the master's peak RSS while serving it.
func measureState(ctx context.Context, master string, c config, pid int, rssBefore int64) error {
	client := &http.Client{Timeout: 2 * time.Minute}
	var times []time.Duration
	var size int64
	for range c.stateGets {
		start := time.Now()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+master+"/master/state", nil)
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("GET /master/state: %w", err)
		}
		size, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("GET /master/state: %w", err)
		}
		times = append(times, time.Since(start))
	}
	slices.Sort(times)
	hwm := rss(pid, "VmHWM")
	fmt.Printf("| GET /master/state, %d agents, %d tasks: to the last byte, best / median of %d | %v / %v | Mesos 1.7: 3.1 s; aim 0.3 s |\n",
		c.agents, c.tasks, len(times), times[0].Round(time.Millisecond), times[len(times)/2].Round(time.Millisecond))
	fmt.Printf("| /master/state size | %.1f MB | |\n", float64(size)/1e6)
	fmt.Printf("| master peak RSS after serving it (before: %.0f MB) | %.0f MB | |\n", float64(rssBefore)/1e6, float64(hwm)/1e6)
	return nil
}

// placer is every framework's scheduler: it launches tasks while the
// budget lasts and records ACCEPT → TASK_RUNNING.
type placer struct {
	scheduler.NopScheduler
	cfg       config
	remaining atomic.Int64
	running   atomic.Int64
	// dupRunning counts TASK_RUNNING updates of tasks already RUNNING.
	dupRunning atomic.Int64
	seq        atomic.Int64
	done       chan struct{}
	acks       chan struct{} // bounds concurrent ACKNOWLEDGE calls

	mu        sync.Mutex
	launched  map[string]time.Time
	latencies []time.Duration
	first     time.Time
	last      time.Time
}

func (p *placer) ResourceOffers(d *scheduler.Driver, offers []*mesos.Offer) {
	for _, o := range offers {
		cpus, mem := scalar(o, "cpus"), scalar(o, "mem")
		n := min(p.cfg.perOffer, int(cpus/p.cfg.taskCPUs+1e-9), int(mem/p.cfg.taskMem+1e-9))
		for {
			left := p.remaining.Load()
			n = min(n, int(left))
			if n <= 0 || p.remaining.CompareAndSwap(left, left-int64(n)) {
				break
			}
		}
		if n <= 0 {
			_ = d.DeclineOffer(o.Id, scheduler.RefuseSeconds(3600))
			continue
		}
		tasks := make([]*mesos.TaskInfo, n)
		now := time.Now()
		p.mu.Lock()
		if p.first.IsZero() {
			p.first = now
		}
		for i := range tasks {
			id := "t" + strconv.FormatInt(p.seq.Add(1), 10)
			p.launched[id] = now
			tasks[i] = &mesos.TaskInfo{
				Name: proto.String(id), TaskId: &mesos.TaskID{Value: proto.String(id)}, AgentId: o.AgentId,
				Resources: []*mesos.Resource{scalarRes("cpus", p.cfg.taskCPUs), scalarRes("mem", p.cfg.taskMem)},
				Command:   &mesos.CommandInfo{Value: proto.String("sleep 3600")},
			}
		}
		p.mu.Unlock()
		if err := d.LaunchTasks([]*mesos.OfferID{o.Id}, tasks, scheduler.RefuseSeconds(0.5)); err != nil {
			progress("LaunchTasks: %v", err)
		}
	}
}

func (p *placer) StatusUpdate(d *scheduler.Driver, st *mesos.TaskStatus) {
	// The agent sends a task's next update once this one is
	// acknowledged: acknowledge off the event loop (which must keep
	// reading, or the master closes a stream that falls behind), 64 at a
	// time, as a busy framework would.
	if len(st.GetUuid()) > 0 {
		go func() {
			p.acks <- struct{}{}
			defer func() { <-p.acks }()
			_ = d.AcknowledgeStatusUpdate(st)
		}()
	}
	if st.GetState() != mesos.TaskState_TASK_RUNNING {
		if st.GetState() != mesos.TaskState_TASK_STARTING {
			progress("task %s %s: %s", st.GetTaskId().GetValue(), st.GetState(), st.GetMessage())
		}
		return
	}
	now := time.Now()
	p.mu.Lock()
	at, first := p.launched[st.GetTaskId().GetValue()]
	if first {
		delete(p.launched, st.GetTaskId().GetValue())
		p.latencies = append(p.latencies, now.Sub(at))
		p.last = now
	}
	p.mu.Unlock()
	if !first {
		p.dupRunning.Add(1) // a resent update, relayed again
		return
	}
	if n := p.running.Add(1); n == int64(p.cfg.tasks) {
		close(p.done)
	} else if n%10000 == 0 {
		progress("%d tasks RUNNING", n)
	}
}

func (p *placer) report(w io.Writer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	lat := slices.Clone(p.latencies)
	slices.Sort(lat)
	q := func(f float64) time.Duration { return lat[min(len(lat)-1, int(f*float64(len(lat))))] }
	span := p.last.Sub(p.first)
	rate := float64(len(lat)) / span.Seconds()
	fmt.Fprintf(w, "\nplacement: %d tasks on %d simulated agents by %d frameworks (%d per offer at most)\n\n",
		len(lat), p.cfg.agents, p.cfg.frameworks, p.cfg.perOffer)
	fmt.Fprintf(w, "| measure | Agora | anchor |\n|---|---|---|\n")
	fmt.Fprintf(w, "| placements/s, first ACCEPT → last TASK_RUNNING | %.0f/s (%d in %.2f s) | Kubernetes scheduler_perf 680–810 pods/s; Nomad C1M ≈3,750/s; aim 10,000/s |\n",
		rate, len(lat), span.Seconds())
	fmt.Fprintf(w, "| repeated TASK_RUNNING (agent resends relayed) | %d | |\n", p.dupRunning.Load())
	fmt.Fprintf(w, "| ACCEPT → TASK_RUNNING p50 | %s | |\n| ACCEPT → TASK_RUNNING p99 | %s | |\n| ACCEPT → TASK_RUNNING max | %s | |\n",
		q(0.5).Round(time.Millisecond), q(0.99).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
}

func scalar(o *mesos.Offer, name string) float64 {
	v := 0.0
	for _, r := range o.GetResources() {
		if r.GetName() == name {
			v += r.GetScalar().GetValue()
		}
	}
	return v
}

func scalarRes(name string, v float64) *mesos.Resource {
	return &mesos.Resource{Name: proto.String(name), Type: mesos.Value_SCALAR.Enum(),
		Scalar: &mesos.Value_Scalar{Value: proto.Float64(v)}}
}

func activeAgents(ctx context.Context, master string) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+master+"/metrics/snapshot", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	const key = `"master/slaves_active":`
	i := strings.Index(string(b), key)
	if i < 0 {
		return 0, errors.New("no master/slaves_active in /metrics/snapshot")
	}
	rest := string(b[i+len(key):])
	if j := strings.IndexAny(rest, ",}"); j >= 0 {
		rest = rest[:j]
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
	return int(f), err
}

// rss reads a /proc/PID/status size field (VmRSS, VmHWM) in bytes.
func rss(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func stop(c *exec.Cmd) {
	if c.Process != nil {
		_ = c.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = c.Process.Kill()
			<-done
		}
	}
}
