package registry

import (
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// member is one registry node behind a real HTTP server on loopback, as
// it runs inside a master.
type member struct {
	addr string
	ln   net.Listener
	srv  *http.Server
	node *Node
}

func startGroup(t *testing.T, n int) []*member {
	t.Helper()
	var ms []*member
	var peers []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, &member{addr: ln.Addr().String(), ln: ln})
		peers = append(peers, ln.Addr().String())
	}
	dir := t.TempDir()
	for i, m := range ms {
		m.open(t, filepath.Join(dir, string(rune('a'+i))), peers)
	}
	t.Cleanup(func() {
		for _, m := range ms {
			m.stop()
		}
	})
	return ms
}

func (m *member) open(t *testing.T, dir string, peers []string) {
	t.Helper()
	if m.ln == nil {
		ln, err := net.Listen("tcp", m.addr)
		if err != nil {
			t.Fatal(err)
		}
		m.ln = ln
	}
	layer := NewHTTPStreamLayer(m.addr)
	mux := http.NewServeMux()
	mux.Handle(RaftPath, layer)
	m.srv = &http.Server{Handler: mux}
	go func() { _ = m.srv.Serve(m.ln) }()
	cfg := DefaultConfig()
	cfg.Dir = dir
	cfg.Self = m.addr
	cfg.Peers = peers
	cfg.Stream = layer
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaseTimeout = 300*time.Millisecond, 300*time.Millisecond, 150*time.Millisecond
	node, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m.node = node
}

func (m *member) stop() {
	if m.node != nil {
		_ = m.node.Close()
		m.node = nil
	}
	if m.srv != nil {
		_ = m.srv.Close()
		m.srv = nil
		m.ln = nil
	}
}

// waitLeader waits until exactly one running member leads and every
// running member names it.
func waitLeader(t *testing.T, ms []*member) *member {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		var leader *member
		agree := true
		for _, m := range ms {
			if m.node == nil {
				continue
			}
			if m.node.IsLeader() {
				leader = m
			}
		}
		if leader != nil {
			for _, m := range ms {
				if m.node != nil && m.node.Leader() != leader.addr {
					agree = false
				}
			}
			if agree && leader.node.Barrier(time.Second) == nil {
				return leader
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no leader elected")
	return nil
}

func waitApplied(t *testing.T, ms []*member, ok func(*FSM) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		all := true
		for _, m := range ms {
			if m.node != nil && !ok(m.node.FSM()) {
				all = false
			}
		}
		if all {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("not applied on every member")
}

// TestGroupReplicatesAndFailsOver: three members over the HTTP upgrade
// transport elect a leader, replicate what it commits, elect another when
// it stops, and a member restarted with an empty directory catches up.
func TestGroupReplicatesAndFailsOver(t *testing.T) {
	ms := startGroup(t, 3)
	peers := []string{ms[0].addr, ms[1].addr, ms[2].addr}
	l := waitLeader(t, ms)
	if err := l.node.Propose(MarkAgentUnreachable{ID: "a1", Time: 7}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, ms, func(f *FSM) bool { _, ok := f.AgentUnreachable("a1"); return ok })

	// A follower cannot commit.
	for _, m := range ms {
		if m != l {
			if err := m.node.Propose(RemoveFramework{ID: "x", Time: 1}, time.Second); err == nil {
				t.Error("a follower committed a proposal")
			}
			break
		}
	}

	l.stop()
	l2 := waitLeader(t, ms)
	if l2 == l {
		t.Fatal("the stopped member still leads")
	}
	if err := l2.node.Propose(AdmitAgent{Agent: Agent{ID: "a1"}}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := l2.node.Propose(MarkAgentGone{ID: "a2", Time: 9}, 5*time.Second); err != nil {
		t.Fatal(err)
	}

	// The old leader comes back with an empty directory (a replaced
	// machine) and catches up.
	l.open(t, filepath.Join(t.TempDir(), "replaced"), peers)
	waitApplied(t, ms, func(f *FSM) bool {
		_, unreachable := f.AgentUnreachable("a1")
		return !unreachable && f.AgentGone("a2")
	})
	if err := l2.node.Propose(MarkAgentUnreachable{ID: "a2", Time: 10}, 5*time.Second); !errors.Is(err, ErrAgentIsGone) {
		t.Errorf("a gone agent marked unreachable: %v", err)
	}
}

// TestGroupNoQuorum: with two of three members stopped the last one does
// not lead, and it leads again (or follows) once one returns.
func TestGroupNoQuorum(t *testing.T) {
	ms := startGroup(t, 3)
	peers := []string{ms[0].addr, ms[1].addr, ms[2].addr}
	l := waitLeader(t, ms)
	var others []*member
	for _, m := range ms {
		if m != l {
			others = append(others, m)
		}
	}
	dir1 := t.TempDir()
	others[0].stop()
	others[1].stop()
	deadline := time.Now().Add(5 * time.Second)
	for l.node.IsLeader() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if l.node.IsLeader() {
		t.Fatal("a member without quorum still leads")
	}
	others[0].open(t, dir1, peers)
	waitLeader(t, ms)
}

func TestConfigValidate(t *testing.T) {
	cfg := oneNodeConfig()
	cfg.Peers = []string{"127.0.0.1:2", "127.0.0.1:3"}
	if err := cfg.Validate(); err == nil {
		t.Error("a group without this master's address validated")
	}
}
