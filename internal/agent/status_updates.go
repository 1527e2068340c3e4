package agent

import (
	"bytes"
	"time"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"google.golang.org/protobuf/proto"
)

// The status update manager makes task status updates reliable on the
// agent→master path (Mesos §2.8, §3.4):
//
//	executor UPDATE / agent-generated update
//	        │ accept: fill agent_id, timestamp; ACKNOWLEDGED to the executor
//	        ▼
//	per-task FIFO [u1 u2 u3]   only the head is forwarded to the master,
//	        │                  resent every StatusUpdateRetry (doubling up
//	        │                  to StatusUpdateRetryMax) and at once after
//	        ▼                  every (re)subscription
//	master ACKNOWLEDGE(uuid of head) → pop, forward the next
//
// When a terminal update is popped and the queue is empty the task is
// completed and its stream forgotten.

type streamKey struct{ framework, task string }

type updateStream struct {
	key      streamKey
	pending  []*mesos.TaskStatus
	seen     map[string]bool // uuids accepted, to drop duplicates
	latest   mesos.TaskState
	interval time.Duration
	timer    *time.Timer
}

type updateManager struct {
	s       *state
	streams map[streamKey]*updateStream
}

func newUpdateManager(s *state) *updateManager {
	return &updateManager{s: s, streams: make(map[streamKey]*updateStream)}
}

// accept queues an update. It reports false for a duplicate (a uuid seen
// before on this task's stream), which the caller still acknowledges to the
// executor.
func (m *updateManager) accept(fwID string, st *mesos.TaskStatus) bool {
	key := streamKey{fwID, st.GetTaskId().GetValue()}
	us := m.streams[key]
	if us == nil {
		us = &updateStream{key: key, seen: make(map[string]bool)}
		m.streams[key] = us
	}
	if us.seen[string(st.GetUuid())] {
		return false
	}
	us.seen[string(st.GetUuid())] = true
	us.pending = append(us.pending, st)
	us.latest = st.GetState()
	if len(us.pending) == 1 {
		us.interval = m.s.a.cfg.StatusUpdateRetry
		m.forward(us)
	}
	return true
}

// forward sends the head of us to the master, when subscribed, and arms
// the retry timer.
func (m *updateManager) forward(us *updateStream) {
	if us.timer != nil {
		us.timer.Stop()
		us.timer = nil
	}
	if len(us.pending) == 0 {
		return
	}
	head := us.pending[0]
	if m.s.registered {
		m.s.a.log.Debug("forwarding status update", "framework_id", us.key.framework,
			"task_id", us.key.task, "state", head.GetState().String())
		m.s.sendCall(&agentpb.Call{
			Type: agentpb.Call_UPDATE.Enum(),
			Update: &agentpb.Call_Update{
				FrameworkId: &mesos.FrameworkID{Value: proto.String(us.key.framework)},
				Status:      head,
				LatestState: us.latest.Enum(),
			},
		})
	}
	interval := us.interval
	us.timer = m.s.a.afterFunc(interval, func() {
		if m.streams[us.key] != us || len(us.pending) == 0 || us.pending[0] != head {
			return
		}
		us.interval = min(2*us.interval, m.s.a.cfg.StatusUpdateRetryMax)
		m.forward(us)
	})
}

// acknowledge handles the master's ACKNOWLEDGE of an update.
func (m *updateManager) acknowledge(fwID, taskID string, uuid []byte) {
	us := m.streams[streamKey{fwID, taskID}]
	if us == nil || len(us.pending) == 0 {
		m.s.a.log.Debug("acknowledgement for unknown status update stream", "framework_id", fwID, "task_id", taskID)
		return
	}
	head := us.pending[0]
	if !bytes.Equal(head.GetUuid(), uuid) {
		m.s.a.log.Debug("acknowledgement does not match the pending status update", "framework_id", fwID, "task_id", taskID)
		return
	}
	us.pending = us.pending[1:]
	if us.timer != nil {
		us.timer.Stop()
		us.timer = nil
	}
	if len(us.pending) > 0 {
		us.interval = m.s.a.cfg.StatusUpdateRetry
		m.forward(us)
		return
	}
	if mesos.IsTerminal(head.GetState()) {
		delete(m.streams, us.key)
		if t := m.s.findTask(fwID, taskID); t != nil && mesos.IsTerminal(t.state) {
			m.s.taskCompleted(t)
		} else if f := m.s.frameworks[fwID]; f != nil {
			m.s.maybeRemoveFramework(f)
		}
	}
}

// resendAll forwards every stream's head at once, after a (re)subscription.
func (m *updateManager) resendAll() {
	for _, us := range m.streams {
		if len(us.pending) > 0 {
			us.interval = m.s.a.cfg.StatusUpdateRetry
			m.forward(us)
		}
	}
}

// pendingFor reports whether a framework has unacknowledged updates.
func (m *updateManager) pendingFor(fwID string) bool {
	for k, us := range m.streams {
		if k.framework == fwID && len(us.pending) > 0 {
			return true
		}
	}
	return false
}

// dropFramework forgets the streams of a framework being shut down: the
// master has already removed its tasks.
func (m *updateManager) dropFramework(fwID string) {
	for k, us := range m.streams {
		if k.framework == fwID {
			if us.timer != nil {
				us.timer.Stop()
			}
			delete(m.streams, k)
		}
	}
}

func (m *updateManager) stopTimers() {
	for _, us := range m.streams {
		if us.timer != nil {
			us.timer.Stop()
		}
	}
}
