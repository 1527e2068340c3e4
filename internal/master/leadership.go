package master

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	schedpb "github.com/agora-dev/agora/api/mesos/v1/scheduler"
	"github.com/agora-dev/agora/internal/allocator"
	"github.com/agora-dev/agora/internal/registry"
)

// Leadership. Every master of a group runs the same process; only the
// Raft leader of the registry acts as the master (docs/ha.md):
//
//   - watchLeadership turns Raft's leadership changes into becomeLeader
//     (after a barrier: every committed entry applied) and stepDown on the
//     loop;
//   - becomeLeader rebuilds the registry's view (recovered, unreachable and
//     gone agents), starts the re-registration window and opens the gate;
//   - stepDown closes the gate, every stream and timer, and forgets all
//     the next leader rebuilds from agents and frameworks;
//   - the gate answers the public APIs of a master that does not lead with
//     307 to the leader, or 503 when there is none (Mesos's redirect()).

// selfAddress finds this master's entry in --masters (by its IP, its
// advertised IP or its hostname, with its port). Without a group it is
// the advertised address.
func selfAddress(cfg Config, advertisedIP string, port int) (string, error) {
	p := strconv.Itoa(port)
	own := []string{net.JoinHostPort(cfg.IP, p), net.JoinHostPort(advertisedIP, p), net.JoinHostPort(cfg.Hostname, p)}
	if len(cfg.Masters) == 0 {
		return own[1], nil
	}
	for _, a := range cfg.Masters {
		if slices.Contains(own, a) {
			return a, nil
		}
	}
	return "", fmt.Errorf("--masters=%s does not contain this master's own address (%s): list every master "+
		"of the group, this one included, as the host:port it listens on", strings.Join(cfg.Masters, ","), own[1])
}

// Elected reports whether this master leads its group and has taken over.
func (m *Master) Elected() bool { return m.elected.Load() }

// Self is this master's address in its group.
func (m *Master) Self() string { return m.self }

// resetState forgets everything a leader rebuilds from agents and
// frameworks (and is empty on a master that does not lead).
func (m *Master) resetState() {
	m.frameworks = make(map[string]*framework)
	m.completedFrameworks = nil
	m.agents = make(map[string]*agent)
	m.removedAgents = make(map[string]time.Time)
	m.recoveredAgents = make(map[string]registry.Agent)
	m.registryAgents = 0
	m.offers = make(map[string]*offer)
	m.alloc = allocator.New(allocator.DefaultConfig())
	m.allocPending = false
	m.op.gone = nil
}

// watchLeadership follows the registry's Raft leadership until ctx ends.
func (m *Master) watchLeadership(ctx interface{ Done() <-chan struct{} }) {
	changes := m.reg.LeaderChanges()
	for {
		select {
		case <-ctx.Done():
			return
		case leader := <-changes:
			if !leader {
				// Close the gate at once; the loop catches up.
				m.elected.Store(false)
				m.post(m.stepDown)
				continue
			}
			// Lead only once every entry committed by earlier leaders is
			// applied: the registry is then complete.
			if err := m.reg.Barrier(10 * time.Second); err != nil {
				m.log.Warn("won the election but the registry barrier failed; waiting for the next election", "err", err)
				continue
			}
			if m.reg.IsLeader() {
				m.post(m.becomeLeader)
			}
		}
	}
}

// becomeLeader starts this master's term as the leader, from what the
// registry holds.
func (m *Master) becomeLeader() {
	if m.leading {
		return
	}
	m.leading = true
	m.epoch++
	now := time.Now()
	m.electedTime = now
	st := m.reg.FSM().State()
	for _, g := range st.GoneAgents {
		m.markGone(g.ID, time.Unix(0, g.Time))
	}
	for _, u := range st.UnreachableAgents {
		m.removedAgents[u.ID] = time.Unix(0, u.Time)
	}
	for _, a := range st.Agents {
		m.recoveredAgents[a.ID] = a
	}
	m.registryAgents = len(st.Agents)
	if len(m.recoveredAgents) > 0 {
		m.reregisterTimer = m.after(m.cfg.AgentReregisterTimeout, m.recoveredAgentsTimeout)
	}
	m.elected.Store(true)
	m.log.Info("elected as the leading master", "self", m.self, "term", m.reg.Term(),
		"recovered_agents", len(st.Agents), "unreachable_agents", len(st.UnreachableAgents),
		"reregister_timeout", m.cfg.AgentReregisterTimeout)
}

// stepDown ends this master's term: nothing it decided as leader may go
// on once another master can lead.
func (m *Master) stepDown() {
	if !m.leading {
		return
	}
	m.elected.Store(false)
	m.leading = false
	m.epoch++
	m.log.Warn("lost leadership: closing every stream; the new leader rebuilds the cluster state",
		"self", m.self, "leader", m.reg.Leader())
	m.closeStreams()
	if m.reregisterTimer != nil {
		m.reregisterTimer.Stop()
		m.reregisterTimer = nil
	}
	for _, f := range m.frameworks {
		if f.failover != nil {
			f.failover.Stop()
		}
	}
	for _, o := range m.offers {
		if o.timer != nil {
			o.timer.Stop()
		}
	}
	m.resetState()
}

// closeStreams closes every framework, agent and operator stream.
func (m *Master) closeStreams() {
	m.closeOperatorStreams()
	for _, f := range m.frameworks {
		if f.stream != nil {
			f.stream.close()
			f.stream = nil
		}
	}
	for _, a := range m.agents {
		if a.stream != nil {
			a.stream.close()
			a.stream = nil
		}
	}
}

// recoveredAgentsTimeout ends the re-registration window of a new
// leader: the registry's agents that did not come back are marked
// unreachable, unless that would be more than
// --recovery_agent_removal_limit of them (then the master exits, as
// Mesos's does, for an operator to look into).
func (m *Master) recoveredAgentsTimeout() {
	m.reregisterTimer = nil
	if len(m.recoveredAgents) == 0 {
		return
	}
	ids := slices.Sorted(func(yield func(string) bool) {
		for id := range m.recoveredAgents {
			if !yield(id) {
				return
			}
		}
	})
	frac := float64(len(ids)) / float64(max(m.registryAgents, 1))
	if frac > m.cfg.RecoveryAgentRemovalLimit {
		// Mesos's words, capital letter included.
		msg := fmt.Sprintf("Post-recovery agent removal limit exceeded! After %v there were %d (%.0f%%) agents "+
			"recovered from the registry that did not reregister: %s. The configured removal limit is %.0f%%. "+
			"Please investigate or increase this limit to proceed further",
			m.cfg.AgentReregisterTimeout, len(ids), frac*100, strings.Join(ids, ", "), m.cfg.RecoveryAgentRemovalLimit*100)
		err := errors.New(msg)
		m.log.Error(err.Error())
		select {
		case m.fatal <- err:
		default:
		}
		return
	}
	for _, id := range ids {
		m.log.Warn("agent did not re-subscribe after the master failover; marking it unreachable",
			"agent", id, "timeout", m.cfg.AgentReregisterTimeout)
		now := time.Now()
		m.proposeThen(registry.MarkAgentUnreachable{ID: id, Time: now.UnixNano()}, func(err error) {
			if err != nil {
				return // still recovered; the next leader decides again
			}
			if _, still := m.recoveredAgents[id]; !still {
				return // it came back meanwhile
			}
			delete(m.recoveredAgents, id)
			m.removedAgents[id] = now
			m.metrics.recoveryRemovals++
			// The tasks were never known to this leader: frameworks learn
			// of them by reconciliation (TASK_LOST / TASK_UNREACHABLE).
			for _, f := range m.sortedFrameworks() {
				m.sendToFramework(f, &schedpb.Event{
					Type:    schedpb.Event_FAILURE.Enum(),
					Failure: &schedpb.Event_Failure{AgentId: agentIDProto(id)},
				})
			}
			m.opAgentRemoved(id)
		})
	}
}

// localPaths are answered by any master, leading or not.
var localPaths = map[string]bool{
	"/health": true, "/master/health": true, "/version": true, "/metrics/snapshot": true, "/metrics": true,
	"/agora/v1/leader": true, registry.RaftPath: true, "/master/redirect": true, "/redirect": true,
	"/": true, "/favicon.ico": true, "/flags": true, "/master/flags": true,
}

// gate passes requests to next on the leader; elsewhere the public APIs
// answer 307 to the leader or 503.
func (m *Master) gate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.elected.Load() || localPaths[r.URL.Path] || strings.HasPrefix(r.URL.Path, "/static/") {
			next.ServeHTTP(w, r)
			return
		}
		if leader := m.reg.Leader(); leader != "" && leader != m.self {
			if body, ok := forwardable(r); ok {
				m.forwardToLeader(w, r, leader, body)
				return
			}
		}
		m.redirect(w, r.URL.RequestURI())
	})
}

// redirect answers 307 to the same path on the leader, 503 "No leader
// elected" when there is none, and 503 "Master has not finished recovery"
// while this master has won the election but not yet taken over.
func (m *Master) redirect(w http.ResponseWriter, path string) {
	leader := m.reg.Leader()
	switch {
	case leader == "":
		textError(w, http.StatusServiceUnavailable, "No leader elected")
	case leader == m.self:
		textError(w, http.StatusServiceUnavailable, "Master has not finished recovery")
	default:
		w.Header().Set("Location", "//"+leader+path)
		w.WriteHeader(http.StatusTemporaryRedirect)
	}
}

// leaderAddress is the address /master/redirect names: the leader's.
func (m *Master) leaderAddress() string {
	if len(m.cfg.Masters) <= 1 {
		return fmt.Sprintf("%s:%d", m.info.GetHostname(), m.info.GetPort())
	}
	return m.reg.Leader()
}

func (m *Master) handleRedirect(w http.ResponseWriter, r *http.Request) {
	leader := m.leaderAddress()
	if leader == "" {
		textError(w, http.StatusServiceUnavailable, "No leader elected")
		return
	}
	w.Header().Set("Location", "//"+leader)
	w.WriteHeader(http.StatusTemporaryRedirect)
}

// handleLeader tells the console, agents and clients where the leading
// master is, answered locally by every master:
//
//	{"leader": "host:port" or "", "self": "host:port", "elected": bool, "term": n,
//	 "masters": ["host:port", …]}
func (m *Master) handleLeader(w http.ResponseWriter, r *http.Request) {
	elected, leader := m.elected.Load(), m.leaderAddress()
	masters := m.cfg.Masters
	if len(masters) == 0 {
		masters = []string{m.self}
	}
	// Any console may ask any master of the group (the one it was loaded
	// from may be dead): this read-only answer is for every origin.
	w.Header().Set("Access-Control-Allow-Origin", "*")
	o := jsonObject{"leader": leader, "self": m.self, "elected": elected,
		"term": float64(m.reg.Term()), "masters": masters}
	if warn := m.openWarning(); warn != "" {
		o["security_warning"] = warn // shown by the console
	}
	writeJSON(w, r, o)
}

// notLeading refuses a subscription that reached the loop after this
// master stepped down.
func (m *Master) notLeading(w http.ResponseWriter, r *http.Request) {
	m.redirect(w, r.URL.RequestURI())
}
