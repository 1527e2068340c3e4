package master

import (
	"bytes"
	"net/http"
	"testing"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	schedpb "github.com/agora-dev/agora/api/mesos/v1/scheduler"
	"google.golang.org/protobuf/proto"
)

// TestResentUpdates: an agent's resend of an update still waiting for the
// framework is not relayed again on the same stream; once the framework
// acknowledged it, a resend is acknowledged by the master; a framework
// that re-subscribes gets the unacknowledged update again.
func TestResentUpdates(t *testing.T) {
	m, base := startMaster(t, nil)
	a := startAgent(t, base)
	s := startScheduler(t, base, codec.Protobuf, frameworkInfo("resends"))
	s.launch(a.id, "t1")
	a.runTask()
	headers := map[string]string{agentStreamHeader: a.streamID}
	send := func(st *mesos.TaskStatus) {
		t.Helper()
		call := &agentpb.Call{Type: agentpb.Call_UPDATE.Enum(), AgentId: agentIDProto(a.id), Update: &agentpb.Call_Update{
			FrameworkId: frameworkIDProto(s.id), Status: st}}
		if code, body := post(t, a.url, codec.Protobuf, call, headers); code != http.StatusAccepted {
			t.Fatalf("agent UPDATE: %d %s", code, body)
		}
	}
	status := func(state mesos.TaskState) *mesos.TaskStatus {
		return &mesos.TaskStatus{TaskId: &mesos.TaskID{Value: proto.String("t1")}, State: state.Enum(),
			Source: mesos.TaskStatus_SOURCE_EXECUTOR.Enum(), Uuid: newUUID()}
	}
	counter := func(name string) float64 {
		var v float64
		m.do(func() { v = m.metricsSnapshot()[name] })
		return v
	}

	starting := status(mesos.TaskState_TASK_STARTING)
	send(starting)
	send(proto.Clone(starting).(*mesos.TaskStatus)) // the agent's resend
	running := status(mesos.TaskState_TASK_RUNNING)
	send(running)
	// The framework sees STARTING once, then RUNNING.
	seen := 0
	s.next("TASK_RUNNING", func(e *schedpb.Event) bool {
		st := e.GetUpdate().GetStatus()
		if bytes.Equal(st.GetUuid(), starting.GetUuid()) {
			seen++
		}
		return st.GetState() == mesos.TaskState_TASK_RUNNING
	})
	if seen != 1 {
		t.Errorf("TASK_STARTING relayed %d times, want 1", seen)
	}
	if n := counter("master/status_update_resends_held"); n != 1 {
		t.Errorf("resends held = %v, want 1", n)
	}

	// Acknowledged: the master answers a resend itself.
	s.call(&schedpb.Call{Type: schedpb.Call_ACKNOWLEDGE.Enum(), Acknowledge: &schedpb.Call_Acknowledge{
		AgentId: agentIDProto(a.id), TaskId: running.TaskId, Uuid: running.Uuid}})
	a.next("the framework's ACKNOWLEDGE", func(e *agentpb.Event) bool {
		return e.GetType() == agentpb.Event_ACKNOWLEDGE && bytes.Equal(e.GetAcknowledge().GetUuid(), running.GetUuid())
	})
	send(proto.Clone(running).(*mesos.TaskStatus))
	a.next("the master's ACKNOWLEDGE of the resend", func(e *agentpb.Event) bool {
		return e.GetType() == agentpb.Event_ACKNOWLEDGE && bytes.Equal(e.GetAcknowledge().GetUuid(), running.GetUuid())
	})
	if n := counter("master/status_update_resends_acknowledged"); n != 1 {
		t.Errorf("resends acknowledged = %v, want 1", n)
	}

	// A new subscription of the framework gets an unacknowledged update
	// again.
	finished := status(mesos.TaskState_TASK_FINISHED)
	send(finished)
	s.update("t1", mesos.TaskState_TASK_FINISHED)
	fi := frameworkInfo("resends")
	fi.Id = frameworkIDProto(s.id)
	s2 := startScheduler(t, base, codec.Protobuf, fi)
	send(proto.Clone(finished).(*mesos.TaskStatus))
	if st := s2.update("t1", mesos.TaskState_TASK_FINISHED); !bytes.Equal(st.GetUuid(), finished.GetUuid()) {
		t.Errorf("re-subscribed framework got %v", st)
	}
}
