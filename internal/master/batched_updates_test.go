package master

import (
	"net/http"
	"strings"
	"testing"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"google.golang.org/protobuf/proto"
)

// TestBatchedAgentUpdates: an UPDATE call of protocol version 2 carries
// several updates, which the master applies in order, as if they had come
// one per call; an update without its status refuses the whole call before
// any of it is applied.
func TestBatchedAgentUpdates(t *testing.T) {
	_, base := startMaster(t, nil)
	a := startAgent(t, base)
	s := startScheduler(t, base, codec.Protobuf, frameworkInfo("batched"))
	s.launch(a.id, "t1")
	a.runTask()
	s.launch(a.id, "t2")
	a.runTask()
	up := func(task string, state mesos.TaskState) *agentpb.Call_Update {
		return &agentpb.Call_Update{FrameworkId: frameworkIDProto(s.id), Status: &mesos.TaskStatus{
			TaskId: &mesos.TaskID{Value: proto.String(task)}, State: state.Enum(),
			Source: mesos.TaskStatus_SOURCE_EXECUTOR.Enum(), Uuid: newUUID()}}
	}
	headers := map[string]string{agentStreamHeader: a.streamID}

	bad := &agentpb.Call{Type: agentpb.Call_UPDATE.Enum(), AgentId: agentIDProto(a.id), Updates: []*agentpb.Call_Update{
		up("t1", mesos.TaskState_TASK_RUNNING), {FrameworkId: frameworkIDProto(s.id)}}}
	raw, err := proto.MarshalOptions{AllowPartial: true}.Marshal(bad)
	if err != nil {
		t.Fatal(err)
	}
	if resp := postRaw(t, a.url, codec.MediaProtobuf, raw, headers); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("batch with an update without status: %d, want 400", resp.StatusCode)
	}
	empty := &agentpb.Call{Type: agentpb.Call_UPDATE.Enum(), AgentId: agentIDProto(a.id)}
	if code, _ := post(t, a.url, codec.Protobuf, empty, headers); code != http.StatusBadRequest {
		t.Fatalf("UPDATE without updates: %d, want 400", code)
	}

	call := &agentpb.Call{Type: agentpb.Call_UPDATE.Enum(), AgentId: agentIDProto(a.id), Updates: []*agentpb.Call_Update{
		up("t1", mesos.TaskState_TASK_RUNNING), up("t2", mesos.TaskState_TASK_RUNNING), up("t1", mesos.TaskState_TASK_FINISHED)}}
	if code, body := post(t, a.url, codec.Protobuf, call, headers); code != http.StatusAccepted {
		t.Fatalf("batched UPDATE: %d %s", code, body)
	}
	// The framework sees t1 RUNNING (nothing of the refused call came
	// first), t2 RUNNING and then t1 FINISHED.
	if st := s.update("t1", mesos.TaskState_TASK_RUNNING); st.GetState() != mesos.TaskState_TASK_RUNNING {
		t.Fatalf("t1: %v", st)
	}
	s.update("t2", mesos.TaskState_TASK_RUNNING)
	s.update("t1", mesos.TaskState_TASK_FINISHED)
}

// TestAgentProtocolVersions: a master speaks every agent protocol version
// up to its own and refuses newer ones, saying to upgrade the masters.
func TestAgentProtocolVersions(t *testing.T) {
	_, base := startMaster(t, nil)
	for _, v := range []uint32{1, 2, 3} {
		call := subscribeAgentCall("")
		call.Subscribe.ProtocolVersion = proto.Uint32(v)
		st := openStream(t, base+agentAPIPath, codec.Protobuf, call, nil, func() *agentpb.Event { return &agentpb.Event{} })
		ev := st.next("the answer to SUBSCRIBE", func(e *agentpb.Event) bool {
			return e.GetType() == agentpb.Event_SUBSCRIBED || e.GetType() == agentpb.Event_ERROR
		})
		switch {
		case v <= 2 && ev.GetType() != agentpb.Event_SUBSCRIBED:
			t.Errorf("version %d refused: %v", v, ev)
		case v > 2 && (ev.GetType() != agentpb.Event_ERROR || !strings.Contains(ev.GetError().GetMessage(), "upgrade the masters first")):
			t.Errorf("version %d: %v, want an ERROR saying to upgrade the masters", v, ev)
		}
	}
}
