// Package registry is the master's replicated registry: the little state
// that must survive a master restart or failover because agents and
// frameworks cannot tell a new master again. Today that is
//
//   - the admitted agents (id, hostname, endpoint),
//   - the agents a leader marked unreachable (id, when): their tasks were
//     reported lost, so a leader that sees them again must not let those
//     tasks come back,
//   - the agents the operator marked gone (id, when), which may never
//     subscribe again,
//   - the most recently removed frameworks (id, when; the last
//     MaxRemovedFrameworks), which may never subscribe again,
//   - the tasks a leader told their framework were lost while their agent
//     might still run them (bounded, see MaxLostTasks): no later leader
//     may let them come back.
//
// Everything else (tasks, executors, resources, offers) is rebuilt from
// what agents and frameworks report when they re-subscribe.
//
// The state lives in FSM, a deterministic hashicorp/raft state machine fed
// typed ops (see OpType). Node runs the Raft group: a single master is a
// one-node group, so there is one code path for one master and for many.
//
// On disk, under the master's <work_dir>/registry:
//
//	registry/
//	  server-id        this master's Raft server id (made on first start)
//	  raft.db          bbolt: the Raft log and stable store
//	  snapshots/       raft file snapshots of the FSM (JSON)
package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"

	"github.com/hashicorp/raft"
)

// MaxRemovedFrameworks bounds the removed frameworks remembered; the
// oldest are forgotten first.
const MaxRemovedFrameworks = 1000

// snapshotVersion is the format version of a snapshot.
const snapshotVersion = 1

// Agent is an admitted agent.
type Agent struct {
	ID       string `json:"id"`
	Hostname string `json:"hostname,omitempty"`
	Endpoint string `json:"endpoint,omitempty"`
}

// Removed is a removed framework or gone agent with the time (Unix
// nanoseconds) of its removal.
type Removed struct {
	ID   string `json:"id"`
	Time int64  `json:"time"`
}

// State is a copy of the registry's state. Slices are in a deterministic
// order: agents and gone agents by id, removed frameworks oldest first.
type State struct {
	Agents            []Agent     `json:"agents"`
	UnreachableAgents []Removed   `json:"unreachable_agents,omitempty"`
	GoneAgents        []Removed   `json:"gone_agents"`
	RemovedFrameworks []Removed   `json:"removed_frameworks"`
	LostTasks         []LostTasks `json:"lost_tasks,omitempty"`
}

// FSM is the registry's raft.FSM. Apply runs on raft's FSM goroutine;
// the master reads through the accessor methods from its own goroutines.
type FSM struct {
	mu sync.RWMutex
	// +checklocks:mu
	agents map[string]Agent
	// +checklocks:mu
	unreachable map[string]int64
	// +checklocks:mu
	gone map[string]int64
	// +checklocks:mu
	removed []Removed // oldest first, at most MaxRemovedFrameworks
	// +checklocks:mu
	removedIndex map[string]bool
	// +checklocks:mu
	lost map[string]*lostList
	// +checklocks:mu
	lostOrder []string // framework ids, oldest first
	// +checklocks:mu
	lostCount int
}

var (
	_ raft.FSM         = (*FSM)(nil)
	_ raft.FSMSnapshot = (*snapshot)(nil)
)

// NewFSM returns an empty registry.
func NewFSM() *FSM {
	f := &FSM{}
	f.resetLocked()
	return f
}

func (f *FSM) resetLocked() {
	f.agents = make(map[string]Agent)
	f.unreachable = make(map[string]int64)
	f.gone = make(map[string]int64)
	f.removed = nil
	f.removedIndex = make(map[string]bool)
	f.lost = make(map[string]*lostList)
	f.lostOrder = nil
	f.lostCount = 0
}

// Apply applies one committed log entry. It returns nil or an error (which
// reaches the proposer through ApplyFuture.Response). It depends only on
// the entry and the state: no clock, no randomness, no map order.
func (f *FSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	op, ignorable, err := Decode(l.Data)
	if err != nil {
		if ignorable && errors.Is(err, ErrUnknownOp) {
			return nil // a newer master's op that older ones may skip
		}
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch op := op.(type) {
	case AdmitAgent:
		return f.applyAdmitAgentLocked(op)
	case MarkAgentGone:
		return f.applyMarkAgentGoneLocked(op)
	case MarkAgentUnreachable:
		return f.applyMarkAgentUnreachableLocked(op)
	case RemoveFramework:
		return f.applyRemoveFrameworkLocked(op)
	case RecordLostTasks:
		return f.applyRecordLostTasksLocked(op)
	}
	return fmt.Errorf("%w: %T", ErrUnknownOp, op)
}

func (f *FSM) applyAdmitAgentLocked(op AdmitAgent) error {
	if op.Agent.ID == "" {
		return fmt.Errorf("%w: agent without id", ErrBadOp)
	}
	if _, gone := f.gone[op.Agent.ID]; gone {
		return fmt.Errorf("%w: %q", ErrAgentIsGone, op.Agent.ID)
	}
	f.agents[op.Agent.ID] = op.Agent
	delete(f.unreachable, op.Agent.ID) // reachable again
	return nil
}

func (f *FSM) applyMarkAgentUnreachableLocked(op MarkAgentUnreachable) error {
	if op.ID == "" {
		return fmt.Errorf("%w: agent without id", ErrBadOp)
	}
	if _, gone := f.gone[op.ID]; gone {
		return fmt.Errorf("%w: %q", ErrAgentIsGone, op.ID)
	}
	delete(f.agents, op.ID)
	if _, ok := f.unreachable[op.ID]; !ok {
		f.unreachable[op.ID] = op.Time
	}
	return nil
}

func (f *FSM) applyMarkAgentGoneLocked(op MarkAgentGone) error {
	if op.ID == "" {
		return fmt.Errorf("%w: agent without id", ErrBadOp)
	}
	delete(f.agents, op.ID)
	delete(f.unreachable, op.ID)
	if _, gone := f.gone[op.ID]; !gone {
		f.gone[op.ID] = op.Time // the first marking's time stays
	}
	return nil
}

func (f *FSM) applyRemoveFrameworkLocked(op RemoveFramework) error {
	if op.ID == "" {
		return fmt.Errorf("%w: framework without id", ErrBadOp)
	}
	if f.removedIndex[op.ID] {
		return nil
	}
	f.removed = append(f.removed, Removed(op))
	f.removedIndex[op.ID] = true
	f.forgetLostLocked(op.ID)
	if n := len(f.removed) - MaxRemovedFrameworks; n > 0 {
		for _, r := range f.removed[:n] {
			delete(f.removedIndex, r.ID)
		}
		f.removed = slices.Delete(f.removed, 0, n)
	}
	return nil
}

// FrameworkRemoved reports whether the framework id was removed.
func (f *FSM) FrameworkRemoved(id string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.removedIndex[id]
}

// AgentUnreachable reports whether a leader marked the agent unreachable
// (and when, Unix nanoseconds) and it has not been admitted since.
func (f *FSM) AgentUnreachable(id string) (int64, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	t, ok := f.unreachable[id]
	return t, ok
}

// AgentGone reports whether the operator marked the agent gone.
func (f *FSM) AgentGone(id string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	_, gone := f.gone[id]
	return gone
}

// State returns a copy of the registry's state.
func (f *FSM) State() State {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.stateLocked()
}

func (f *FSM) stateLocked() State {
	s := State{
		Agents:            make([]Agent, 0, len(f.agents)),
		GoneAgents:        make([]Removed, 0, len(f.gone)),
		RemovedFrameworks: slices.Clone(f.removed),
	}
	for _, id := range slices.Sorted(maps.Keys(f.agents)) {
		s.Agents = append(s.Agents, f.agents[id])
	}
	for _, id := range slices.Sorted(maps.Keys(f.unreachable)) {
		s.UnreachableAgents = append(s.UnreachableAgents, Removed{ID: id, Time: f.unreachable[id]})
	}
	for _, id := range slices.Sorted(maps.Keys(f.gone)) {
		s.GoneAgents = append(s.GoneAgents, Removed{ID: id, Time: f.gone[id]})
	}
	if s.RemovedFrameworks == nil {
		s.RemovedFrameworks = []Removed{}
	}
	s.LostTasks = f.lostStateLocked()
	return s
}

// Snapshot captures a copy of the state (small: bounded by the agents,
// MaxRemovedFrameworks and MaxLostTasks); Persist writes it while Apply goes on.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return &snapshot{state: f.stateLocked()}, nil
}

// snapshotFile is the snapshot's on-disk form.
type snapshotFile struct {
	Version int `json:"version"`
	State
}

// Restore replaces the whole state with a snapshot's. A snapshot that
// breaks what Apply guarantees (an empty or repeated id, an agent both
// admitted and gone) is refused whole, and the state is left as it was:
// only corruption can make one, and restoring it would let a gone agent
// back in or make the next snapshot differ from this one.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var sf snapshotFile
	if err := json.NewDecoder(rc).Decode(&sf); err != nil {
		return fmt.Errorf("registry: decode snapshot: %w", err)
	}
	if sf.Version != snapshotVersion {
		return fmt.Errorf("registry: snapshot version %d is not supported (this master reads %d)", sf.Version, snapshotVersion)
	}
	next := NewFSM()
	next.mu.Lock() // not shared; held for the +checklocks annotations
	defer next.mu.Unlock()
	for _, g := range sf.GoneAgents {
		if g.ID == "" {
			return fmt.Errorf("registry: snapshot has a gone agent without id")
		}
		if _, dup := next.gone[g.ID]; dup {
			return fmt.Errorf("registry: snapshot lists gone agent %q twice", g.ID)
		}
		next.gone[g.ID] = g.Time
	}
	for _, a := range sf.Agents {
		if a.ID == "" {
			return fmt.Errorf("registry: snapshot has an agent without id")
		}
		if _, dup := next.agents[a.ID]; dup {
			return fmt.Errorf("registry: snapshot lists agent %q twice", a.ID)
		}
		if _, gone := next.gone[a.ID]; gone {
			return fmt.Errorf("registry: snapshot has agent %q both admitted and gone", a.ID)
		}
		next.agents[a.ID] = a
	}
	for _, u := range sf.UnreachableAgents {
		if u.ID == "" {
			return fmt.Errorf("registry: snapshot has an unreachable agent without id")
		}
		if _, dup := next.unreachable[u.ID]; dup {
			return fmt.Errorf("registry: snapshot lists unreachable agent %q twice", u.ID)
		}
		if _, admitted := next.agents[u.ID]; admitted {
			return fmt.Errorf("registry: snapshot has agent %q both admitted and unreachable", u.ID)
		}
		if _, gone := next.gone[u.ID]; gone {
			return fmt.Errorf("registry: snapshot has agent %q both unreachable and gone", u.ID)
		}
		next.unreachable[u.ID] = u.Time
	}
	for _, r := range sf.RemovedFrameworks {
		if next.removedIndex[r.ID] {
			return fmt.Errorf("registry: snapshot lists removed framework %q twice", r.ID)
		}
		if err := next.applyRemoveFrameworkLocked(RemoveFramework(r)); err != nil {
			return fmt.Errorf("registry: snapshot: %w", err)
		}
	}
	if err := next.restoreLostLocked(sf.LostTasks); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.agents, f.unreachable, f.gone, f.removed, f.removedIndex = next.agents, next.unreachable, next.gone, next.removed, next.removedIndex
	f.lost, f.lostOrder, f.lostCount = next.lost, next.lostOrder, next.lostCount
	return nil
}

type snapshot struct{ state State }

func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if err := json.NewEncoder(sink).Encode(snapshotFile{Version: snapshotVersion, State: s.state}); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("registry: write snapshot: %w", err)
	}
	return sink.Close()
}

func (s *snapshot) Release() {}
