package registry

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func apply(t *testing.T, f *FSM, idx uint64, op Op) any {
	t.Helper()
	b, err := Encode(op)
	if err != nil {
		t.Fatal(err)
	}
	return f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: b})
}

func TestFSMApply(t *testing.T) {
	f := NewFSM()
	for i, op := range []Op{
		AdmitAgent{Agent: Agent{ID: "a1", Hostname: "h1", Endpoint: "http://h1:5051"}},
		AdmitAgent{Agent: Agent{ID: "a2", Hostname: "h2"}},
		MarkAgentGone{ID: "a2", Time: 20},
		MarkAgentGone{ID: "a2", Time: 30}, // idempotent: the first time stays
		RemoveFramework{ID: "f1", Time: 10},
		RemoveFramework{ID: "f1", Time: 11},
	} {
		if r := apply(t, f, uint64(i+1), op); r != nil {
			t.Fatalf("op %d %+v: %v", i, op, r)
		}
	}
	// A gone agent cannot be admitted again.
	if r := apply(t, f, 9, AdmitAgent{Agent: Agent{ID: "a2"}}); !errors.Is(r.(error), ErrAgentIsGone) {
		t.Errorf("admitting a gone agent: %v, want ErrAgentIsGone", r)
	}
	want := State{
		Agents:            []Agent{{ID: "a1", Hostname: "h1", Endpoint: "http://h1:5051"}},
		GoneAgents:        []Removed{{ID: "a2", Time: 20}},
		RemovedFrameworks: []Removed{{ID: "f1", Time: 10}},
	}
	if got := f.State(); !reflect.DeepEqual(got, want) {
		t.Errorf("state\n got %+v\nwant %+v", got, want)
	}
	if !f.FrameworkRemoved("f1") || f.FrameworkRemoved("f2") || !f.AgentGone("a2") || f.AgentGone("a1") {
		t.Error("accessors disagree with the state")
	}
}

func TestFSMRemovedFrameworksBounded(t *testing.T) {
	f := NewFSM()
	for i := range MaxRemovedFrameworks + 5 {
		apply(t, f, uint64(i+1), RemoveFramework{ID: fmt.Sprintf("f%d", i), Time: int64(i)})
	}
	s := f.State()
	if len(s.RemovedFrameworks) != MaxRemovedFrameworks || s.RemovedFrameworks[0].ID != "f5" {
		t.Fatalf("kept %d, oldest %q; want %d, oldest f5", len(s.RemovedFrameworks), s.RemovedFrameworks[0].ID, MaxRemovedFrameworks)
	}
	if f.FrameworkRemoved("f4") || !f.FrameworkRemoved("f5") {
		t.Error("the oldest removals should be forgotten first")
	}
}

func TestFSMUnknownOps(t *testing.T) {
	f := NewFSM()
	// A newer master's op flagged ignorable is skipped without error.
	data := append([]byte{byte(FlagIgnoreUnknown | 0x7f)}, `{"x":1}`...)
	if r := f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: data}); r != nil {
		t.Errorf("ignorable unknown op: %v, want nil", r)
	}
	// Without the flag it is refused, and the state is untouched.
	data[0] = 0x7f
	if r := f.Apply(&raft.Log{Index: 2, Type: raft.LogCommand, Data: data}); !errors.Is(r.(error), ErrUnknownOp) {
		t.Errorf("unknown op: %v, want ErrUnknownOp", r)
	}
	// A known op with the flag is still applied.
	b, _ := EncodeWithFlags(RemoveFramework{ID: "f", Time: 1}, FlagIgnoreUnknown)
	f.Apply(&raft.Log{Index: 3, Type: raft.LogCommand, Data: b})
	// Garbage does not panic.
	if r := f.Apply(&raft.Log{Index: 4, Type: raft.LogCommand, Data: []byte{byte(OpAdmitAgent), '{'}}); !errors.Is(r.(error), ErrBadOp) {
		t.Errorf("malformed op: %v, want ErrBadOp", r)
	}
	want := State{Agents: []Agent{}, GoneAgents: []Removed{}, RemovedFrameworks: []Removed{{ID: "f", Time: 1}}}
	if got := f.State(); !reflect.DeepEqual(got, want) {
		t.Errorf("state %+v, want %+v", got, want)
	}
}

type memSink struct {
	bytes.Buffer
	cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }
func (s *memSink) Close() error  { return nil }

func TestFSMSnapshotRestore(t *testing.T) {
	f := NewFSM()
	apply(t, f, 1, AdmitAgent{Agent: Agent{ID: "a1", Hostname: "h1"}})
	apply(t, f, 2, MarkAgentGone{ID: "a9", Time: 5})
	apply(t, f, 3, RemoveFramework{ID: "f1", Time: 7})
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Applies after Snapshot do not leak into it.
	apply(t, f, 4, RemoveFramework{ID: "f2", Time: 8})
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	g := NewFSM()
	apply(t, g, 1, RemoveFramework{ID: "stale", Time: 1}) // Restore discards this
	if err := g.Restore(io.NopCloser(&sink)); err != nil {
		t.Fatal(err)
	}
	want := State{
		Agents:            []Agent{{ID: "a1", Hostname: "h1"}},
		GoneAgents:        []Removed{{ID: "a9", Time: 5}},
		RemovedFrameworks: []Removed{{ID: "f1", Time: 7}},
	}
	if got := g.State(); !reflect.DeepEqual(got, want) {
		t.Errorf("restored %+v, want %+v", got, want)
	}
	if g.FrameworkRemoved("stale") {
		t.Error("Restore kept earlier state")
	}
}

// TestApplyIsDeterministic: the FSM code never reads the clock or random
// numbers (style rule 4); the proposer stamps times into ops.
func TestApplyIsDeterministic(t *testing.T) {
	forbidden := regexp.MustCompile(`time\.Now|math/rand|crypto/rand|range f\.(agents|gone|removedIndex)`)
	src, err := os.ReadFile("fsm.go")
	if err != nil {
		t.Fatal(err)
	}
	if m := forbidden.Find(src); m != nil {
		t.Errorf("fsm.go uses %q: Apply must be deterministic", m)
	}
}

func TestLogEncoding(t *testing.T) {
	in := raft.Log{Index: 7, Term: 3, Type: raft.LogCommand, Data: []byte("x"), Extensions: []byte("ext"),
		AppendedAt: time.Unix(0, 12345)}
	var out raft.Log
	if err := decodeLog(encodeLog(&in), &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip: %+v -> %+v", in, out)
	}
	if err := decodeLog(encodeLog(&in)[:27], &out); err == nil {
		t.Error("truncated entry decoded")
	}
}

// TestNodePersists: a one-node group on disk keeps its registry across a
// restart.
func TestNodePersists(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "registry")
	cfg := oneNodeConfig()
	cfg.Dir = dir
	n, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Propose(RemoveFramework{ID: "f1", Time: 1}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := n.Propose(MarkAgentGone{ID: "a1", Time: 2}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := n.Propose(AdmitAgent{Agent: Agent{ID: "a1"}}, 5*time.Second); !errors.Is(err, ErrAgentIsGone) {
		t.Errorf("admitting a gone agent: %v", err)
	}
	if err := n.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	if err := n.Propose(RemoveFramework{ID: "f2", Time: 3}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	cfg.Stream = NewHTTPStreamLayer(cfg.Self)
	n2, err := Open(cfg) // snapshot + one log entry after it
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Close()
	st := n2.FSM().State()
	want := []Removed{{ID: "f1", Time: 1}, {ID: "f2", Time: 3}}
	if !reflect.DeepEqual(st.RemovedFrameworks, want) || !n2.FSM().AgentGone("a1") {
		t.Errorf("after restart: %+v", st)
	}
}

func TestNodeInMemory(t *testing.T) {
	n, err := Open(oneNodeConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := n.Propose(RemoveFramework{ID: "f1", Time: 1}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if !n.FSM().FrameworkRemoved("f1") {
		t.Error("proposal not applied")
	}
}

// oneNodeConfig is a group of one; it needs no listener.
func oneNodeConfig() Config {
	cfg := DefaultConfig()
	cfg.Self = "127.0.0.1:1"
	cfg.Stream = NewHTTPStreamLayer(cfg.Self)
	return cfg
}
