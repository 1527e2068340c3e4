// Package local runs a whole cluster in one process: a master and N agents
// on loopback, each agent with its own work directory. It is what
// `agora local` runs, the embedded default for trying Agora and for tests.
package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/agora-dev/agora/internal/agent"
	"github.com/agora-dev/agora/internal/master"
	"github.com/agora-dev/agora/internal/resources"
)

// Config describes a local cluster.
type Config struct {
	IP        string // loopback address to bind; default 127.0.0.1
	Port      int    // (first) master port; 0 = any
	Masters   int    // masters in the group; default 1 (ports Port, Port+1, …)
	Agents    int    // number of agents; default 1
	WorkDir   string // root of all work directories; default a temp dir
	Resources string // each agent's --resources (Mesos syntax); empty = detected share
	// ExecutorPath is the program agents start for command tasks;
	// default the agora-executor beside this binary, else this binary.
	ExecutorPath string

	Master master.Config // defaults from master.DefaultConfig when zero
	Agent  agent.Config  // template for each agent
}

// Cluster is a running local cluster.
type Cluster struct {
	// Masters are the group's masters; Master is the first of them.
	Masters []*master.Master
	Master  *master.Master
	Agents  []*agent.Agent
	// WorkDir is the root of the work directories; TempWorkDir says New
	// made it (no Config.WorkDir), so it is the caller's to remove.
	WorkDir     string
	TempWorkDir bool
	// AgentResources is what each agent offers when Config.Resources was
	// empty: the machine's detected resources split among the agents.
	AgentResources string
}

// New creates (and binds) the master and agents.
func New(cfg Config, logger *slog.Logger) (*Cluster, error) {
	if cfg.IP == "" {
		cfg.IP = "127.0.0.1"
	}
	if cfg.Agents <= 0 {
		cfg.Agents = 1
	}
	orig := cfg.Resources
	temp := false
	if cfg.WorkDir == "" {
		d, err := os.MkdirTemp("", "agora-local-")
		if err != nil {
			return nil, fmt.Errorf("create work dir: %w", err)
		}
		cfg.WorkDir, temp = d, true
	}
	if cfg.Resources == "" && cfg.Agents > 1 {
		// The agents share one machine: each offers its share of it, so
		// that the cluster does not offer the machine N times over.
		if r, err := resources.Detect(cfg.WorkDir); err == nil {
			cfg.Resources = splitResources(r, cfg.Agents)
		}
	}
	if cfg.Masters <= 0 {
		cfg.Masters = 1
	}

	mc := cfg.Master
	if mc.AllocationInterval == 0 {
		mc = master.DefaultConfig()
	}
	mc.IP = cfg.IP
	// Every master must know the group's addresses before any starts:
	// bind them all first.
	var lns []net.Listener
	var addrs []string
	closeAll := func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}
	for i := range cfg.Masters {
		port := 0
		if cfg.Port != 0 {
			port = cfg.Port + i
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(cfg.IP, strconv.Itoa(port)))
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("master %d: listen on %s:%d: %w (is another master running? choose another --port)", i, cfg.IP, port, err)
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	c := &Cluster{WorkDir: cfg.WorkDir, TempWorkDir: temp}
	if cfg.Resources != "" && cfg.Resources != orig {
		c.AgentResources = cfg.Resources
	}
	for i, ln := range lns {
		mci := mc
		mci.Listener = ln
		mci.Port = ln.Addr().(*net.TCPAddr).Port
		if cfg.Masters > 1 {
			mci.Masters = addrs
		}
		mci.WorkDir = filepath.Join(cfg.WorkDir, "master")
		mlog := logger
		if cfg.Masters > 1 {
			mci.WorkDir = filepath.Join(cfg.WorkDir, "master-"+strconv.Itoa(i))
			mlog = logger.With("master", i)
		}
		if err := os.MkdirAll(mci.WorkDir, 0o755); err != nil {
			closeAll()
			return nil, fmt.Errorf("create master work dir: %w", err)
		}
		m, err := master.New(mci, mlog)
		if err != nil {
			closeAll()
			return nil, err
		}
		c.Masters = append(c.Masters, m)
	}
	c.Master = c.Masters[0]
	for i := 0; i < cfg.Agents; i++ {
		ac := cfg.Agent
		if ac.ExecutorRegistrationTimeout == 0 {
			ac = agent.DefaultConfig()
		}
		ac.Master = strings.Join(addrs, ",")
		ac.IP = cfg.IP
		ac.Port = 0
		ac.WorkDir = filepath.Join(cfg.WorkDir, "agent-"+strconv.Itoa(i))
		if cfg.Resources != "" {
			ac.Resources = cfg.Resources
		}
		if cfg.ExecutorPath != "" {
			ac.ExecutorPath = cfg.ExecutorPath
		}
		if err := os.MkdirAll(ac.WorkDir, 0o755); err != nil {
			return nil, fmt.Errorf("create agent work dir: %w", err)
		}
		a, err := agent.New(ac, logger.With("agent", i))
		if err != nil {
			return nil, fmt.Errorf("agent %d: %w", i, err)
		}
		c.Agents = append(c.Agents, a)
	}
	return c, nil
}

// Run runs the master and every agent until ctx is done. Agents stop
// first, so that their executors are killed before the master goes.
func (c *Cluster) Run(ctx context.Context) error {
	mctx, stopMaster := context.WithCancel(context.Background())
	defer stopMaster()
	errs := make(chan error, len(c.Masters)+len(c.Agents))
	var mwg sync.WaitGroup
	for _, m := range c.Masters {
		mwg.Add(1)
		go func() { defer mwg.Done(); errs <- m.Run(mctx) }()
	}
	var wg sync.WaitGroup
	for _, a := range c.Agents {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- a.Run(ctx) }()
	}
	wg.Wait()
	stopMaster()
	mwg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			all = append(all, err)
		}
	}
	return errors.Join(all...)
}

// Leader is the master that leads the group now, or nil.
func (c *Cluster) Leader() *master.Master {
	for _, m := range c.Masters {
		if m.Elected() {
			return m
		}
	}
	return nil
}

// WaitReady waits until a master leads and every agent has subscribed to
// it. Run must be running.
func (c *Cluster) WaitReady(ctx context.Context) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		n, err := 0, error(nil)
		if l := c.Leader(); l != nil {
			n, err = l.ConnectedAgents()
		}
		if err == nil && n == len(c.Agents) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d agents subscribed: %w", n, len(c.Agents), ctx.Err())
		case <-tick.C:
		}
	}
}

// splitResources is r's share for one of n agents: cpus (to a hundredth),
// mem and disk divided, and the port range cut into n ranges.
func splitResources(r resources.Resources, n int) string {
	cpus := math.Floor(r.Scalar(resources.CPUs)/float64(n)*100) / 100
	mem := math.Floor(r.Scalar(resources.Mem) / float64(n))
	disk := math.Floor(r.Scalar(resources.Disk) / float64(n))
	s := fmt.Sprintf("cpus:%g;mem:%g;disk:%g", max(cpus, 0.01), mem, disk)
	lo, hi := resources.DefaultPorts.Begin, resources.DefaultPorts.End
	if per := (hi - lo + 1) / uint64(n); per > 0 {
		s += fmt.Sprintf(";ports:[%d-%d]", lo, lo+per-1)
	}
	return s
}
