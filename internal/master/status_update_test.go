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

// TestNoUpdateAfterTerminal: a framework that has been told a task is
// over never sees it come back. A non-terminal update the agent (re)sends
// after the task's terminal update, before or after the framework
// acknowledged it, is not forwarded; the master acknowledges it to the
// agent, whose update stream then moves on.
func TestNoUpdateAfterTerminal(t *testing.T) {
	_, base := startMaster(t, nil)
	a := startAgent(t, base)
	s := startScheduler(t, base, codec.Protobuf, frameworkInfo("no-regression"))
	s.launch(a.id, "t1")
	a.runTask()
	a.update(s.id, "t1", mesos.TaskState_TASK_RUNNING)
	s.update("t1", mesos.TaskState_TASK_RUNNING)
	a.update(s.id, "t1", mesos.TaskState_TASK_FINISHED)
	fin := s.update("t1", mesos.TaskState_TASK_FINISHED)

	stale := func(when string) {
		t.Helper()
		uuid := newUUID()
		call := &agentpb.Call{Type: agentpb.Call_UPDATE.Enum(), AgentId: agentIDProto(a.id), Update: &agentpb.Call_Update{
			FrameworkId: frameworkIDProto(s.id),
			Status: &mesos.TaskStatus{TaskId: &mesos.TaskID{Value: proto.String("t1")}, State: mesos.TaskState_TASK_RUNNING.Enum(),
				Source: mesos.TaskStatus_SOURCE_EXECUTOR.Enum(), Uuid: uuid},
		}}
		if code, body := post(t, a.url, codec.Protobuf, call, map[string]string{agentStreamHeader: a.streamID}); code != http.StatusAccepted {
			t.Fatalf("agent UPDATE: %d %s", code, body)
		}
		a.next("the master's ACKNOWLEDGE of the stale update "+when, func(e *agentpb.Event) bool {
			return e.GetType() == agentpb.Event_ACKNOWLEDGE && bytes.Equal(e.GetAcknowledge().GetUuid(), uuid)
		})
		// The answer to a reconciliation follows whatever the master sent
		// the framework before.
		s.call(&schedpb.Call{Type: schedpb.Call_RECONCILE.Enum(), Reconcile: &schedpb.Call_Reconcile{
			Tasks: []*schedpb.Call_Reconcile_Task{{TaskId: &mesos.TaskID{Value: proto.String("t1")}, AgentId: agentIDProto(a.id)}},
		}})
		s.next("the reconciliation answer "+when, func(e *schedpb.Event) bool {
			st := e.GetUpdate().GetStatus()
			if st.GetTaskId().GetValue() != "t1" {
				return false
			}
			if st.GetReason() == mesos.TaskStatus_REASON_RECONCILIATION {
				return true
			}
			if st.GetState() == mesos.TaskState_TASK_RUNNING {
				t.Errorf("framework saw t1 %s after TASK_FINISHED (%s)", st.GetState(), when)
			}
			return false
		})
	}
	stale("before the terminal update is acknowledged")
	s.call(&schedpb.Call{Type: schedpb.Call_ACKNOWLEDGE.Enum(), Acknowledge: &schedpb.Call_Acknowledge{
		AgentId: agentIDProto(a.id), TaskId: fin.GetTaskId(), Uuid: fin.GetUuid()}})
	a.next("the ACKNOWLEDGE of TASK_FINISHED", func(e *agentpb.Event) bool {
		return e.GetType() == agentpb.Event_ACKNOWLEDGE && bytes.Equal(e.GetAcknowledge().GetUuid(), fin.GetUuid())
	})
	stale("once the task is completed")
}
