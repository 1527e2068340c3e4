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
	"slices"
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
	// Self is this master's address as the group knows it (host:port of
	// its HTTP listener, which also carries the Raft traffic).
	Self string
	// Peers lists every master of the group, Self included. Empty (or
	// only Self) makes a group of one.
	Peers []string
	// Stream carries the Raft connections (NewHTTPStreamLayer).
	Stream raft.StreamLayer
	// HeartbeatTimeout, ElectionTimeout and LeaseTimeout are raft's. A
	// leader that has not heard from a quorum for LeaseTimeout steps down.
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration
	LeaseTimeout     time.Duration
	// LeaderTimeout bounds how long Open waits to lead a group of one.
	LeaderTimeout time.Duration
	Logger        *slog.Logger
}

// DefaultConfig returns the defaults of a group of one (in memory).
func DefaultConfig() Config {
	return Config{
		HeartbeatTimeout: 100 * time.Millisecond,
		ElectionTimeout:  100 * time.Millisecond,
		LeaseTimeout:     100 * time.Millisecond,
		LeaderTimeout:    10 * time.Second,
	}
}

// Group reports whether the config is for more than one master.
func (c Config) Group() bool {
	for _, p := range c.Peers {
		if p != c.Self {
			return true
		}
	}
	return false
}

// Validate reports the first invalid setting.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Self); err != nil {
		return fmt.Errorf("registry: invalid address %q: %w", c.Self, err)
	}
	if c.Stream == nil {
		return errors.New("registry: no stream layer")
	}
	if len(c.Peers) > 0 && !slices.Contains(c.Peers, c.Self) {
		return fmt.Errorf("registry: the group %v does not contain this master's address %s", c.Peers, c.Self)
	}
	if c.HeartbeatTimeout <= 0 || c.ElectionTimeout <= 0 || c.LeaseTimeout <= 0 || c.LeaderTimeout <= 0 {
		return errors.New("registry: timeouts must be positive")
	}
	if c.LeaseTimeout > c.HeartbeatTimeout {
		return errors.New("registry: the lease timeout must not exceed the heartbeat timeout")
	}
	return nil
}

// Node is this master's member of the registry's Raft group.
type Node struct {
	fsm    *FSM
	raft   *raft.Raft
	trans  *raft.NetworkTransport
	store  *boltStore // nil when in memory
	notify chan bool
	self   string
}

// Open starts the Raft member and bootstraps the group when the store is
// empty. A group of one waits until it leads with the whole log applied;
// a member of a larger group returns at once and learns of its elections
// through LeaderChanges.
func Open(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// Raft's warnings include the routine "starting election" of every
	// start and every failover; only its errors reach Agora's log.
	hlog := hclog.FromStandardLogger(slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		&hclog.LoggerOptions{Name: "raft", Level: hclog.Error})

	n := &Node{fsm: NewFSM(), notify: make(chan bool, 64), self: cfg.Self}
	ok := false
	defer func() {
		if !ok {
			n.closeIO()
		}
	}()

	group := cfg.Group()
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
		want := ""
		if group {
			want = cfg.Self
		}
		if id, err = serverID(cfg.Dir, want); err != nil {
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
	if group {
		// Every member derives the same configuration from the same
		// list: a server's id is its address.
		id = cfg.Self
	}
	n.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: cfg.Stream, MaxPool: 3, Timeout: 10 * time.Second, Logger: hlog,
	})

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(id)
	rc.Logger = hlog
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaseTimeout
	rc.NotifyCh = n.notify
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
		var servers []raft.Server
		if group {
			for _, p := range cfg.Peers {
				servers = append(servers, raft.Server{ID: raft.ServerID(p), Address: raft.ServerAddress(p), Suffrage: raft.Voter})
			}
		} else {
			servers = []raft.Server{{ID: rc.LocalID, Address: n.trans.LocalAddr(), Suffrage: raft.Voter}}
		}
		// Bootstrapping every member with the same configuration is safe:
		// they all write the same first entry.
		err := n.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error()
		if group && errors.Is(err, raft.ErrCantBootstrap) {
			// The leader reached this new member first (its log or a
			// snapshot arrived between NewRaft and here): it has joined.
			err = nil
		}
		if err != nil {
			return nil, fmt.Errorf("registry: bootstrap: %w", err)
		}
	}
	if !group {
		if err := n.waitLeader(cfg.LeaderTimeout); err != nil {
			return nil, err
		}
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
	return n.Barrier(timeout)
}

// Barrier waits until every entry committed before it has been applied.
// It fails when this member does not lead.
func (n *Node) Barrier(timeout time.Duration) error {
	if err := n.raft.Barrier(timeout).Error(); err != nil {
		return fmt.Errorf("registry: barrier: %w", err)
	}
	return nil
}

// LeaderChanges delivers true when this member becomes the Raft leader
// and false when it stops being it (deposed, or its lease ran out).
func (n *Node) LeaderChanges() <-chan bool { return n.notify }

// IsLeader reports whether this member is the Raft leader now.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Leader is the address of the current Raft leader as this member knows
// it, or "" when it knows none.
func (n *Node) Leader() string {
	addr, _ := n.raft.LeaderWithID()
	return string(addr)
}

// Term is the current Raft term.
func (n *Node) Term() uint64 { return n.raft.CurrentTerm() }

// Self is this member's address.
func (n *Node) Self() string { return n.self }

// FSM is the registry's state machine, for reading.
func (n *Node) FSM() *FSM { return n.fsm }

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
func serverID(dir, want string) (string, error) {
	p := filepath.Join(dir, "server-id")
	b, err := os.ReadFile(p)
	if err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			if want != "" && id != want {
				return "", fmt.Errorf("registry: %s belongs to the master %q, not %q: a master's registry cannot change "+
					"its address or move between a group of one and a larger group; start with an empty --work_dir "+
					"to join the group as a replaced master", dir, id, want)
			}
			return id, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("registry: %w", err)
	}
	id := want
	if id == "" {
		id = randomID()
	}
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
