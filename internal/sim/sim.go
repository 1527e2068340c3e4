// Package sim runs simulated agents for capacity planning (`agora sim`):
// many agents in one process, each speaking Agora's real agent protocol
// (api/agora/agent/v1) to the master: it subscribes on the long-lived
// RecordIO stream, answers pings, accepts launches and reports
// TASK_STARTING, TASK_RUNNING and, after the task's duration,
// TASK_FINISHED as reliable updates (resent until acknowledged), answers
// kills, and re-subscribes with its running tasks whenever the stream
// breaks, following the leader of a group of masters like the real agent.
// It runs no processes.
//
// Per-agent cost is kept small so that one process holds 10,000 agents on
// two cores: one goroutine per agent reads its stream; calls go through one
// shared http.Client with a bounded connection pool; timers are runtime
// timers (time.AfterFunc), never per-agent tickers.
package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/internal/resources"
)

// Config describes a simulated fleet.
type Config struct {
	// Masters is the list of masters (one, or the group "A,B,C").
	Masters []string
	// Agents is how many agents to simulate.
	Agents int
	// Resources of each agent, in the agent's --resources syntax.
	Resources string
	// Attributes of each agent, in the agent's --attributes syntax.
	Attributes string
	// TaskDuration is how long a task runs before TASK_FINISHED, unless its
	// `duration` label says otherwise; 0 runs tasks until they are killed.
	TaskDuration time.Duration
	// SubscribeRate bounds the first subscriptions, per second (0: no bound).
	SubscribeRate float64
	// Hostname is the base of the agents' hostnames (<Hostname>-<n>).
	Hostname string
	// BackoffMin and BackoffMax bound the jittered backoff between rounds
	// of subscription attempts.
	BackoffMin, BackoffMax time.Duration
	// SubscribeTimeout bounds the wait for SUBSCRIBED.
	SubscribeTimeout time.Duration
	// StatusUpdateRetry is the first resend interval of an unacknowledged
	// update; it doubles up to StatusUpdateRetryMax.
	StatusUpdateRetry, StatusUpdateRetryMax time.Duration
	// MaxConns bounds the connections used for calls (not the streams).
	MaxConns int
}

// DefaultConfig is the configuration `agora sim` starts from.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	if host == "" {
		host = "sim"
	}
	return Config{
		Agents:               1,
		Resources:            "cpus:16;mem:65536;disk:1048576;ports:[31000-32000]",
		TaskDuration:         30 * time.Second,
		SubscribeRate:        500,
		Hostname:             host,
		BackoffMin:           500 * time.Millisecond,
		BackoffMax:           5 * time.Second,
		SubscribeTimeout:     30 * time.Second,
		StatusUpdateRetry:    10 * time.Second,
		StatusUpdateRetryMax: 10 * time.Minute,
		MaxConns:             256,
	}
}

// Validate checks c.
func (c Config) Validate() error {
	switch {
	case len(c.Masters) == 0:
		return errors.New("no master given")
	case c.Agents <= 0:
		return fmt.Errorf("--agents must be positive, not %d", c.Agents)
	case c.TaskDuration < 0, c.BackoffMin <= 0, c.BackoffMax < c.BackoffMin, c.SubscribeTimeout <= 0,
		c.StatusUpdateRetry <= 0, c.StatusUpdateRetryMax < c.StatusUpdateRetry:
		return errors.New("durations must be positive (and each maximum at least its minimum)")
	case c.SubscribeRate < 0:
		return errors.New("--subscribe_rate must not be negative")
	}
	return nil
}

// Stats counts what the fleet did.
type Stats struct {
	Agents        int   // simulated agents
	Subscribed    int64 // agents subscribed now
	Subscriptions int64 // SUBSCRIBED events received, in all
	Disconnects   int64 // subscriptions that broke
	Launched      int64 // tasks received
	Active        int64 // tasks not yet terminal
	Finished      int64 // TASK_FINISHED
	Killed        int64 // TASK_KILLED
	Updates       int64 // UPDATE calls sent (with resends)
}

// Sim is a running fleet of simulated agents.
type Sim struct {
	cfg       Config
	log       *slog.Logger
	resources []*mesos.Resource
	attrs     []*mesos.Attribute
	stream    *http.Client // subscriptions: no timeout
	calls     *http.Client // other calls
	pongs     *http.Client // PONGs, on connections of their own: never queued behind updates
	agents    []*simAgent
	ctx       context.Context
	start     atomic.Int64 // Run's start, unix nanoseconds

	subscribed, subscriptions, disconnects  atomic.Int64
	launched, active, finished, killed, upd atomic.Int64
	wg                                      sync.WaitGroup
	hint                                    leaderHint
}

// New checks cfg and prepares the fleet; Run starts it.
func New(cfg Config, logger *slog.Logger) (*Sim, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := checkOpenFiles(cfg); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	total, err := resources.Parse(cfg.Resources)
	if err != nil {
		return nil, fmt.Errorf("--resources: %w", err)
	}
	attrs, err := resources.ParseAttributes(cfg.Attributes)
	if err != nil {
		return nil, err
	}
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	s := &Sim{
		cfg:       cfg,
		log:       logger,
		resources: total.ToProto(""),
		attrs:     attrs,
		stream: &http.Client{
			Transport: &http.Transport{DialContext: dialer.DialContext, MaxIdleConnsPerHost: -1,
				DisableCompression: true, WriteBufferSize: 1024, ReadBufferSize: 4096},
			CheckRedirect: noRedirect,
		},
		calls: &http.Client{
			Timeout: 30 * time.Second,
			Transport: &http.Transport{DialContext: dialer.DialContext, MaxConnsPerHost: cfg.MaxConns,
				MaxIdleConns: cfg.MaxConns * 4, MaxIdleConnsPerHost: cfg.MaxConns, IdleConnTimeout: 90 * time.Second,
				DisableCompression: true},
			CheckRedirect: noRedirect,
		},
		pongs: &http.Client{
			Timeout: 30 * time.Second,
			Transport: &http.Transport{DialContext: dialer.DialContext, MaxConnsPerHost: 16,
				MaxIdleConnsPerHost: 16, IdleConnTimeout: 90 * time.Second, DisableCompression: true},
			CheckRedirect: noRedirect,
		},
	}
	s.agents = make([]*simAgent, cfg.Agents)
	for i := range s.agents {
		s.agents[i] = newAgent(s, i)
	}
	return s, nil
}

// Run runs the fleet until ctx ends.
func (s *Sim) Run(ctx context.Context) error {
	s.ctx = ctx
	s.start.Store(time.Now().UnixNano())
	var interval time.Duration
	if s.cfg.SubscribeRate > 0 {
		interval = time.Duration(float64(time.Second) / s.cfg.SubscribeRate)
	}
	if len(s.cfg.Masters) > 1 {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.detect(ctx) }()
	}
	start := time.Now()
	for i, a := range s.agents {
		if interval > 0 {
			// Spread the first subscriptions: agent i starts at i×interval.
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-ctx.Done():
					t.Stop()
				case <-t.C:
				}
			}
		}
		if ctx.Err() != nil {
			break
		}
		s.wg.Add(1)
		go func() { defer s.wg.Done(); a.run(ctx) }()
	}
	<-ctx.Done()
	s.wg.Wait()
	s.calls.CloseIdleConnections()
	s.stream.CloseIdleConnections()
	return nil
}

func (s *Sim) started() time.Time {
	if n := s.start.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Now()
}

// Stats returns the fleet's counters.
func (s *Sim) Stats() Stats {
	return Stats{
		Agents:        len(s.agents),
		Subscribed:    s.subscribed.Load(),
		Subscriptions: s.subscriptions.Load(),
		Disconnects:   s.disconnects.Load(),
		Launched:      s.launched.Load(),
		Active:        s.active.Load(),
		Finished:      s.finished.Load(),
		Killed:        s.killed.Load(),
		Updates:       s.upd.Load(),
	}
}

// AgentIDs returns the ids the master gave the agents ("" for an agent
// that never subscribed), in agent order.
func (s *Sim) AgentIDs() []string {
	ids := make([]string, len(s.agents))
	for i, a := range s.agents {
		a.mu.Lock()
		ids[i] = a.id
		a.mu.Unlock()
	}
	return ids
}
