// Package master is Agora's master: it pools the resources of the agents
// that subscribe to it, offers them to frameworks through Mesos's v1
// scheduler API, launches the tasks frameworks accept on those offers and
// relays every task's status updates.
//
// One goroutine, the loop, owns all of the master's state (frameworks,
// agents, tasks, offers and the allocator). HTTP handlers decode and check
// requests on their own goroutines and hand the loop a closure to run; the
// loop never blocks on I/O: events to subscribers are queued on their
// streams, which their own handler goroutines write out.
package master

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/agora-dev/agora/internal/authz"
	"github.com/agora-dev/agora/internal/httpapi"
	"github.com/agora-dev/agora/internal/tlsconf"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/internal/allocator"
	"github.com/agora-dev/agora/internal/registry"
	"github.com/agora-dev/agora/internal/version"
	"google.golang.org/protobuf/proto"
)

// ErrStopped is returned to requests that arrive while the master stops.
var ErrStopped = errors.New("master is stopping")

// Master is a running master.
type Master struct {
	cfg   Config
	authn *authn
	authz *authz.Authorizer // nil: no --acls, everything allowed
	log   *slog.Logger
	ln    net.Listener
	srv   *http.Server
	info  *mesos.MasterInfo

	calls   chan func()
	stopped chan struct{}

	// reg is the registry (see registry.go); proposals counts the
	// proposals in flight, which Run waits for before closing it.
	reg       *registry.Node
	raftLayer *registry.HTTPStreamLayer
	// srvLn is ln with TLS (tls.go); sandboxRT and forwardClient reach
	// agents and the leader with the same TLS.
	srvLn         net.Listener
	sandboxRT     http.RoundTripper
	forwardClient *http.Client
	raftDialer    *tlsconf.Dialer // nil: Raft in plaintext
	proposals     sync.WaitGroup
	// self is this master's address in its group (host:port).
	self string

	// elected is true while this master leads and has recovered: the
	// HTTP gate (leadership.go) reads it without the loop. fatal carries
	// an error that must stop the master (Mesos's EXITs).
	elected atomic.Bool
	fatal   chan error

	startTime   time.Time
	electedTime time.Time

	// Loop-owned state. leading is true between becomeLeader and
	// stepDown; epoch counts those transitions, so that a timer or a
	// registry continuation of an earlier term does nothing.
	leading bool
	epoch   uint64
	// recoveredAgents are the agents the registry admitted that have not
	// re-subscribed to this leader yet; registryAgents is how many it
	// admitted at the election; reregisterTimer ends their window.
	recoveredAgents map[string]registry.Agent
	registryAgents  int
	reregisterTimer *time.Timer

	frameworks          map[string]*framework
	completedFrameworks []*framework
	agents              map[string]*agent
	// removedAgents remembers agents removed as unreachable, so that a
	// re-subscription can be recognised.
	removedAgents map[string]time.Time
	offers        map[string]*offer
	alloc         *allocator.Allocator
	allocPending  bool

	nextFrameworkID int
	nextAgentID     int
	nextOfferID     int

	metrics counters
	op      operatorState

	// stateFlush is set while encodeState streams /master/state (loop
	// only): it takes the chunks of the document as they fill.
	stateFlush func([]byte) []byte
}

// counters are the master's monotonically growing metrics.
type counters struct {
	tasksByState       map[mesos.TaskState]int64 // terminal transitions
	frameworkMessages  int64
	validStatusUpdates int64
	// duplicateUpdatesAnswered and duplicateUpdatesHeld count agents'
	// resends the master acknowledged itself or did not relay again.
	duplicateUpdatesAnswered int64
	duplicateUpdatesHeld     int64
	offersSent               int64
	offersDeclined           int64
	offersRescinded          int64
	schedulerCalls           int64
	invalidCalls             int64
	agentsRemoved            int64
	recoveryRemovals         int64

	agentRegistrations   int64
	agentReregistrations int64
	allocationRuns       int64
	lastAllocationRun    time.Duration
	// messages counts master/messages_* by Mesos message name.
	messages map[string]int64
}

// New creates a master and binds its listener, so Addr is valid at once.
func New(cfg Config, logger *slog.Logger) (*Master, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	an, err := newAuthn(cfg.Auth, logger.With("component", "master"))
	if err != nil {
		return nil, err
	}
	az, err := authz.Local(cfg.ACLs, cfg.Authorizers, "authorizers", logger.With("component", "master"))
	if err != nil {
		return nil, err
	}
	ln := cfg.Listener
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", net.JoinHostPort(cfg.IP, strconv.Itoa(cfg.Port)))
		if err != nil {
			return nil, fmt.Errorf("master: listen on %s:%d: %w (is another master running? choose another --port)", cfg.IP, cfg.Port, err)
		}
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if cfg.Hostname == "" {
		cfg.Hostname = cfg.IP
		if ip := net.ParseIP(cfg.IP); ip != nil && ip.IsUnspecified() {
			cfg.Hostname = "127.0.0.1"
		}
	}
	id := uuidString(newUUID())
	advertisedIP := cfg.IP
	if ip := net.ParseIP(cfg.IP); ip != nil && ip.IsUnspecified() {
		advertisedIP = "127.0.0.1"
	}
	m := &Master{
		cfg:       cfg,
		log:       logger.With("component", "master"),
		ln:        ln,
		calls:     make(chan func(), 1024),
		stopped:   make(chan struct{}),
		fatal:     make(chan error, 1),
		startTime: time.Now(),
		authn:     an,
		authz:     az,
	}
	m.resetState()
	m.metrics.tasksByState = make(map[mesos.TaskState]int64)
	m.info = &mesos.MasterInfo{
		Id:       proto.String(id),
		Ip:       proto.Uint32(packIPv4(advertisedIP)),
		Port:     proto.Uint32(uint32(port)),
		Pid:      proto.String(fmt.Sprintf("master@%s:%d", advertisedIP, port)),
		Hostname: proto.String(cfg.Hostname),
		Version:  proto.String(version.Mesos),
		Address: &mesos.Address{
			Hostname: proto.String(cfg.Hostname),
			Ip:       proto.String(advertisedIP),
			Port:     proto.Int32(int32(port)),
		},
		Capabilities: []*mesos.MasterInfo_Capability{
			{Type: mesos.MasterInfo_Capability_AGENT_UPDATE.Enum()},
		},
	}
	self, err := selfAddress(cfg, advertisedIP, port)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	m.self = self
	if err := m.setupTLS(); err != nil {
		_ = ln.Close()
		return nil, err
	}
	m.raftLayer = registry.NewHTTPStreamLayer(self, net.ParseIP(cfg.IP))
	m.raftLayer.TLS = m.raftDialer
	m.raftLayer.Key = an.raftKey
	m.srv = &http.Server{Handler: m.routes(), ReadHeaderTimeout: 30 * time.Second, IdleTimeout: httpapi.IdleTimeout,
		ErrorLog: slog.NewLogLogger(m.log.Handler(), slog.LevelDebug)}
	if err := m.openRegistry(); err != nil {
		_ = ln.Close()
		return nil, err
	}
	if m.reg.IsLeader() {
		// A group of one leads before it serves (openRegistry waited for
		// it); nothing runs the loop yet, so this is its first act.
		m.becomeLeader()
	}
	return m, nil
}

// packIPv4 packs an IPv4 address the way MasterInfo.ip carries it: the
// four bytes in network order read as a little-endian uint32.
func packIPv4(s string) uint32 {
	ip := net.ParseIP(s).To4()
	if ip == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(ip)
}

// Addr is the host:port the master listens on.
func (m *Master) Addr() string { return m.ln.Addr().String() }

// ID is the master's id, the prefix of every framework, agent and offer id
// it hands out.
func (m *Master) ID() string { return m.info.GetId() }

// Handler is the master's HTTP handler (for embedding in tests).
func (m *Master) Handler() http.Handler { return m.srv.Handler }

// Run serves until ctx is done, then closes every stream and returns.
func (m *Master) Run(ctx context.Context) error {
	serveErr := make(chan error, 1)
	go func() { serveErr <- m.srv.Serve(m.srvLn) }()
	m.log.Info("master started", "id", m.ID(), "addr", m.Addr(), "group", m.cfg.Masters)
	m.warnIfOpen()
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go m.watchLeadership(watchCtx)

	heartbeat := time.NewTicker(m.cfg.HeartbeatInterval)
	defer heartbeat.Stop()
	allocTick := time.NewTicker(m.cfg.AllocationInterval)
	defer allocTick.Stop()
	ping := time.NewTicker(m.cfg.AgentPingTimeout)
	defer ping.Stop()

	var err error
loop:
	for {
		select {
		case f := <-m.calls:
			f()
		case <-heartbeat.C:
			if m.leading {
				m.heartbeat()
			}
		case <-allocTick.C:
			if m.leading {
				m.allocate()
			}
		case <-ping.C:
			if m.leading {
				m.pingAgents()
			}
		case err = <-m.fatal:
			break loop
		case err = <-serveErr:
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	m.elected.Store(false)
	close(m.stopped)
	m.closeStreams()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = m.srv.Shutdown(shutdownCtx)
	m.proposals.Wait()
	if cerr := m.reg.Close(); cerr != nil {
		m.log.Warn("closing the registry", "err", cerr)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	m.log.Info("master stopped", "id", m.ID())
	return err
}

// post queues f to run on the loop without waiting. It reports false when
// the master is stopping.
func (m *Master) post(f func()) bool {
	select {
	case m.calls <- f:
		return true
	case <-m.stopped:
		return false
	}
}

// do runs f on the loop and waits for it.
func (m *Master) do(f func()) error {
	done := make(chan struct{})
	if !m.post(func() { f(); close(done) }) {
		return ErrStopped
	}
	select {
	case <-done:
		return nil
	case <-m.stopped:
		return ErrStopped
	}
}

// after runs f on the loop after d, unless the returned timer is stopped
// or this master's leadership changed meanwhile.
func (m *Master) after(d time.Duration, f func()) *time.Timer {
	epoch := m.epoch
	return time.AfterFunc(d, func() {
		m.post(func() {
			if m.epoch == epoch {
				f()
			}
		})
	})
}

func (m *Master) newStreamID() string {
	return uuidString(newUUID())
}

// ConnectedAgents returns how many agents are subscribed right now.
func (m *Master) ConnectedAgents() (int, error) {
	n := 0
	err := m.do(func() {
		for _, a := range m.agents {
			if a.stream != nil {
				n++
			}
		}
	})
	return n, err
}
