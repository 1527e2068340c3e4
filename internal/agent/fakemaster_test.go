package agent

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/api/recordio"
	"google.golang.org/protobuf/proto"
)

// fakeMaster implements the master side of agora.agent.v1 on loopback:
// it accepts SUBSCRIBE, answers SUBSCRIBED, lets the test push events and
// records every call.
type fakeMaster struct {
	t   *testing.T
	srv *httptest.Server

	mu         sync.Mutex
	subs       []*agentpb.Call
	calls      []*agentpb.Call
	conn       *fakeConn
	nextStream int
	refuse     string // non-empty: answer ERROR to SUBSCRIBE

	// High availability (ha_test.go): with a group, a master that is not
	// the group's leader answers 307 to the leader, or 503 without one.
	group       *fakeGroup
	unavailable bool          // answer 503 to everything (a recovering leader)
	stalled     chan struct{} // non-nil: hang every request until closed (SIGSTOP)
	leaderAsks  int           // GET /agora/v1/leader answered
	leaderSays  string        // non-empty: the leader this master names, whatever the group's
	answered503 int           // requests answered 503
	redirected  int           // requests answered 307
}

type fakeConn struct {
	id     string
	events chan *agentpb.Event
	done   chan struct{}
	once   sync.Once
}

func (c *fakeConn) close() { c.once.Do(func() { close(c.done) }) }

func newFakeMaster(t *testing.T) *fakeMaster {
	m := &fakeMaster{t: t}
	m.srv = httptest.NewServer(http.HandlerFunc(m.handle))
	t.Cleanup(func() {
		m.mu.Lock()
		if m.conn != nil {
			m.conn.close()
		}
		m.mu.Unlock()
		m.srv.CloseClientConnections()
		m.srv.Close()
	})
	return m
}

func (m *fakeMaster) addr() string { return strings.TrimPrefix(m.srv.URL, "http://") }

func (m *fakeMaster) handle(w http.ResponseWriter, r *http.Request) {
	if m.haHandle(w, r) {
		return
	}
	if r.URL.Path != "/agora/v1/agent" || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	call := &agentpb.Call{}
	if err := proto.Unmarshal(body, call); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if call.GetType() != agentpb.Call_SUBSCRIBE {
		m.mu.Lock()
		cur := m.conn
		m.calls = append(m.calls, call)
		m.mu.Unlock()
		if cur == nil || r.Header.Get(StreamIDHeader) != cur.id {
			http.Error(w, "stale stream", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		return
	}
	m.mu.Lock()
	m.subs = append(m.subs, call)
	m.nextStream++
	c := &fakeConn{id: fmt.Sprintf("stream-%d", m.nextStream), events: make(chan *agentpb.Event, 100), done: make(chan struct{})}
	if m.conn != nil {
		m.conn.close()
	}
	m.conn = c
	refuse := m.refuse
	m.mu.Unlock()

	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Header().Set(StreamIDHeader, c.id)
	w.WriteHeader(http.StatusOK)
	rw := recordio.NewWriter(w)
	write := func(ev *agentpb.Event) error {
		b, err := proto.Marshal(ev)
		if err != nil {
			return err
		}
		return rw.WriteRecord(b)
	}
	if refuse != "" {
		_ = write(&agentpb.Event{Type: agentpb.Event_ERROR.Enum(), Error: &agentpb.Event_Error{Message: proto.String(refuse)}})
		return
	}
	if err := write(&agentpb.Event{
		Type: agentpb.Event_SUBSCRIBED.Enum(),
		Subscribed: &agentpb.Event_Subscribed{
			AgentId: &mesos.AgentID{Value: proto.String("S0")},
			MasterInfo: &mesos.MasterInfo{Id: proto.String("m1"), Ip: proto.Uint32(0x7f000001),
				Port: proto.Uint32(5050), Hostname: proto.String("fake-master")},
			PingIntervalSeconds: proto.Float64(5),
		},
	}); err != nil {
		return
	}
	for {
		select {
		case ev := <-c.events:
			if err := write(ev); err != nil {
				return
			}
		case <-c.done:
			return
		case <-r.Context().Done():
			return
		}
	}
}

// send pushes an event on the current stream.
func (m *fakeMaster) send(ev *agentpb.Event) {
	m.mu.Lock()
	c := m.conn
	m.mu.Unlock()
	if c == nil {
		m.t.Fatal("fake master: no agent stream")
	}
	c.events <- ev
}

// dropStream closes the current stream (the agent must resubscribe).
func (m *fakeMaster) dropStream() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conn != nil {
		m.conn.close()
	}
}

func (m *fakeMaster) subscriptions() []*agentpb.Call {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*agentpb.Call(nil), m.subs...)
}

// updates returns the UPDATE calls received for a task, in order.
func (m *fakeMaster) updates(taskID string) []*agentpb.Call_Update {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*agentpb.Call_Update
	for _, c := range m.calls {
		if c.GetType() != agentpb.Call_UPDATE {
			continue
		}
		for _, u := range c.AllUpdates() {
			if u.GetStatus().GetTaskId().GetValue() == taskID {
				out = append(out, u)
			}
		}
	}
	return out
}

func (m *fakeMaster) callsOf(typ agentpb.Call_Type) []*agentpb.Call {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*agentpb.Call
	for _, c := range m.calls {
		if c.GetType() == typ {
			out = append(out, c)
		}
	}
	return out
}

// waitUpdate waits for the n-th (1-based) UPDATE of a task.
func (m *fakeMaster) waitUpdate(t *testing.T, taskID string, n int) *agentpb.Call_Update {
	t.Helper()
	var u *agentpb.Call_Update
	waitFor(t, 20*time.Second, fmt.Sprintf("update #%d of task %q", n, taskID), func() bool {
		us := m.updates(taskID)
		if len(us) >= n {
			u = us[n-1]
			return true
		}
		return false
	})
	return u
}

// ack acknowledges an update.
func (m *fakeMaster) ack(u *agentpb.Call_Update) {
	m.send(&agentpb.Event{
		Type: agentpb.Event_ACKNOWLEDGE.Enum(),
		Acknowledge: &agentpb.Event_Acknowledge{
			FrameworkId: u.GetFrameworkId(),
			TaskId:      u.GetStatus().GetTaskId(),
			Uuid:        u.GetStatus().GetUuid(),
		},
	})
}

// waitState acks every update of the task until one with the given state
// arrives (acked too), and returns it.
func (m *fakeMaster) waitState(t *testing.T, taskID string, want mesos.TaskState) *agentpb.Call_Update {
	t.Helper()
	acked := map[string]bool{}
	var found *agentpb.Call_Update
	waitFor(t, 20*time.Second, fmt.Sprintf("task %q in %s", taskID, want), func() bool {
		for _, u := range m.updates(taskID) {
			k := string(u.GetStatus().GetUuid())
			if !acked[k] {
				acked[k] = true
				m.ack(u)
			}
			if u.GetStatus().GetState() == want {
				found = u
				return true
			}
		}
		return false
	})
	return found
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func runTaskEvent(fw string, ti *mesos.TaskInfo) *agentpb.Event {
	return &agentpb.Event{
		Type: agentpb.Event_RUN_TASK.Enum(),
		RunTask: &agentpb.Event_RunTask{
			FrameworkInfo: &mesos.FrameworkInfo{
				User: proto.String("test"), Name: proto.String("test-fw"),
				Id: &mesos.FrameworkID{Value: proto.String(fw)},
			},
			Task: ti,
		},
	}
}

func commandTask(id, cmd string) *mesos.TaskInfo {
	return &mesos.TaskInfo{
		Name:    proto.String(id),
		TaskId:  &mesos.TaskID{Value: proto.String(id)},
		AgentId: &mesos.AgentID{Value: proto.String("S0")},
		Command: &mesos.CommandInfo{Value: proto.String(cmd)},
		Resources: []*mesos.Resource{{
			Name: proto.String("cpus"), Type: mesos.Value_SCALAR.Enum(),
			Scalar: &mesos.Value_Scalar{Value: proto.Float64(0.1)},
		}},
	}
}

// postJSON is a raw HTTP helper.
func doRequest(t *testing.T, method, url, contentType string, body []byte, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}
