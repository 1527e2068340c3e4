package master

import (
	"testing"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"google.golang.org/protobuf/proto"
)

// TestRecoveredFrameworkFailsOverFromElection: a framework known only
// from an agent's report (it has not re-subscribed to this leader) keeps
// its tasks for its failover_timeout counted from the election, then it is
// removed and the agent told to shut it down (Mesos never removes it:
// MESOS-4659).
func TestRecoveredFrameworkFailsOverFromElection(t *testing.T) {
	m, base := startMaster(t, nil)
	call := subscribeAgentCall(m.ID() + "-S7")
	call.AgentId = &mesos.AgentID{Value: proto.String(m.ID() + "-S7")}
	fid := &mesos.FrameworkID{Value: proto.String("fw-recovered")}
	call.Subscribe.Executors = []*agentpb.ExecutorState{{
		FrameworkInfo: &mesos.FrameworkInfo{Id: fid, User: proto.String("root"), Name: proto.String("gone-away"),
			FailoverTimeout: proto.Float64(0.3)},
		CommandExecutor: proto.Bool(true),
		ExecutorInfo:    &mesos.ExecutorInfo{ExecutorId: &mesos.ExecutorID{Value: proto.String("t1")}},
		Tasks: []*mesos.Task{{
			Name: proto.String("t1"), TaskId: &mesos.TaskID{Value: proto.String("t1")}, FrameworkId: fid,
			AgentId: call.AgentId, State: mesos.TaskState_TASK_RUNNING.Enum(),
		}},
	}}
	a := &fakeAgent{t: t, url: base + agentAPIPath}
	a.eventStream = openStream(t, a.url, codec.Protobuf, call, nil, func() *agentpb.Event { return &agentpb.Event{} })
	a.next("agent SUBSCRIBED", func(e *agentpb.Event) bool { return e.GetType() == agentpb.Event_SUBSCRIBED })
	var recovered bool
	if err := m.do(func() { f := m.frameworks["fw-recovered"]; recovered = f != nil && f.recovered }); err != nil || !recovered {
		t.Fatalf("the framework was not recovered from the agent's report (%v)", err)
	}
	ev := a.next("SHUTDOWN_FRAMEWORK", func(e *agentpb.Event) bool { return e.GetType() == agentpb.Event_SHUTDOWN_FRAMEWORK })
	if got := ev.GetShutdownFramework().GetFrameworkId().GetValue(); got != "fw-recovered" {
		t.Errorf("SHUTDOWN_FRAMEWORK for %q", got)
	}
	if err := m.do(func() { recovered = m.frameworks["fw-recovered"] != nil }); err != nil || recovered {
		t.Errorf("the framework is still there after its failover_timeout (%v)", err)
	}
}
