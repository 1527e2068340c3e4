package master

import (
	"errors"
	"fmt"
	"github.com/agora-dev/agora/internal/tlsconf"
	"net"
	"time"
)

// Config is the master's configuration. Only cmd/agora reads flags; it fills
// a Config starting from DefaultConfig.
type Config struct {
	// IP and Port to listen on. Port 0 picks a free port.
	IP   string
	Port int
	// Hostname advertised to frameworks and agents; defaults to the IP.
	Hostname string
	// WorkDir holds the master's files: the registry under
	// <WorkDir>/registry. Empty keeps the registry in memory, so nothing
	// survives a restart.
	WorkDir string
	// Listener, when set, is used instead of listening on IP:Port (for
	// agora local, which must know every master's port up front).
	Listener net.Listener

	// Masters lists the HTTP address (host:port) of every master of the
	// group, this one included, the same list on each. Empty: a group of
	// one. The registry's Raft traffic uses the same port.
	Masters []string
	// RaftTimeout is the registry's Raft heartbeat and election timeout in
	// a group; a leader that hears from no quorum for half of it steps
	// down.
	RaftTimeout time.Duration
	// AgentReregisterTimeout is how long a new leader waits for the
	// agents the registry admitted to re-subscribe before marking them
	// unreachable; RecoveryAgentRemovalLimit is the fraction of them
	// (0–1) above which it refuses to and exits instead.
	AgentReregisterTimeout    time.Duration
	RecoveryAgentRemovalLimit float64

	// Auth is authentication and per-principal limits (authn.go).
	Auth AuthConfig
	// ACLs is Mesos's ACL JSON (--acls: inline, a path or file://), for
	// the local authorizer (authz.go); "" authorizes everything.
	ACLs string
	// Authorizers is --authorizers; only Mesos's "local" exists.
	Authorizers string
	// TLS is the listener's and every outgoing connection's TLS
	// (LIBPROCESS_SSL_*, --tls_*); the zero value is plaintext.
	TLS tlsconf.Config

	// AllocationInterval is the period of the batched allocation cycle;
	// events that free resources also trigger a cycle.
	AllocationInterval time.Duration
	// HeartbeatInterval between HEARTBEAT events on scheduler streams.
	HeartbeatInterval time.Duration
	// AgentPingTimeout and MaxAgentPingTimeouts: an agent that answers no
	// ping for MaxAgentPingTimeouts intervals of AgentPingTimeout, or whose
	// stream stays broken that long, is removed and its tasks are lost.
	AgentPingTimeout     time.Duration
	MaxAgentPingTimeouts int
	// OfferTimeout rescinds offers not used for this long; 0 = never.
	OfferTimeout time.Duration
	// MaxCompletedFrameworks and MaxCompletedTasksPerFramework bound the
	// history kept for /master/state.
	MaxCompletedFrameworks        int
	MaxCompletedTasksPerFramework int
	// StreamBacklog is how many undelivered events a subscriber may have
	// before its stream is closed as too slow.
	StreamBacklog int
}

// DefaultConfig returns the defaults of Mesos's master flags.
func DefaultConfig() Config {
	return Config{
		IP:                            "127.0.0.1",
		Port:                          5050,
		AllocationInterval:            time.Second,
		HeartbeatInterval:             15 * time.Second,
		AgentPingTimeout:              15 * time.Second,
		MaxAgentPingTimeouts:          5,
		MaxCompletedFrameworks:        50,
		MaxCompletedTasksPerFramework: 1000,
		StreamBacklog:                 4096,
		RaftTimeout:                   time.Second,
		AgentReregisterTimeout:        10 * time.Minute,
		RecoveryAgentRemovalLimit:     1,
	}
}

// Validate reports the first invalid setting.
func (c Config) Validate() error {
	if net.ParseIP(c.IP) == nil {
		return fmt.Errorf("invalid --ip %q: not an IP address", c.IP)
	}
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("invalid --port %d: must be 0-65535", c.Port)
	}
	for _, a := range c.Masters {
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" || port == "" || port == "0" {
			return fmt.Errorf("invalid --masters entry %q: expecting host:port with a fixed port", a)
		}
	}
	if len(c.Masters) > 1 && c.Port == 0 && c.Listener == nil {
		return errors.New("--masters needs a fixed --port: every master must know the others' addresses")
	}
	switch {
	case c.AllocationInterval <= 0:
		return errors.New("--allocation_interval must be positive")
	case c.HeartbeatInterval <= 0:
		return errors.New("heartbeat interval must be positive")
	case c.AgentPingTimeout <= 0:
		return errors.New("--agent_ping_timeout must be positive")
	case c.MaxAgentPingTimeouts < 1:
		return errors.New("--max_agent_ping_timeouts must be at least 1")
	case c.OfferTimeout < 0:
		return errors.New("--offer_timeout must not be negative")
	case c.RaftTimeout < 10*time.Millisecond:
		return errors.New("--raft_timeout must be at least 10ms")
	case c.AgentReregisterTimeout <= 0:
		return errors.New("--agent_reregister_timeout must be positive")
	case c.RecoveryAgentRemovalLimit < 0 || c.RecoveryAgentRemovalLimit > 1:
		return errors.New("--recovery_agent_removal_limit must be a percentage in [0%, 100%]")
	case c.StreamBacklog < 1:
		return errors.New("stream backlog must be at least 1")
	}
	return nil
}
