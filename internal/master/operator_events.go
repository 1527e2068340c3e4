package master

import (
	"net/http"
	"strconv"
	"time"

	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	masterpb "github.com/agora-dev/agora/api/mesos/v1/master"
	"google.golang.org/protobuf/proto"
)

// maxOperatorSubscribers caps concurrent operator SUBSCRIBE streams, as
// Mesos's --max_operator_event_stream_subscribers (default 1000) does.
const maxOperatorSubscribers = 1000

// operatorState is the loop-owned state of the operator API.
type operatorState struct {
	// subscribers are the open operator event streams.
	subscribers map[*stream]*viewer
	// gone are the agents the operator marked gone, with when.
	gone map[string]time.Time
}

// serveOperatorSubscribe answers SUBSCRIBE with the event stream: first
// SUBSCRIBED with the whole state, then events as they happen.
func (m *Master) serveOperatorSubscribe(w http.ResponseWriter, r *http.Request, c codec.Codec, v *viewer) {
	st := newStream(m.newStreamID(), c, m.cfg.StreamBacklog)
	admitted, leading := false, true
	if err := m.do(func() {
		if leading = m.leading; leading {
			admitted = m.operatorSubscribe(st, v)
		}
	}); err != nil {
		textError(w, http.StatusServiceUnavailable, "Master is stopping")
		return
	}
	if !leading {
		m.notLeading(w, r)
		return
	}
	if !admitted {
		textError(w, http.StatusServiceUnavailable,
			"Operator event stream subscriber limit of "+strconv.Itoa(maxOperatorSubscribers)+" has been reached")
		return
	}
	startStream(w, c, nil)
	if st.serve(w, r) {
		m.post(func() { m.operatorUnsubscribe(st) })
	}
}

// operatorSubscribe admits a subscriber on the loop and queues SUBSCRIBED
// and a first HEARTBEAT.
func (m *Master) operatorSubscribe(st *stream, v *viewer) bool {
	if len(m.op.subscribers) >= maxOperatorSubscribers {
		return false
	}
	if m.op.subscribers == nil {
		m.op.subscribers = make(map[*stream]*viewer)
	}
	m.op.subscribers[st] = v
	ok := st.send(&masterpb.Event{
		Type: masterpb.Event_SUBSCRIBED.Enum(),
		Subscribed: &masterpb.Event_Subscribed{
			GetState:                 m.getState(v),
			HeartbeatIntervalSeconds: proto.Float64(m.cfg.HeartbeatInterval.Seconds()),
		},
	})
	if ok {
		ok = st.send(&masterpb.Event{Type: masterpb.Event_HEARTBEAT.Enum()})
	}
	if !ok {
		m.log.Warn("operator subscriber dropped: SUBSCRIBED could not be queued", "stream", st.id)
		delete(m.op.subscribers, st)
	}
	return true
}

func (m *Master) operatorUnsubscribe(st *stream) {
	delete(m.op.subscribers, st)
	st.close()
}

// closeOperatorStreams ends every operator stream (the master stops).
func (m *Master) closeOperatorStreams() {
	for st := range m.op.subscribers {
		st.close()
	}
	m.op.subscribers = nil
}

// publish queues an event on every operator stream; build runs only when
// someone listens. A subscriber too slow to keep up is dropped.
func (m *Master) publish(build func() *masterpb.Event) {
	m.publishTo(nil, build)
}

// publishTo is publish to the subscribers that may see the event
// (visible nil: all of them).
func (m *Master) publishTo(visible func(v *viewer) bool, build func() *masterpb.Event) {
	if len(m.op.subscribers) == 0 {
		return
	}
	var ev *masterpb.Event
	for st, v := range m.op.subscribers {
		if visible != nil && v != nil && !visible(v) {
			continue
		}
		if ev == nil {
			ev = build()
		}
		if !st.send(ev) {
			m.log.Warn("operator subscriber dropped: it is not reading its events", "stream", st.id)
			delete(m.op.subscribers, st)
		}
	}
}

func (m *Master) opHeartbeat() {
	m.publish(func() *masterpb.Event { return &masterpb.Event{Type: masterpb.Event_HEARTBEAT.Enum()} })
}

// opTaskAdded announces a task the master just launched.
func (m *Master) opTaskAdded(f *framework, t *task) {
	m.publishTo(func(v *viewer) bool { return v.Framework(f.info) && v.Task(t.info, f.info) }, func() *masterpb.Event {
		return &masterpb.Event{
			Type:      masterpb.Event_TASK_ADDED.Enum(),
			TaskAdded: &masterpb.Event_TaskAdded{Task: taskProto(t, f.info.GetUser())},
		}
	})
}

// opTaskUpdated announces a change of a task's state; status is the status
// that caused it.
func (m *Master) opTaskUpdated(frameworkID string, t *task, status *mesos.TaskStatus) {
	visible := func(v *viewer) bool {
		f := m.frameworks[frameworkID]
		return f != nil && v.Framework(f.info) && v.Task(t.info, f.info)
	}
	m.publishTo(visible, func() *masterpb.Event {
		return &masterpb.Event{
			Type: masterpb.Event_TASK_UPDATED.Enum(),
			TaskUpdated: &masterpb.Event_TaskUpdated{
				FrameworkId: frameworkIDProto(frameworkID),
				Status:      status,
				State:       t.state.Enum(),
			},
		}
	})
}

func (m *Master) opAgentAdded(a *agent) {
	m.publish(func() *masterpb.Event {
		return &masterpb.Event{
			Type:       masterpb.Event_AGENT_ADDED.Enum(),
			AgentAdded: &masterpb.Event_AgentAdded{Agent: m.agentProto(a)},
		}
	})
}

func (m *Master) opAgentRemoved(id string) {
	m.publish(func() *masterpb.Event {
		return &masterpb.Event{
			Type:         masterpb.Event_AGENT_REMOVED.Enum(),
			AgentRemoved: &masterpb.Event_AgentRemoved{AgentId: agentIDProto(id)},
		}
	})
}

func (m *Master) opFrameworkAdded(f *framework) {
	m.publishTo(func(v *viewer) bool { return v.Framework(f.info) }, func() *masterpb.Event {
		return &masterpb.Event{
			Type:           masterpb.Event_FRAMEWORK_ADDED.Enum(),
			FrameworkAdded: &masterpb.Event_FrameworkAdded{Framework: m.frameworkProto(f)},
		}
	})
}

// opFrameworkUpdated announces a resubscription, an UPDATE_FRAMEWORK or a
// disconnection.
func (m *Master) opFrameworkUpdated(f *framework) {
	m.publishTo(func(v *viewer) bool { return v.Framework(f.info) }, func() *masterpb.Event {
		return &masterpb.Event{
			Type:             masterpb.Event_FRAMEWORK_UPDATED.Enum(),
			FrameworkUpdated: &masterpb.Event_FrameworkUpdated{Framework: m.frameworkProto(f)},
		}
	})
}

func (m *Master) opFrameworkRemoved(f *framework) {
	m.publishTo(func(v *viewer) bool { return v.Framework(f.info) }, func() *masterpb.Event {
		return &masterpb.Event{
			Type:             masterpb.Event_FRAMEWORK_REMOVED.Enum(),
			FrameworkRemoved: &masterpb.Event_FrameworkRemoved{FrameworkInfo: f.info},
		}
	})
}
