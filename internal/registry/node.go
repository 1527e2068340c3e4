package registry

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// ErrNotLeader is returned by Open when this master did not become the
// Raft leader in time.
var ErrNotLeader = errors.New("registry: not the leader")

// Config configures a Node.
type Config struct {
	// Dir holds the registry's files. Empty keeps everything in memory:
	// the registry then dies with the process.
	Dir string
	// Bind is the host:port of the Raft TCP transport (port 0 picks one).
	Bind string
	// Advertise is the host other masters reach this one at, needed when
	// Bind's host is unspecified (0.0.0.0).
	Advertise string
	// HeartbeatTimeout and ElectionTimeout are raft's; a one-node group
	// elects itself after one heartbeat timeout, so they are short.
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration
	// LeaderTimeout bounds how long Open waits to lead.
	LeaderTimeout time.Duration
	Logger        *slog.Logger
}

// DefaultConfig returns the defaults (on loopback, in memory).
func DefaultConfig() Config {
	return Config{
		Bind:             "127.0.0.1:0",
		HeartbeatTimeout: 100 * time.Millisecond,
		ElectionTimeout:  100 * time.Millisecond,
		LeaderTimeout:    10 * time.Second,
	}
}

// Validate reports the first invalid setting.
func (c Config) Validate() error {
	host, _, err := net.SplitHostPort(c.Bind)
	if err != nil {
		return fmt.Errorf("registry: invalid bind address %q: %w", c.Bind, err)
	}
	if ip := net.ParseIP(host); ip == nil || (ip.IsUnspecified() && c.Advertise == "") {
		return fmt.Errorf("registry: bind address %q needs a specific IP or an advertise host", c.Bind)
	}
	if c.HeartbeatTimeout <= 0 || c.ElectionTimeout <= 0 || c.LeaderTimeout <= 0 {
		return errors.New("registry: timeouts must be positive")
	}
	return nil
}

// Node is this master's member of the registry's Raft group.
type Node struct {
	fsm   *FSM
	raft  *raft.Raft
	trans *raft.NetworkTransport
	store *boltStore // nil when in memory
}

// Open starts the Raft member, bootstraps a one-node group when the store
// is empty, and waits until this node leads with the whole log applied.
func Open(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// Raft's warnings include the routine "starting election" of every
	// single-node start; only its errors reach Agora's log.
	hlog := hclog.FromStandardLogger(slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		&hclog.LoggerOptions{Name: "raft", Level: hclog.Error})

	n := &Node{fsm: NewFSM()}
	ok := false
	defer func() {
		if !ok {
			n.closeIO()
		}
	}()

	var (
		logs   raft.LogStore
		stable raft.StableStore
		snaps  raft.SnapshotStore
		id     string
		err    error
	)
	if cfg.Dir == "" {
		mem := raft.NewInmemStore()
		logs, stable, snaps = mem, mem, raft.NewInmemSnapshotStore()
		id = randomID()
	} else {
		if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("registry: %w", err)
		}
		if id, err = serverID(cfg.Dir); err != nil {
			return nil, err
		}
		if n.store, err = openBoltStore(filepath.Join(cfg.Dir, "raft.db")); err != nil {
			return nil, err
		}
		logs, stable = n.store, n.store
		if snaps, err = raft.NewFileSnapshotStoreWithLogger(filepath.Join(cfg.Dir), 2, hlog); err != nil {
			return nil, fmt.Errorf("registry: snapshot store: %w", err)
		}
	}

	var advertise net.Addr
	if cfg.Advertise != "" {
		_, port, _ := net.SplitHostPort(cfg.Bind)
		if advertise, err = net.ResolveTCPAddr("tcp", net.JoinHostPort(cfg.Advertise, port)); err != nil {
			return nil, fmt.Errorf("registry: advertise address: %w", err)
		}
	}
	if n.trans, err = raft.NewTCPTransportWithLogger(cfg.Bind, advertise, 3, 10*time.Second, hlog); err != nil {
		return nil, fmt.Errorf("registry: listen on %s: %w (choose another --registry_port)", cfg.Bind, err)
	}

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(id)
	rc.Logger = hlog
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = min(cfg.HeartbeatTimeout, rc.LeaderLeaseTimeout)
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}

	existing, err := raft.HasExistingState(logs, stable, snaps)
	if err != nil {
		return nil, fmt.Errorf("registry: read state: %w", err)
	}
	if n.raft, err = raft.NewRaft(rc, n.fsm, logs, stable, snaps, n.trans); err != nil {
		return nil, fmt.Errorf("registry: start raft: %w", err)
	}
	if !existing {
		cluster := raft.Configuration{Servers: []raft.Server{{
			ID: rc.LocalID, Address: n.trans.LocalAddr(), Suffrage: raft.Voter,
		}}}
		if err := n.raft.BootstrapCluster(cluster).Error(); err != nil {
			return nil, fmt.Errorf("registry: bootstrap: %w", err)
		}
	}
	if err := n.waitLeader(cfg.LeaderTimeout); err != nil {
		return nil, err
	}
	ok = true
	return n, nil
}

// waitLeader waits to lead, then for a barrier so that every committed
// entry (the restored registry) has been applied to the FSM.
func (n *Node) waitLeader(timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for n.raft.State() != raft.Leader {
		select {
		case <-n.raft.LeaderCh():
		case <-deadline.C:
			return fmt.Errorf("%w after %v", ErrNotLeader, timeout)
		}
	}
	if err := n.raft.Barrier(timeout).Error(); err != nil {
		return fmt.Errorf("registry: barrier: %w", err)
	}
	return nil
}

// FSM is the registry's state machine, for reading.
func (n *Node) FSM() *FSM { return n.fsm }

// Addr is the Raft transport's address.
func (n *Node) Addr() string { return string(n.trans.LocalAddr()) }

// Propose commits op and waits until it is applied, for at most timeout.
// An error the FSM returns (ErrAgentIsGone, ...) is returned too.
func (n *Node) Propose(op Op, timeout time.Duration) error {
	b, err := Encode(op)
	if err != nil {
		return err
	}
	f := n.raft.Apply(b, timeout)
	if err := f.Error(); err != nil {
		return fmt.Errorf("registry: commit: %w", err)
	}
	if err, isErr := f.Response().(error); isErr {
		return err
	}
	return nil
}

// Close stops the Raft member and closes its files.
func (n *Node) Close() error {
	err := n.raft.Shutdown().Error()
	n.closeIO()
	return err
}

func (n *Node) closeIO() {
	if n.raft != nil {
		_ = n.raft.Shutdown().Error()
	}
	if n.trans != nil {
		_ = n.trans.Close()
	}
	if n.store != nil {
		_ = n.store.Close()
	}
}

// serverID reads this master's Raft server id from dir, making one on
// first use. It must not change: the group's configuration names it.
func serverID(dir string) (string, error) {
	p := filepath.Join(dir, "server-id")
	b, err := os.ReadFile(p)
	if err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			return id, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("registry: %w", err)
	}
	id := randomID()
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("registry: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return "", fmt.Errorf("registry: %w", err)
	}
	return id, nil
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = io.ReadFull(rand.Reader, b)
	return hex.EncodeToString(b)
}
