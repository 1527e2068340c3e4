package registry

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"
)

// FuzzDecode: Decode never panics on any log entry; an op it accepts
// encodes back to an entry that decodes to the same op, with the same
// ignorable flag; and applying any entry to an FSM leaves a state that
// keeps its invariants.
func FuzzDecode(f *testing.F) {
	for _, op := range []Op{
		AdmitAgent{Agent: Agent{ID: "a1", Hostname: "h1", Endpoint: "10.0.0.1:5051"}},
		MarkAgentGone{ID: "a1", Time: 1700000000000000000},
		RemoveFramework{ID: "f1", Time: -1},
		RecordLostTasks{FrameworkID: "f1", Tasks: []LostTask{{TaskID: "t1", AgentID: "a1"}, {TaskID: "t2"}}, Time: 3},
	} {
		b, _ := Encode(op)
		f.Add(b)
		b, _ = EncodeWithFlags(op, FlagIgnoreUnknown)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{byte(OpAdmitAgent), '{'})
	f.Add(append([]byte{byte(FlagIgnoreUnknown | 0x7f)}, `{"x":1}`...))
	f.Add(append([]byte{byte(OpAdmitAgent)}, `{"agent":{"id":"\ud800","hostname":1}}`...))
	f.Add(append([]byte{byte(OpRemoveFramework)}, `{"id":"f","time":1e400}`...))

	f.Fuzz(func(t *testing.T, b []byte) {
		op, ignorable, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrBadOp) && !errors.Is(err, ErrUnknownOp) {
				t.Fatalf("Decode(%q): error %v is neither ErrBadOp nor ErrUnknownOp", b, err)
			}
		} else {
			if ignorable != (b[0]&byte(FlagIgnoreUnknown) != 0) {
				t.Fatalf("Decode(%q): ignorable = %v", b, ignorable)
			}
			flags := OpType(0)
			if ignorable {
				flags = FlagIgnoreUnknown
			}
			again, err := EncodeWithFlags(op, flags)
			if err != nil {
				t.Fatalf("re-encode %#v: %v", op, err)
			}
			op2, ign2, err := Decode(again)
			if err != nil || ign2 != ignorable || !reflect.DeepEqual(op2, op) {
				t.Fatalf("Decode(Encode(%#v)) = %#v, %v, %v", op, op2, ign2, err)
			}
		}
		fsm := NewFSM()
		fsm.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: b})
		checkState(t, fsm.State())
	})
}

// FuzzRestore: Restore never panics on any snapshot; a snapshot it accepts
// gives a state that keeps the FSM's invariants, and that state snapshots,
// restores and snapshots again to the same bytes.
func FuzzRestore(f *testing.F) {
	f.Add([]byte(`{"version":1,"agents":[{"id":"a1","hostname":"h1","endpoint":"e"}],"gone_agents":[{"id":"a9","time":5}],"removed_frameworks":[{"id":"f1","time":7}]}`))
	f.Add([]byte(`{"version":1,"agents":[],"gone_agents":[],"removed_frameworks":[]}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`{"version":1,"agents":[{"id":"a1"},{"id":"a1","hostname":"other"}]}`))
	f.Add([]byte(`{"version":1,"agents":[{"id":"a1"}],"gone_agents":[{"id":"a1","time":1}]}`))
	f.Add([]byte(`{"version":1,"agents":[{"id":""}],"removed_frameworks":[{"id":"f","time":1},{"id":"f","time":2}]}`))
	f.Add([]byte(`{"version":1}{"version":1}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"version":1,"lost_tasks":[{"framework_id":"f2","tasks":[{"task_id":"t1","agent_id":"a1"},{"task_id":"t2"}]}]}`))
	f.Add([]byte(`{"version":1,"lost_tasks":[{"framework_id":"f2","tasks":[{"task_id":"t1"},{"task_id":"t1"}]}]}`))
	f.Add([]byte(`{"version":1,"removed_frameworks":[{"id":"f","time":1}],"lost_tasks":[{"framework_id":"f","tasks":[{"task_id":"t"}]}]}`))

	f.Fuzz(func(t *testing.T, b []byte) {
		fsm := NewFSM()
		if err := fsm.Restore(io.NopCloser(bytes.NewReader(b))); err != nil {
			if !reflect.DeepEqual(fsm.State(), NewFSM().State()) {
				// A refused snapshot may not leave half a state behind
				// when the FSM was empty before.
				t.Fatalf("Restore(%q) failed (%v) but left state %+v", b, err, fsm.State())
			}
			return
		}
		st := fsm.State()
		checkState(t, st)
		first := persist(t, fsm)
		again := NewFSM()
		if err := again.Restore(io.NopCloser(bytes.NewReader(first))); err != nil {
			t.Fatalf("Restore of its own snapshot %q: %v", first, err)
		}
		if got := again.State(); !reflect.DeepEqual(got, st) {
			t.Fatalf("restored %+v, re-restored %+v", st, got)
		}
		if second := persist(t, again); !bytes.Equal(second, first) {
			t.Fatalf("snapshot %q, re-snapshot %q", first, second)
		}
	})
}

func persist(t *testing.T, fsm *FSM) []byte {
	snap, err := fsm.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	return sink.Bytes()
}

// checkState checks what Apply guarantees: ids are not empty, agents are
// unique and sorted, an admitted agent is never gone, removed frameworks
// are unique and at most MaxRemovedFrameworks.
func checkState(t *testing.T, s State) {
	t.Helper()
	gone := map[string]bool{}
	for i, g := range s.GoneAgents {
		if g.ID == "" || (i > 0 && s.GoneAgents[i-1].ID >= g.ID) {
			t.Fatalf("gone agents empty, unsorted or repeated: %+v", s.GoneAgents)
		}
		gone[g.ID] = true
	}
	for i, a := range s.Agents {
		if a.ID == "" || (i > 0 && s.Agents[i-1].ID >= a.ID) {
			t.Fatalf("agents empty, unsorted or repeated: %+v", s.Agents)
		}
		if gone[a.ID] {
			t.Fatalf("agent %q is both admitted and gone", a.ID)
		}
	}
	seen := map[string]bool{}
	for _, r := range s.RemovedFrameworks {
		if r.ID == "" || seen[r.ID] {
			t.Fatalf("removed frameworks empty or repeated: %+v", s.RemovedFrameworks)
		}
		seen[r.ID] = true
	}
	total := 0
	lostSeen := map[string]bool{}
	for _, l := range s.LostTasks {
		if l.FrameworkID == "" || lostSeen[l.FrameworkID] || seen[l.FrameworkID] || len(l.Tasks) == 0 ||
			len(l.Tasks) > MaxLostTasksPerFramework {
			t.Fatalf("lost tasks of framework %q: empty id, repeated, removed, empty or too many (%d)", l.FrameworkID, len(l.Tasks))
		}
		lostSeen[l.FrameworkID] = true
		ids := map[string]bool{}
		for _, lt := range l.Tasks {
			if lt.TaskID == "" || ids[lt.TaskID] {
				t.Fatalf("lost tasks of framework %q: empty or repeated task id %+v", l.FrameworkID, l.Tasks)
			}
			ids[lt.TaskID] = true
		}
		total += len(l.Tasks)
	}
	if total > MaxLostTasks {
		t.Fatalf("%d lost tasks kept, more than %d", total, MaxLostTasks)
	}
	if len(s.RemovedFrameworks) > MaxRemovedFrameworks {
		t.Fatalf("%d removed frameworks kept, more than %d", len(s.RemovedFrameworks), MaxRemovedFrameworks)
	}
}
