package master

import (
	"net/http"
	"testing"
	"time"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	schedpb "github.com/agora-dev/agora/api/mesos/v1/scheduler"
	"google.golang.org/protobuf/proto"
)

// TestToldLostSurvivesLeaderChange: a task one leader answered TASK_LOST
// by reconciliation (its agent is registered and did not know it) is in
// the registry; the next leader, when the agent re-subscribes reporting
// the task running after all (a launch that overtook the answer), kills
// it and answers its updates instead of relaying them. The framework never
// hears the task is alive after TASK_LOST.
func TestToldLostSurvivesLeaderChange(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Port = 0
	cfg.AllocationInterval = 50 * time.Millisecond
	cfg.WorkDir = t.TempDir()
	m1, base1, stop1 := runMaster(t, cfg)

	a := startAgent(t, base1)
	s := startScheduler(t, base1, codec.JSON, frameworkInfo("told-lost"))
	fid := s.id
	s.call(&schedpb.Call{Type: schedpb.Call_RECONCILE.Enum(), Reconcile: &schedpb.Call_Reconcile{
		Tasks: []*schedpb.Call_Reconcile_Task{{TaskId: &mesos.TaskID{Value: proto.String("t9")}, AgentId: agentIDProto(a.id)}},
	}})
	if st := s.update("t9", mesos.TaskState_TASK_LOST); st.GetReason() != mesos.TaskStatus_REASON_RECONCILIATION {
		t.Fatalf("reconciliation answer %v", st)
	}
	if got := m1.reg.FSM().LostTasks(fid); len(got) != 1 || got[0].TaskID != "t9" || got[0].AgentID != a.id {
		t.Fatalf("registry lost tasks %+v, want t9 on %s", got, a.id)
	}
	stop1()

	// The next leader (the same work dir: the registry is what carries
	// over) hears from the agent that t9 runs after all.
	cfg.Port = 0
	_, base2, _ := runMaster(t, cfg)
	call := subscribeAgentCall(a.id)
	call.AgentId = agentIDProto(a.id)
	info := frameworkInfo("told-lost")
	info.Id = frameworkIDProto(fid)
	call.Subscribe.Executors = []*agentpb.ExecutorState{{
		FrameworkInfo:   info,
		CommandExecutor: proto.Bool(true),
		ExecutorInfo:    &mesos.ExecutorInfo{ExecutorId: &mesos.ExecutorID{Value: proto.String("t9")}},
		Tasks: []*mesos.Task{{
			Name: proto.String("t9"), TaskId: &mesos.TaskID{Value: proto.String("t9")}, FrameworkId: info.Id,
			AgentId: call.AgentId, State: mesos.TaskState_TASK_RUNNING.Enum(),
		}},
	}}
	a2 := &fakeAgent{t: t, url: base2 + agentAPIPath, id: a.id}
	a2.eventStream = openStream(t, a2.url, codec.Protobuf, call, nil, func() *agentpb.Event { return &agentpb.Event{} })
	a2.next("agent SUBSCRIBED", func(e *agentpb.Event) bool { return e.GetType() == agentpb.Event_SUBSCRIBED })
	a2.streamID = a2.headers.Get(agentStreamHeader)
	kill := a2.next("KILL of t9", func(e *agentpb.Event) bool { return e.GetType() == agentpb.Event_KILL_TASK })
	if got := kill.GetKillTask().GetTaskId().GetValue(); got != "t9" {
		t.Fatalf("KILL of %q, want t9", got)
	}

	info.Id = frameworkIDProto(fid)
	s2 := startScheduler(t, base2, codec.JSON, info)
	// The agent's resent RUNNING is answered by the master, not relayed.
	a2.update(fid, "t9", mesos.TaskState_TASK_RUNNING)
	a2.next("ACKNOWLEDGE of t9", func(e *agentpb.Event) bool { return e.GetType() == agentpb.Event_ACKNOWLEDGE })
	s2.call(&schedpb.Call{Type: schedpb.Call_RECONCILE.Enum(), Reconcile: &schedpb.Call_Reconcile{
		Tasks: []*schedpb.Call_Reconcile_Task{{TaskId: &mesos.TaskID{Value: proto.String("t9")}, AgentId: agentIDProto(a.id)}},
	}})
	ev := s2.next("reconciliation of t9", func(e *schedpb.Event) bool {
		return e.GetType() == schedpb.Event_UPDATE && e.GetUpdate().GetStatus().GetTaskId().GetValue() == "t9"
	})
	if st := ev.GetUpdate().GetStatus().GetState(); st != mesos.TaskState_TASK_LOST {
		t.Fatalf("after TASK_LOST the framework heard t9 %s", st)
	}
	if code, _ := post(t, base2+"/health", codec.JSON, &schedpb.Call{}, nil); code == http.StatusInternalServerError {
		t.Fatal("master unhealthy")
	}
}

// TestBusyAgentIsAlive: an agent whose PONGs wait behind its status
// updates is not removed: any call on its stream shows it is alive (at
// 10,000 simulated agents with 100,000 tasks, agents were removed for
// "no answer to 5 pings" while their updates flowed).
func TestBusyAgentIsAlive(t *testing.T) {
	m, base := startMaster(t, func(c *Config) {
		c.AgentPingTimeout = 40 * time.Millisecond
		c.MaxAgentPingTimeouts = 2
	})
	a := startAgent(t, base)
	active := func() bool {
		var ok bool
		_ = m.do(func() { ag := m.agents[a.id]; ok = ag != nil && ag.active })
		return ok
	}
	// Updates but no PONG, for well over the 80 ms ping budget.
	deadline := time.Now().Add(400 * time.Millisecond)
	for time.Now().Before(deadline) {
		a.update("no-such-framework", "t1", mesos.TaskState_TASK_RUNNING)
		if !active() {
			t.Fatal("an agent sending updates was removed for missing PONGs")
		}
		time.Sleep(10 * time.Millisecond) // the agent's pace, not a synchronization
	}
	// Silent, it is removed.
	waitFor(t, "the silent agent removed", func() bool { return !active() })
}
