// Package local runs a whole cluster in one process: a master and N agents
// on loopback, each agent with its own work directory. It is what
// `agora local` runs, the embedded default for trying Agora and for tests.
package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/agora-dev/agora/internal/agent"
	"github.com/agora-dev/agora/internal/master"
)

// Config describes a local cluster.
type Config struct {
	IP        string // loopback address to bind; default 127.0.0.1
	Port      int    // master port; 0 = any
	Agents    int    // number of agents; default 1
	WorkDir   string // root of all work directories; default a temp dir
	Resources string // each agent's --resources (Mesos syntax); empty = detected share
	// ExecutorPath is the agora binary agents start for command tasks;
	// default os.Executable().
	ExecutorPath string

	Master master.Config // defaults from master.DefaultConfig when zero
	Agent  agent.Config  // template for each agent
}

// Cluster is a running local cluster.
type Cluster struct {
	Master *master.Master
	Agents []*agent.Agent
	// WorkDir is the root of the work directories.
	WorkDir string
}

// New creates (and binds) the master and agents.
func New(cfg Config, logger *slog.Logger) (*Cluster, error) {
	if cfg.IP == "" {
		cfg.IP = "127.0.0.1"
	}
	if cfg.Agents <= 0 {
		cfg.Agents = 1
	}
	if cfg.WorkDir == "" {
		d, err := os.MkdirTemp("", "agora-local-")
		if err != nil {
			return nil, fmt.Errorf("create work dir: %w", err)
		}
		cfg.WorkDir = d
	}
	mc := cfg.Master
	if mc.AllocationInterval == 0 {
		mc = master.DefaultConfig()
	}
	mc.IP = cfg.IP
	mc.Port = cfg.Port
	mc.WorkDir = filepath.Join(cfg.WorkDir, "master")
	if err := os.MkdirAll(mc.WorkDir, 0o755); err != nil {
		return nil, fmt.Errorf("create master work dir: %w", err)
	}
	m, err := master.New(mc, logger)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Master: m, WorkDir: cfg.WorkDir}
	for i := 0; i < cfg.Agents; i++ {
		ac := cfg.Agent
		if ac.ExecutorRegistrationTimeout == 0 {
			ac = agent.DefaultConfig()
		}
		ac.Master = m.Addr()
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
	errs := make(chan error, 1+len(c.Agents))
	var mwg sync.WaitGroup
	mwg.Add(1)
	go func() { defer mwg.Done(); errs <- c.Master.Run(mctx) }()
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

// WaitReady waits until every agent has subscribed to the master. Run
// must be running.
func (c *Cluster) WaitReady(ctx context.Context) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		n, err := c.Master.ConnectedAgents()
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
