package master

import (
	"bytes"
	"time"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
)

// An agent resends a status update until the framework's acknowledgement
// reaches it (every 10 s at first, as Mesos's agents do). When the master
// is busy, resends arrive while the first copy still waits for the
// framework's answer, and relaying each again doubles the work of the
// framework and of the master (the framework acknowledges every copy). So:
//
//   - a resend of an update the framework already acknowledged is
//     acknowledged to the agent by the master (the framework's answer is
//     on its way, or was lost with an agent connection), not relayed;
//   - a resend of the update last relayed to the framework's current
//     stream less than duplicateRelayWindow ago is not relayed again: the
//     stream delivers in order, so the framework has it or will soon.
//     After the window (a framework that lost its acknowledgement) and on
//     a new subscription the update is relayed again, as Mesos does.

// duplicateRelayWindow is how long a relayed update is not relayed again
// on the same framework stream. The agents' first resend (10 s) falls in
// it, the second (30 s after the first copy) after it.
const duplicateRelayWindow = 25 * time.Second

// relayedUpdate is the last update with a uuid the master relayed for a
// task.
type relayedUpdate struct {
	uuid   []byte
	stream *stream
	at     time.Time
}

// answerDuplicate handles a resent update of task t that the master need
// not relay; it reports whether it did.
func (m *Master) answerDuplicate(a *agent, f *framework, t *task, u *agentpb.Call_Update, status *mesos.TaskStatus) bool {
	uuid := status.GetUuid()
	if len(uuid) != 16 {
		return false
	}
	if bytes.Equal(uuid, t.ackedUUID) {
		m.metrics.duplicateUpdatesAnswered++
		m.sendToAgent(a, &agentpb.Event{
			Type: agentpb.Event_ACKNOWLEDGE.Enum(),
			Acknowledge: &agentpb.Event_Acknowledge{
				FrameworkId: u.GetFrameworkId(), TaskId: status.TaskId, Uuid: uuid,
			},
		})
		return true
	}
	r := t.relayed
	if f.stream != nil && r.stream == f.stream && bytes.Equal(uuid, r.uuid) && time.Since(r.at) < duplicateRelayWindow {
		m.metrics.duplicateUpdatesHeld++
		return true
	}
	return false
}

// noteRelayed records the update relayed to the framework for t.
func (f *framework) noteRelayed(t *task, status *mesos.TaskStatus) {
	if len(status.GetUuid()) == 16 && f.stream != nil {
		t.relayed = relayedUpdate{uuid: status.GetUuid(), stream: f.stream, at: time.Now()}
	}
}
