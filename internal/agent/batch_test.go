package agent

import (
	"fmt"
	"testing"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"google.golang.org/protobuf/proto"
)

func TestBatchUpdates(t *testing.T) {
	upd := func(task string) *agentpb.Call {
		return &agentpb.Call{Type: agentpb.Call_UPDATE.Enum(), Update: &agentpb.Call_Update{
			FrameworkId: &mesos.FrameworkID{Value: proto.String("F")},
			Status:      &mesos.TaskStatus{TaskId: &mesos.TaskID{Value: proto.String(task)}, State: mesos.TaskState_TASK_RUNNING.Enum()},
		}}
	}
	pong := &agentpb.Call{Type: agentpb.Call_PONG.Enum()}
	q := []outCall{{"s1", upd("a")}, {"s1", upd("b")}, {"s1", pong}, {"s1", upd("c")}, {"s2", upd("d")}, {"s2", upd("e")}}
	var got []string
	for len(q) > 0 {
		var oc outCall
		oc, q = batchUpdates(q)
		desc := oc.streamID + ":" + oc.call.GetType().String()
		for _, u := range oc.call.AllUpdates() {
			desc += " " + u.GetStatus().GetTaskId().GetValue()
		}
		got = append(got, desc)
	}
	want := []string{"s1:UPDATE a b", "s1:PONG", "s1:UPDATE c", "s2:UPDATE d e"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("batches %q, want %q", got, want)
	}

	// At most MaxUpdatesPerCall in one call, the rest in order after.
	q = nil
	for i := range agentpb.MaxUpdatesPerCall + 3 {
		q = append(q, outCall{"s", upd(fmt.Sprint(i))})
	}
	first, rest := batchUpdates(q)
	if n := len(first.call.AllUpdates()); n != agentpb.MaxUpdatesPerCall {
		t.Errorf("first batch has %d updates", n)
	}
	second, rest := batchUpdates(rest)
	if len(rest) != 0 || len(second.call.AllUpdates()) != 3 || second.call.AllUpdates()[0].GetStatus().GetTaskId().GetValue() != fmt.Sprint(agentpb.MaxUpdatesPerCall) {
		t.Errorf("second batch %v, rest %d", second.call, len(rest))
	}
}
