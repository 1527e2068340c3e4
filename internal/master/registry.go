package master

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/agora-dev/agora/internal/registry"
)

// proposeTimeout bounds a registry proposal; a one-node group commits in
// about a millisecond (one fsync).
const proposeTimeout = 10 * time.Second

// openRegistry starts the registry's Raft member. A group of one waits
// to lead it here; a larger group elects its leader once the masters
// serve (watchLeadership). What the registry holds is restored by
// becomeLeader.
func (m *Master) openRegistry() error {
	rc := registry.DefaultConfig()
	if m.cfg.WorkDir != "" {
		rc.Dir = filepath.Join(m.cfg.WorkDir, "registry")
	}
	rc.Self = m.self
	rc.Peers = m.cfg.Masters
	rc.Stream = m.raftLayer
	rc.Logger = m.log
	if rc.Group() {
		t := m.cfg.RaftTimeout
		rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaseTimeout = t, t, t/2
	}
	reg, err := registry.Open(rc)
	if err != nil {
		return fmt.Errorf("master: %w", err)
	}
	m.reg = reg
	st := reg.FSM().State()
	m.log.Info("registry opened", "self", m.self, "group", rc.Peers, "persistent", rc.Dir != "",
		"admitted_agents", len(st.Agents), "unreachable_agents", len(st.UnreachableAgents),
		"gone_agents", len(st.GoneAgents), "removed_frameworks", len(st.RemovedFrameworks))
	return nil
}

// proposeThen commits op in the background and then runs then on the
// loop with the outcome, unless the leadership changed meanwhile (the
// next leader decides again from what the registry holds).
func (m *Master) proposeThen(op registry.Op, then func(error)) {
	m.proposeThenOr(op, then, nil)
}

// proposeThenOr is proposeThen that runs stale, if not nil, on the loop
// instead of then when the leadership changed meanwhile.
func (m *Master) proposeThenOr(op registry.Op, then func(error), stale func()) {
	epoch := m.epoch
	m.proposals.Add(1)
	go func() {
		defer m.proposals.Done()
		err := m.reg.Propose(op, proposeTimeout)
		if err != nil {
			m.log.Error("registry proposal failed", "op", fmt.Sprintf("%T", op), "err", err)
		}
		m.post(func() {
			switch {
			case m.epoch == epoch:
				then(err)
			case stale != nil:
				stale()
			}
		})
	}()
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
