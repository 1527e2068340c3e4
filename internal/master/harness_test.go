package master

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	schedpb "github.com/agora-dev/agora/api/mesos/v1/scheduler"
	"github.com/agora-dev/agora/api/recordio"
	"github.com/agora-dev/agora/internal/version"
	"google.golang.org/protobuf/proto"
)

// A test harness of real HTTP against a real master: the master runs its
// loop and server on 127.0.0.1; fake agents speak the internal agent
// protocol and schedulers the v1 scheduler API over real connections, so
// the tests decide exactly which status updates happen and when.

const eventTimeout = 10 * time.Second

// startMaster runs a master on a free port until the test ends.
func startMaster(t *testing.T, edit func(*Config)) (*Master, string) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Port = 0
	cfg.AllocationInterval = 50 * time.Millisecond
	if edit != nil {
		edit(&cfg)
	}
	m, base, _ := runMaster(t, cfg)
	return m, base
}

// runMaster runs a master until stop is called (or the test ends).
func runMaster(t *testing.T, cfg Config) (m *Master, base string, stop func()) {
	t.Helper()
	m, err := New(cfg, nil)
	if err != nil {
		t.Fatalf("start master: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("master Run: %v", err)
		}
	}
	t.Cleanup(stop)
	return m, "http://" + m.Addr(), stop
}

// eventStream reads a RecordIO stream of messages of one type in the
// background.
type eventStream[E proto.Message] struct {
	t       *testing.T
	headers http.Header
	events  chan E
	ended   chan struct{}
	cancel  context.CancelFunc
}

// openStream POSTs call and reads the 200 stream that answers it.
func openStream[E proto.Message](t *testing.T, url string, c codec.Codec, call proto.Message, headers map[string]string,
	newEvent func() E) *eventStream[E] {
	t.Helper()
	body, err := c.Marshal(call)
	if err != nil {
		t.Fatalf("encode call: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", c.MediaType())
	req.Header.Set("Accept", c.MediaType())
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("POST %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		t.Fatalf("POST %s: %s: %s", url, resp.Status, b)
	}
	s := &eventStream[E]{t: t, headers: resp.Header, events: make(chan E, 4096), ended: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(s.ended)
		defer resp.Body.Close()
		r := recordio.NewReader(resp.Body)
		for {
			rec, err := r.ReadRecord()
			if err != nil {
				return
			}
			ev := newEvent()
			if err := c.Unmarshal(rec, ev); err != nil {
				t.Errorf("decode event %q: %v", rec, err)
				return
			}
			s.events <- ev
		}
	}()
	t.Cleanup(func() { cancel(); <-s.ended })
	return s
}

// next returns the next event that match accepts, skipping others.
func (s *eventStream[E]) next(what string, match func(E) bool) E {
	s.t.Helper()
	timer := time.NewTimer(eventTimeout)
	defer timer.Stop()
	for {
		select {
		case ev := <-s.events:
			if match(ev) {
				return ev
			}
		case <-s.ended:
			// Deliver what was read before the end.
			select {
			case ev := <-s.events:
				if match(ev) {
					return ev
				}
				continue
			default:
			}
			s.t.Fatalf("stream ended before %s", what)
		case <-timer.C:
			s.t.Fatalf("no %s within %s", what, eventTimeout)
		}
	}
}

// waitEnd waits until the server ends the stream.
func (s *eventStream[E]) waitEnd() {
	s.t.Helper()
	select {
	case <-s.ended:
	case <-time.After(eventTimeout):
		s.t.Fatalf("stream still open after %s", eventTimeout)
	}
}

// fakeAgent subscribes to the master with the internal agent protocol and
// answers RUN_TASK only when the test tells it to.
type fakeAgent struct {
	t        *testing.T
	url      string
	id       string
	streamID string
	*eventStream[*agentpb.Event]
}

func agentInfo(id string) *mesos.AgentInfo {
	info := &mesos.AgentInfo{
		Hostname: proto.String("127.0.0.1"),
		Resources: []*mesos.Resource{
			{Name: proto.String("cpus"), Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(2)}},
			{Name: proto.String("mem"), Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(1024)}},
		},
	}
	if id != "" {
		info.Id = agentIDProto(id)
	}
	return info
}

func subscribeAgentCall(id string) *agentpb.Call {
	return &agentpb.Call{Type: agentpb.Call_SUBSCRIBE.Enum(), Subscribe: &agentpb.Call_Subscribe{
		ProtocolVersion: proto.Uint32(version.AgentProtocol),
		AgentInfo:       agentInfo(id),
		Endpoint:        proto.String("127.0.0.1:5051"),
		Version:         proto.String(version.Mesos),
	}}
}

func startAgent(t *testing.T, base string) *fakeAgent {
	t.Helper()
	a := &fakeAgent{t: t, url: base + agentAPIPath}
	a.eventStream = openStream(t, a.url, codec.Protobuf, subscribeAgentCall(""), nil, func() *agentpb.Event { return &agentpb.Event{} })
	ev := a.next("agent SUBSCRIBED", func(e *agentpb.Event) bool { return e.GetType() == agentpb.Event_SUBSCRIBED })
	a.id = ev.GetSubscribed().GetAgentId().GetValue()
	a.streamID = a.headers.Get(agentStreamHeader)
	return a
}

// runTask waits for the master to send RUN_TASK.
func (a *fakeAgent) runTask() *agentpb.Event_RunTask {
	a.t.Helper()
	return a.next("RUN_TASK", func(e *agentpb.Event) bool { return e.GetType() == agentpb.Event_RUN_TASK }).GetRunTask()
}

// update sends a status update as the agent's executor would.
func (a *fakeAgent) update(frameworkID, taskID string, state mesos.TaskState) {
	a.t.Helper()
	call := &agentpb.Call{Type: agentpb.Call_UPDATE.Enum(), AgentId: agentIDProto(a.id), Update: &agentpb.Call_Update{
		FrameworkId: frameworkIDProto(frameworkID),
		Status: &mesos.TaskStatus{
			TaskId: &mesos.TaskID{Value: proto.String(taskID)},
			State:  state.Enum(),
			Source: mesos.TaskStatus_SOURCE_EXECUTOR.Enum(),
			Uuid:   newUUID(),
		},
	}}
	code, body := post(a.t, a.url, codec.Protobuf, call, map[string]string{agentStreamHeader: a.streamID})
	if code != http.StatusAccepted {
		a.t.Fatalf("agent UPDATE %s %s: %d %s", taskID, state, code, body)
	}
}

// post sends one call and returns the status and body.
func post(t *testing.T, url string, c codec.Codec, call proto.Message, headers map[string]string) (int, string) {
	t.Helper()
	resp := postRaw(t, url, c.MediaType(), mustMarshal(t, c, call), headers)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func mustMarshal(t *testing.T, c codec.Codec, m proto.Message) []byte {
	t.Helper()
	b, err := c.Marshal(m)
	if err != nil {
		t.Fatalf("encode %T: %v", m, err)
	}
	return b
}

func postRaw(t *testing.T, url, contentType string, body []byte, headers map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	return resp
}

// testScheduler is a framework on the v1 scheduler API.
type testScheduler struct {
	t   *testing.T
	url string
	c   codec.Codec
	id  string
	sid string
	*eventStream[*schedpb.Event]
}

func startScheduler(t *testing.T, base string, c codec.Codec, info *mesos.FrameworkInfo) *testScheduler {
	t.Helper()
	s := &testScheduler{t: t, url: base + "/api/v1/scheduler", c: c}
	call := &schedpb.Call{Type: schedpb.Call_SUBSCRIBE.Enum(), Subscribe: &schedpb.Call_Subscribe{FrameworkInfo: info}}
	if info.Id != nil {
		call.FrameworkId = info.Id
	}
	s.eventStream = openStream(t, s.url, c, call, nil, func() *schedpb.Event { return &schedpb.Event{} })
	ev := s.next("SUBSCRIBED", func(e *schedpb.Event) bool { return e.GetType() == schedpb.Event_SUBSCRIBED })
	s.id = ev.GetSubscribed().GetFrameworkId().GetValue()
	s.sid = s.headers.Get(streamIDHeader)
	return s
}

func frameworkInfo(name string, caps ...mesos.FrameworkInfo_Capability_Type) *mesos.FrameworkInfo {
	info := &mesos.FrameworkInfo{User: proto.String("tester"), Name: proto.String(name)}
	for _, c := range caps {
		info.Capabilities = append(info.Capabilities, &mesos.FrameworkInfo_Capability{Type: c.Enum()})
	}
	return info
}

func (s *testScheduler) call(call *schedpb.Call) {
	s.t.Helper()
	call.FrameworkId = frameworkIDProto(s.id)
	if code, body := post(s.t, s.url, s.c, call, map[string]string{streamIDHeader: s.sid}); code != http.StatusAccepted {
		s.t.Fatalf("scheduler %s: %d %s", call.GetType(), code, body)
	}
}

// launch waits for an offer from the agent and launches one command task
// on it.
func (s *testScheduler) launch(agentID, taskID string) {
	s.t.Helper()
	var offer *mesos.Offer
	s.next("an offer from "+agentID, func(e *schedpb.Event) bool {
		for _, o := range e.GetOffers().GetOffers() {
			if o.GetAgentId().GetValue() == agentID {
				offer = o
				return true
			}
		}
		return false
	})
	task := &mesos.TaskInfo{
		Name:    proto.String(taskID),
		TaskId:  &mesos.TaskID{Value: proto.String(taskID)},
		AgentId: agentIDProto(agentID),
		Resources: []*mesos.Resource{
			{Name: proto.String("cpus"), Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(0.1)}},
			{Name: proto.String("mem"), Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(32)}},
		},
		Command: &mesos.CommandInfo{Value: proto.String("sleep 1000")},
	}
	s.call(&schedpb.Call{Type: schedpb.Call_ACCEPT.Enum(), Accept: &schedpb.Call_Accept{
		OfferIds: []*mesos.OfferID{offer.GetId()},
		Operations: []*mesos.Offer_Operation{{
			Type:   mesos.Offer_Operation_LAUNCH.Enum(),
			Launch: &mesos.Offer_Operation_Launch{TaskInfos: []*mesos.TaskInfo{task}},
		}},
	}})
}

// update waits for an UPDATE of the task in the given state.
func (s *testScheduler) update(taskID string, state mesos.TaskState) *mesos.TaskStatus {
	s.t.Helper()
	return s.next(fmt.Sprintf("UPDATE %s %s", taskID, state), func(e *schedpb.Event) bool {
		st := e.GetUpdate().GetStatus()
		return st.GetTaskId().GetValue() == taskID && st.GetState() == state
	}).GetUpdate().GetStatus()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(eventTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
