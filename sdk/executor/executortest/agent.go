// Package executortest provides a fake agent for testing executors: a
// loopback HTTP server that implements just enough of the agent's side of
// the v1 executor API (/api/v1/executor) in both media types, records
// every call, and lets a test push events down the current SUBSCRIBE
// stream.
package executortest

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	executorpb "github.com/agora-dev/agora/api/mesos/v1/executor"
	"github.com/agora-dev/agora/api/recordio"
)

// Agent is a fake agent's executor API.
type Agent struct {
	// URL is the executor API's URL; Endpoint is its host:port, the value
	// of MESOS_AGENT_ENDPOINT.
	URL, Endpoint string

	server  *httptest.Server
	autoAck atomic.Bool

	mu sync.Mutex
	// +checklocks:mu
	calls []*executorpb.Call
	// +checklocks:mu
	stream *stream
	// +checklocks:mu
	changed chan struct{} // closed and replaced on every new call
	// +checklocks:mu
	onSubscribe func(*executorpb.Call) []*executorpb.Event
}

type stream struct {
	events chan *executorpb.Event
	closed chan struct{}
	once   sync.Once
}

func (s *stream) close() { s.once.Do(func() { close(s.closed) }) }

// NewAgent starts a fake agent on 127.0.0.1, closed when the test ends.
func NewAgent(t testing.TB) *Agent {
	a := &Agent{changed: make(chan struct{})}
	a.server = httptest.NewServer(http.HandlerFunc(a.serve))
	a.URL = a.server.URL + "/api/v1/executor"
	a.Endpoint = strings.TrimPrefix(a.server.URL, "http://")
	t.Cleanup(func() {
		a.CloseStream()
		a.server.Close()
	})
	return a
}

// SetAutoAck makes the agent acknowledge every UPDATE on the stream right
// after answering it 202.
func (a *Agent) SetAutoAck(on bool) { a.autoAck.Store(on) }

// OnSubscribe sets a function whose events the agent sends first on each
// new stream (typically a SUBSCRIBED event).
func (a *Agent) OnSubscribe(f func(*executorpb.Call) []*executorpb.Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.onSubscribe = f
}

// Send queues ev on the current stream. It fails when there is none.
func (a *Agent) Send(ev *executorpb.Event) error {
	a.mu.Lock()
	s := a.stream
	a.mu.Unlock()
	if s == nil {
		return errors.New("executortest: no subscribed executor")
	}
	select {
	case s.events <- ev:
		return nil
	case <-s.closed:
		return errors.New("executortest: stream closed")
	}
}

// CloseStream ends the current SUBSCRIBE stream, as an agent that dies
// does.
func (a *Agent) CloseStream() {
	a.mu.Lock()
	s := a.stream
	a.stream = nil
	a.mu.Unlock()
	if s != nil {
		s.close()
	}
}

// Calls returns every call received so far.
func (a *Agent) Calls() []*executorpb.Call {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*executorpb.Call(nil), a.calls...)
}

// Updates returns the statuses of every UPDATE received so far.
func (a *Agent) Updates() []*mesos.TaskStatus {
	var out []*mesos.TaskStatus
	for _, c := range a.Calls() {
		if c.GetType() == executorpb.Call_UPDATE {
			out = append(out, c.GetUpdate().GetStatus())
		}
	}
	return out
}

// WaitCall waits up to timeout for the n-th (from 1) call that satisfies
// match and returns it, or fails the test.
func (a *Agent) WaitCall(t testing.TB, timeout time.Duration, n int, match func(*executorpb.Call) bool) *executorpb.Call {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		a.mu.Lock()
		seen := 0
		for _, c := range a.calls {
			if match(c) {
				seen++
				if seen == n {
					a.mu.Unlock()
					return c
				}
			}
		}
		ch := a.changed
		a.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("executortest: no call #%d matching after %v; calls: %v", n, timeout, a.Calls())
			return nil
		}
	}
}

// WaitUpdate waits for the n-th UPDATE whose state is state.
func (a *Agent) WaitUpdate(t testing.TB, timeout time.Duration, n int, state mesos.TaskState) *mesos.TaskStatus {
	t.Helper()
	return a.WaitCall(t, timeout, n, func(c *executorpb.Call) bool {
		return c.GetType() == executorpb.Call_UPDATE && c.GetUpdate().GetStatus().GetState() == state
	}).GetUpdate().GetStatus()
}

// IsType matches calls of a type, for WaitCall.
func IsType(typ executorpb.Call_Type) func(*executorpb.Call) bool {
	return func(c *executorpb.Call) bool { return c.GetType() == typ }
}

func (a *Agent) record(c *executorpb.Call) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, c)
	close(a.changed)
	a.changed = make(chan struct{})
}

func (a *Agent) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "expecting POST", http.StatusMethodNotAllowed)
		return
	}
	in, err := codec.ForContentType(r.Header.Get("Content-Type"))
	if err != nil {
		status := http.StatusUnsupportedMediaType
		if errors.Is(err, codec.ErrNoContentType) {
			status = http.StatusBadRequest
		}
		http.Error(w, err.Error(), status)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	call := &executorpb.Call{}
	if err := in.Unmarshal(body, call); err != nil {
		http.Error(w, "failed to parse body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if call.GetExecutorId().GetValue() == "" || call.GetFrameworkId().GetValue() == "" {
		http.Error(w, "missing executor_id or framework_id", http.StatusBadRequest)
		return
	}
	switch call.GetType() {
	case executorpb.Call_SUBSCRIBE:
		out, ok := codec.ForAccept(r.Header.Values("Accept"))
		if !ok {
			http.Error(w, "not acceptable", http.StatusNotAcceptable)
			return
		}
		a.subscribe(w, r, call, out)
	case executorpb.Call_UPDATE:
		st := call.GetUpdate().GetStatus()
		if len(st.GetUuid()) != 16 || st.GetSource() != mesos.TaskStatus_SOURCE_EXECUTOR ||
			st.GetState() == mesos.TaskState_TASK_STAGING ||
			(st.GetExecutorId() != nil && st.GetExecutorId().GetValue() != call.GetExecutorId().GetValue()) {
			http.Error(w, "invalid status update", http.StatusBadRequest)
			return
		}
		a.record(call)
		w.WriteHeader(http.StatusAccepted)
		if a.autoAck.Load() {
			_ = a.Send(&executorpb.Event{
				Type: executorpb.Event_ACKNOWLEDGED.Enum(),
				Acknowledged: &executorpb.Event_Acknowledged{
					TaskId: st.GetTaskId(),
					Uuid:   st.GetUuid(),
				},
			})
		}
	case executorpb.Call_MESSAGE, executorpb.Call_HEARTBEAT:
		a.record(call)
		w.WriteHeader(http.StatusAccepted)
	default:
		http.Error(w, "unknown call type", http.StatusNotImplemented)
	}
}

func (a *Agent) subscribe(w http.ResponseWriter, r *http.Request, call *executorpb.Call, out codec.Codec) {
	s := &stream{events: make(chan *executorpb.Event), closed: make(chan struct{})}
	a.mu.Lock()
	old := a.stream
	a.stream = s
	first := a.onSubscribe
	a.mu.Unlock()
	if old != nil {
		old.close() // a second SUBSCRIBE closes the previous stream
	}
	w.Header().Set("Content-Type", out.MediaType())
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	rw := recordio.NewWriter(w)
	write := func(ev *executorpb.Event) bool {
		data, err := out.Marshal(ev)
		if err != nil {
			return false
		}
		return rw.WriteRecord(data) == nil
	}
	if first != nil {
		for _, ev := range first(call) {
			if !write(ev) {
				return
			}
		}
	}
	a.record(call) // after the first events, so a waiter sees a live stream
	for {
		select {
		case ev := <-s.events:
			if !write(ev) {
				return
			}
		case <-s.closed:
			return
		case <-r.Context().Done():
			s.close()
			return
		}
	}
}

// Subscribed returns a SUBSCRIBED event for the executor of call, for a
// framework with the given capabilities.
func Subscribed(call *executorpb.Call, caps ...mesos.FrameworkInfo_Capability_Type) *executorpb.Event {
	fw := &mesos.FrameworkInfo{
		User: proto.String("test"),
		Name: proto.String("test"),
		Id:   call.GetFrameworkId(),
	}
	for _, c := range caps {
		fw.Capabilities = append(fw.Capabilities, &mesos.FrameworkInfo_Capability{Type: c.Enum()})
	}
	return &executorpb.Event{
		Type: executorpb.Event_SUBSCRIBED.Enum(),
		Subscribed: &executorpb.Event_Subscribed{
			ExecutorInfo:  &mesos.ExecutorInfo{ExecutorId: call.GetExecutorId(), FrameworkId: call.GetFrameworkId()},
			FrameworkInfo: fw,
			AgentInfo:     &mesos.AgentInfo{Hostname: proto.String("localhost"), Id: &mesos.AgentID{Value: proto.String("agent-1")}},
			ContainerId:   &mesos.ContainerID{Value: proto.String("container-1")},
		},
	}
}

// Env returns the environment an agent gives an executor of this fake
// agent, for ConfigFromEnv: framework "framework-1", executor
// "executor-1", the sandbox directory, no checkpointing.
func (a *Agent) Env(sandbox string) map[string]string {
	return map[string]string{
		"MESOS_FRAMEWORK_ID":                   "framework-1",
		"MESOS_EXECUTOR_ID":                    "executor-1",
		"MESOS_AGENT_ENDPOINT":                 a.Endpoint,
		"MESOS_DIRECTORY":                      sandbox,
		"MESOS_SANDBOX":                        sandbox,
		"MESOS_CHECKPOINT":                     "0",
		"MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD": "5secs",
	}
}

// Task returns a TaskInfo with a shell command.
func Task(id, command string) *mesos.TaskInfo {
	return &mesos.TaskInfo{
		Name:    proto.String(id),
		TaskId:  &mesos.TaskID{Value: proto.String(id)},
		AgentId: &mesos.AgentID{Value: proto.String("agent-1")},
		Command: &mesos.CommandInfo{Value: proto.String(command)},
	}
}

// Launch returns a LAUNCH event for task.
func Launch(task *mesos.TaskInfo) *executorpb.Event {
	return &executorpb.Event{
		Type:   executorpb.Event_LAUNCH.Enum(),
		Launch: &executorpb.Event_Launch{Task: task},
	}
}

// Kill returns a KILL event; grace < 0 means no kill policy.
func Kill(id string, grace time.Duration) *executorpb.Event {
	ev := &executorpb.Event{
		Type: executorpb.Event_KILL.Enum(),
		Kill: &executorpb.Event_Kill{TaskId: &mesos.TaskID{Value: proto.String(id)}},
	}
	if grace >= 0 {
		ev.Kill.KillPolicy = &mesos.KillPolicy{GracePeriod: &mesos.DurationInfo{Nanoseconds: proto.Int64(int64(grace))}}
	}
	return ev
}

// Shutdown returns a SHUTDOWN event.
func Shutdown() *executorpb.Event {
	return &executorpb.Event{Type: executorpb.Event_SHUTDOWN.Enum()}
}

