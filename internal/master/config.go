package master

import (
	"errors"
	"fmt"
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
	// RegistryPort is the port of the registry's Raft transport, on IP;
	// 0 picks a free port. (Not Port+1, as that is a Mesos agent's
	// default port.) A multi-master group will need it fixed.
	RegistryPort int

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
	if c.RegistryPort < 0 || c.RegistryPort > 65535 {
		return fmt.Errorf("invalid --registry_port %d: must be 0-65535", c.RegistryPort)
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
	case c.StreamBacklog < 1:
		return errors.New("stream backlog must be at least 1")
	}
	return nil
}
