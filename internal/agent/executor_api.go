package agent

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	executorpb "github.com/agora-dev/agora/api/mesos/v1/executor"
	"github.com/agora-dev/agora/api/recordio"
	"github.com/agora-dev/agora/internal/auth"
	"github.com/agora-dev/agora/internal/httpapi"
	"google.golang.org/protobuf/proto"
)

// The Mesos v1 executor API: POST /api/v1/executor (Mesos §3).
//
// The handler checks what it can without state (method, media types, body,
// call validation), then asks the loop. SUBSCRIBE answers 200 and streams
// the events the loop pushes into an execStream; every other call is 202.

func (a *Agent) handleExecutorAPI(w http.ResponseWriter, r *http.Request) {
	call := &executorpb.Call{}
	if _, ok := httpapi.DecodeCall(w, r, call); !ok {
		return
	}
	if msg := validateExecutorCall(call); msg != "" {
		if call.GetType() == executorpb.Call_UPDATE {
			a.do(r.Context(), func() { a.st.events["invalid_status_updates"]++ })
		}
		http.Error(w, "Failed to validate executor::Call: "+msg, http.StatusBadRequest)
		return
	}
	// An authenticated call must carry its own executor's claims before
	// the agent says anything about its state, HEARTBEAT included (Mesos
	// answers HEARTBEAT and "cannot be found" first: gap 19).
	subject, authenticated := auth.SubjectOf(r.Context())
	if authenticated {
		if msg := claimsMismatch(subject, call.GetFrameworkId().GetValue(), call.GetExecutorId().GetValue()); msg != "" {
			httpapi.TextError(w, http.StatusForbidden, msg)
			return
		}
	}
	cid := ""
	if authenticated {
		cid = subject.Claims["cid"]
	}
	if call.GetType() == executorpb.Call_SUBSCRIBE {
		out, ok := codec.ForAccept(r.Header.Values("Accept"))
		if !ok {
			http.Error(w, fmt.Sprintf("Expecting 'Accept' to allow %s or %s", codec.MediaJSON, codec.MediaProtobuf),
				http.StatusNotAcceptable)
			return
		}
		a.serveExecutorSubscribe(w, r, call, out, authenticated, cid)
		return
	}
	var (
		code = http.StatusServiceUnavailable
		msg  = "Agent is shutting down"
	)
	a.do(r.Context(), func() { code, msg = a.st.executorCall(call, authenticated, cid) })
	if code != http.StatusAccepted {
		http.Error(w, msg, code)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// validateExecutorCall is Mesos's executor::validation::call::validate.
func validateExecutorCall(c *executorpb.Call) string {
	switch {
	case c.GetExecutorId().GetValue() == "":
		return "Expecting 'executor_id' to be present"
	case c.GetFrameworkId().GetValue() == "":
		return "Expecting 'framework_id' to be present"
	case c.Type == nil:
		return "Expecting 'type' to be present"
	}
	switch c.GetType() {
	case executorpb.Call_SUBSCRIBE:
		if c.Subscribe == nil {
			return "Expecting 'subscribe' to be present"
		}
	case executorpb.Call_UPDATE:
		u := c.GetUpdate()
		if u == nil || u.Status == nil {
			return "Expecting 'update' to be present"
		}
		st := u.GetStatus()
		if len(st.GetUuid()) != 16 {
			return "'uuid' of TaskStatus must be a 16-byte UUID"
		}
		if st.GetSource() != mesos.TaskStatus_SOURCE_EXECUTOR {
			return "Received Call from executor with invalid source " + st.GetSource().String()
		}
		if st.GetState() == mesos.TaskState_TASK_STAGING {
			return "Received TASK_STAGING from executor"
		}
		if st.ExecutorId != nil && st.GetExecutorId().GetValue() != c.GetExecutorId().GetValue() {
			return fmt.Sprintf("ExecutorID in Call: %s does not match ExecutorID in TaskStatus: %s",
				c.GetExecutorId().GetValue(), st.GetExecutorId().GetValue())
		}
	case executorpb.Call_MESSAGE:
		if c.Message == nil {
			return "Expecting 'message' to be present"
		}
	case executorpb.Call_HEARTBEAT:
	default:
		return "Unknown call type " + c.GetType().String()
	}
	return ""
}

// serveExecutorSubscribe registers the stream with the loop and writes its
// events until the loop closes it or the executor goes away.
func (a *Agent) serveExecutorSubscribe(w http.ResponseWriter, r *http.Request, call *executorpb.Call, out codec.Codec, authenticated bool, cid string) {
	stream := newExecStream(out)
	var (
		code = http.StatusServiceUnavailable
		msg  = "Agent is shutting down"
	)
	a.do(r.Context(), func() { code, msg = a.st.executorSubscribe(call, stream, authenticated, cid) })
	if code != http.StatusOK {
		http.Error(w, msg, code)
		return
	}
	defer func() {
		close(stream.gone)
		a.post(func() { a.st.executorStreamClosed(stream) })
	}()
	w.Header().Set("Content-Type", out.MediaType())
	w.WriteHeader(http.StatusOK)
	rw := recordio.NewWriter(w)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	hb := time.NewTicker(a.cfg.ExecutorHeartbeat)
	defer hb.Stop()
	heartbeat, err := out.Marshal(&executorpb.Event{Type: executorpb.Event_HEARTBEAT.Enum()})
	if err != nil {
		return
	}
	for {
		recs, closed := stream.take()
		for _, rec := range recs {
			if err := rw.WriteRecord(rec); err != nil {
				return
			}
		}
		if closed {
			return
		}
		select {
		case <-stream.wake:
		case <-hb.C:
			if err := rw.WriteRecord(heartbeat); err != nil {
				return
			}
		case <-r.Context().Done():
			return
		}
	}
}

// execStream is the queue of encoded events for one executor SUBSCRIBE
// stream. The loop pushes without blocking; the handler drains.
type execStream struct {
	codec codec.Codec
	wake  chan struct{}
	gone  chan struct{} // closed when the handler has stopped writing

	mu sync.Mutex
	// +checklocks:mu
	queue [][]byte
	// +checklocks:mu
	closed bool
}

func newExecStream(c codec.Codec) *execStream {
	return &execStream{codec: c, wake: make(chan struct{}, 1), gone: make(chan struct{})}
}

// push queues an event; after close it does nothing.
func (s *execStream) push(ev *executorpb.Event) {
	b, err := s.codec.Marshal(ev)
	if err != nil {
		return
	}
	s.mu.Lock()
	if !s.closed {
		s.queue = append(s.queue, b)
	}
	s.mu.Unlock()
	s.signal()
}

// close ends the stream once the queued events are written.
func (s *execStream) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.signal()
}

func (s *execStream) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *execStream) take() ([][]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queue
	s.queue = nil
	return q, s.closed
}

// lookupExecutor finds the executor a call names, with the Mesos answer
// when it is unknown.
func (s *state) lookupExecutor(c *executorpb.Call, authenticated bool, cid string) (*executor, int, string) {
	fwID, execID := c.GetFrameworkId().GetValue(), c.GetExecutorId().GetValue()
	f := s.frameworks[fwID]
	if f == nil {
		return nil, http.StatusBadRequest, fmt.Sprintf("Framework %q cannot be found", fwID)
	}
	e := f.executors[execID]
	if e == nil || e.state == execTerminated {
		return nil, http.StatusBadRequest, fmt.Sprintf("Executor %q of framework %q cannot be found", execID, fwID)
	}
	if e.supervised {
		// No process speaks for it: the agent is its command executor.
		return nil, http.StatusForbidden, fmt.Sprintf("Executor %q of framework %q is run by the agent itself", execID, fwID)
	}
	if authenticated && cid != e.containerID {
		return nil, http.StatusForbidden, fmt.Sprintf("Authenticated principal '%s' does not contain a 'cid' claim with the correct active ContainerID",
			auth.Subject{Claims: map[string]string{"fid": fwID, "eid": execID, "cid": cid}})
	}
	return e, 0, ""
}

// executorSubscribe handles SUBSCRIBE on the loop: it replaces any previous
// stream, queues SUBSCRIBED and the pending LAUNCHes.
func (s *state) executorSubscribe(c *executorpb.Call, stream *execStream, authenticated bool, cid string) (int, string) {
	e, code, msg := s.lookupExecutor(c, authenticated, cid)
	if e == nil {
		return code, msg
	}
	if e.stream != nil {
		e.stream.close()
	}
	e.stream = stream
	if e.regTimer != nil {
		e.regTimer.Stop()
	}
	s.a.log.Info("executor subscribed", "framework_id", e.fw.id, "executor_id", e.id)
	if e.state >= execTerminating {
		stream.push(&executorpb.Event{Type: executorpb.Event_SHUTDOWN.Enum()})
		stream.close()
		return http.StatusOK, ""
	}
	e.state = execRunning
	e.subscribed = true
	stream.push(&executorpb.Event{
		Type: executorpb.Event_SUBSCRIBED.Enum(),
		Subscribed: &executorpb.Event_Subscribed{
			ExecutorInfo:  e.info,
			FrameworkInfo: e.fw.info,
			AgentInfo:     s.agentInfo(),
			ContainerId:   &mesos.ContainerID{Value: proto.String(e.containerID)},
		},
	})
	// Replay the executor's unacknowledged updates (duplicates are dropped
	// by uuid), then deliver the queued tasks.
	for _, u := range c.GetSubscribe().GetUnacknowledgedUpdates() {
		st := u.GetStatus()
		if len(st.GetUuid()) == 16 && st.GetState() != mesos.TaskState_TASK_STAGING {
			s.acceptExecutorUpdate(e, st)
		}
	}
	for _, t := range e.tasks {
		if t.queued && !mesos.IsTerminal(t.state) {
			s.deliver(t)
		}
	}
	if e.liveTasks() == 0 {
		s.shutdownExecutor(e)
	}
	return http.StatusOK, ""
}

// executorStreamClosed notes that an executor's stream ended.
func (s *state) executorStreamClosed(stream *execStream) {
	for _, f := range s.frameworks {
		for _, e := range f.executors {
			if e.stream == stream {
				e.stream = nil
				s.a.log.Info("executor disconnected", "framework_id", f.id, "executor_id", e.id)
			}
		}
	}
}

// executorCall handles UPDATE, MESSAGE and HEARTBEAT on the loop.
func (s *state) executorCall(c *executorpb.Call, authenticated bool, cid string) (int, string) {
	e, code, msg := s.lookupExecutor(c, authenticated, cid)
	if e == nil {
		return code, msg
	}
	if !e.subscribed {
		return http.StatusForbidden, fmt.Sprintf("Executor %q is not subscribed", e.id)
	}
	switch c.GetType() {
	case executorpb.Call_UPDATE:
		s.events["valid_status_updates"]++
		s.acceptExecutorUpdate(e, c.GetUpdate().GetStatus())
	case executorpb.Call_MESSAGE:
		s.sendCall(&agentpb.Call{
			Type: agentpb.Call_MESSAGE.Enum(),
			Message: &agentpb.Call_Message{
				FrameworkId: &mesos.FrameworkID{Value: proto.String(e.fw.id)},
				ExecutorId:  e.info.ExecutorId,
				Data:        c.GetMessage().GetData(),
			},
		})
	case executorpb.Call_HEARTBEAT:
	}
	return http.StatusAccepted, ""
}

// acceptExecutorUpdate queues an executor's update and acknowledges it to
// the executor at once (the master's ACK only advances the master path).
func (s *state) acceptExecutorUpdate(e *executor, st *mesos.TaskStatus) {
	st = proto.Clone(st).(*mesos.TaskStatus)
	if st.ExecutorId == nil {
		st.ExecutorId = e.info.ExecutorId
	}
	completed := s.findTask(e.fw.id, st.GetTaskId().GetValue()) == nil && s.completedTask(e.fw.id, st.GetTaskId().GetValue())
	if mesos.IsTerminal(st.GetState()) && !completed {
		s.applyLimitation(e, st)
	}
	if completed {
		// The task's terminal update was acknowledged and the task
		// completed: whatever the executor resends of it (after an agent
		// restart, say) the framework has seen, or must not see.
		s.a.log.Info("status update of a completed task dropped", "framework_id", e.fw.id,
			"task_id", st.GetTaskId().GetValue(), "state", st.GetState().String())
	} else if e.fw.terminating {
		// The master has removed the framework's tasks; like Mesos, drop
		// updates of a framework being shut down (but acknowledge them).
		s.a.log.Debug("status update of a terminating framework dropped", "framework_id", e.fw.id,
			"task_id", st.GetTaskId().GetValue())
	} else if s.statusUpdate(e.fw.id, st) {
		s.a.log.Debug("status update from executor", "framework_id", e.fw.id, "task_id", st.GetTaskId().GetValue(),
			"state", st.GetState().String())
	}
	// The update must survive an agent restart before the executor
	// forgets it (only a checkpointing framework's are checkpointed).
	if e.fw.info.GetCheckpoint() {
		s.checkpoint()
	}
	if e.stream != nil {
		e.stream.push(&executorpb.Event{
			Type: executorpb.Event_ACKNOWLEDGED.Enum(),
			Acknowledged: &executorpb.Event_Acknowledged{
				TaskId: st.TaskId,
				Uuid:   st.Uuid,
			},
		})
	}
}
