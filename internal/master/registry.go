package master

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/agora-dev/agora/internal/registry"
)

// proposeTimeout bounds a registry proposal; a one-node group commits in
// about a millisecond (one fsync).
const proposeTimeout = 10 * time.Second

// openRegistry starts the registry's Raft member (a one-node group),
// waits to lead it, and restores what it holds: agents marked gone stay
// refused. Removed frameworks are looked up in the registry directly.
func (m *Master) openRegistry(advertisedIP string) error {
	rc := registry.DefaultConfig()
	if m.cfg.WorkDir != "" {
		rc.Dir = filepath.Join(m.cfg.WorkDir, "registry")
	}
	rc.Bind = net.JoinHostPort(m.cfg.IP, strconv.Itoa(m.cfg.RegistryPort))
	if ip := net.ParseIP(m.cfg.IP); ip != nil && ip.IsUnspecified() {
		rc.Advertise = advertisedIP
	}
	rc.Logger = m.log
	reg, err := registry.Open(rc)
	if err != nil {
		return fmt.Errorf("master: %w", err)
	}
	m.reg = reg
	st := reg.FSM().State()
	for _, g := range st.GoneAgents {
		m.markGone(g.ID, time.Unix(0, g.Time))
	}
	m.log.Info("registry recovered", "addr", reg.Addr(), "persistent", rc.Dir != "",
		"admitted_agents", len(st.Agents), "gone_agents", len(st.GoneAgents),
		"removed_frameworks", len(st.RemovedFrameworks))
	return nil
}

// proposeAsync commits op in the background; the loop never waits for
// the registry. Run waits for these before closing the registry.
func (m *Master) proposeAsync(op registry.Op) {
	m.proposals.Add(1)
	go func() {
		defer m.proposals.Done()
		if err := m.reg.Propose(op, proposeTimeout); err != nil {
			m.log.Error("registry proposal failed", "op", fmt.Sprintf("%T", op), "err", err)
		}
	}()
}

// frameworkRemoved reports whether a framework with this id was removed,
// by this master or (through the registry) an earlier one.
func (m *Master) frameworkRemoved(id string) bool {
	return m.completedFramework(id) != nil || m.reg.FSM().FrameworkRemoved(id)
}
