package master

import (
	"bytes"
	"net/http"
	"time"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	schedpb "github.com/agora-dev/agora/api/mesos/v1/scheduler"
	"google.golang.org/protobuf/proto"
)

// schedulerCall runs a checked non-SUBSCRIBE call on the loop and returns
// the HTTP status to answer with.
func (m *Master) schedulerCall(call *schedpb.Call) (int, string) {
	f := m.frameworks[call.GetFrameworkId().GetValue()]
	m.countMessage(schedulerMessage[call.GetType()])
	switch call.GetType() {
	case schedpb.Call_TEARDOWN:
		m.removeFramework(f, "the framework sent TEARDOWN")
	case schedpb.Call_ACCEPT:
		m.accept(f, call.GetAccept())
	case schedpb.Call_DECLINE:
		m.decline(f, call.GetDecline())
	case schedpb.Call_REVIVE:
		m.revive(f, call.GetRevive().GetRoles())
	case schedpb.Call_SUPPRESS:
		m.suppress(f, call.GetSuppress().GetRoles())
	case schedpb.Call_KILL:
		m.kill(f, call.GetKill())
	case schedpb.Call_SHUTDOWN:
		m.shutdownExecutor(f, call.GetShutdown())
	case schedpb.Call_ACKNOWLEDGE:
		m.acknowledge(f, call.GetAcknowledge())
	case schedpb.Call_RECONCILE:
		m.reconcile(f, call.GetReconcile())
	case schedpb.Call_MESSAGE:
		m.frameworkMessage(f, call.GetMessage())
	case schedpb.Call_UPDATE_FRAMEWORK:
		return m.updateFramework(f, call.GetUpdateFramework())
	case schedpb.Call_REQUEST, schedpb.Call_ACCEPT_INVERSE_OFFERS, schedpb.Call_DECLINE_INVERSE_OFFERS,
		schedpb.Call_ACKNOWLEDGE_OPERATION_STATUS, schedpb.Call_RECONCILE_OPERATIONS:
		// Accepted and ignored, as Mesos's default allocator ignores
		// requests; Agora has no inverse offers or offer operations
		// with feedback yet.
	default:
		return http.StatusNotImplemented, "Unsupported call type"
	}
	return http.StatusAccepted, ""
}

// revive clears filters and unsuppresses the given roles (all when empty).
// A role the framework is not subscribed to drops the whole call.
func (m *Master) revive(f *framework, roles []string) {
	if !m.subscribedRoles(f, roles) {
		m.log.Info("REVIVE for roles the framework is not subscribed to dropped", "framework", f.id, "roles", roles)
		return
	}
	m.alloc.Revive(f.id, roles)
	m.scheduleAllocation()
}

func (m *Master) suppress(f *framework, roles []string) {
	if !m.subscribedRoles(f, roles) {
		m.log.Info("SUPPRESS for roles the framework is not subscribed to dropped", "framework", f.id, "roles", roles)
		return
	}
	m.alloc.Suppress(f.id, roles)
}

func (m *Master) subscribedRoles(f *framework, roles []string) bool {
	have := make(map[string]bool)
	for _, r := range f.roles() {
		have[r] = true
	}
	for _, r := range roles {
		if !have[r] {
			return false
		}
	}
	return true
}

// kill handles KILL: a known task is killed on its agent; an unknown one is
// answered like an explicit reconciliation.
func (m *Master) kill(f *framework, k *schedpb.Call_Kill) {
	t := f.tasks[k.GetTaskId().GetValue()]
	if t == nil {
		var la lostAnswers
		m.reconcileTask(f, k.GetTaskId(), k.GetAgentId(), &la)
		m.sendLostAnswers(f, &la)
		return
	}
	if k.AgentId != nil && k.GetAgentId().GetValue() != t.agentID {
		m.log.Info("KILL with a mismatched agent id ignored", "framework", f.id, "task", t.id(), "agent", k.GetAgentId().GetValue())
		return
	}
	a := m.agents[t.agentID]
	if a == nil || a.stream == nil {
		// The kill is sent again when the agent re-subscribes (it reports
		// the task, and the master kills tasks whose framework asked).
		m.log.Info("KILL for a task on a disconnected agent deferred", "framework", f.id, "task", t.id(), "agent", t.agentID)
		t.killRequested = true
		t.killPolicy = k.GetKillPolicy()
		return
	}
	t.killRequested = true
	t.killPolicy = k.GetKillPolicy()
	m.sendToAgent(a, killEvent(f.id, t))
}

func killEvent(frameworkID string, t *task) *agentpb.Event {
	kp := t.killPolicy
	if kp == nil {
		kp = t.info.GetKillPolicy()
	}
	return &agentpb.Event{
		Type: agentpb.Event_KILL_TASK.Enum(),
		KillTask: &agentpb.Event_KillTask{
			FrameworkId: frameworkIDProto(frameworkID),
			TaskId:      t.info.TaskId,
			KillPolicy:  kp,
		},
	}
}

// shutdownExecutor handles SHUTDOWN of a custom executor.
func (m *Master) shutdownExecutor(f *framework, s *schedpb.Call_Shutdown) {
	a := m.agents[s.GetAgentId().GetValue()]
	if a == nil || a.stream == nil {
		m.log.Info("SHUTDOWN for an executor on an unknown or disconnected agent ignored",
			"framework", f.id, "executor", s.GetExecutorId().GetValue(), "agent", s.GetAgentId().GetValue())
		return
	}
	m.sendToAgent(a, &agentpb.Event{
		Type: agentpb.Event_SHUTDOWN_EXECUTOR.Enum(),
		ShutdownExecutor: &agentpb.Event_ShutdownExecutor{
			FrameworkId: frameworkIDProto(f.id),
			ExecutorId:  s.GetExecutorId(),
		},
	})
}

// acknowledge forwards a scheduler's acknowledgement to the agent, and
// retires a terminal task whose last update it acknowledges.
func (m *Master) acknowledge(f *framework, ack *schedpb.Call_Acknowledge) {
	agentID := ack.GetAgentId().GetValue()
	if t := f.tasks[ack.GetTaskId().GetValue()]; t != nil && t.agentID == agentID {
		t.ackedUUID = ack.GetUuid()
		if mesos.IsTerminal(t.state) && t.latest != nil && mesos.IsTerminal(t.latest.GetState()) &&
			bytes.Equal(t.latest.GetUuid(), ack.GetUuid()) {
			m.retireTask(f, t)
		}
	}
	a := m.agents[agentID]
	if a == nil || a.stream == nil {
		// The agent resends the update when it reconnects; the framework
		// acknowledges it again then.
		return
	}
	m.sendToAgent(a, &agentpb.Event{
		Type: agentpb.Event_ACKNOWLEDGE.Enum(),
		Acknowledge: &agentpb.Event_Acknowledge{
			FrameworkId: frameworkIDProto(f.id),
			TaskId:      ack.GetTaskId(),
			Uuid:        ack.GetUuid(),
		},
	})
}

// frameworkMessage relays a scheduler's message to an executor, best effort.
func (m *Master) frameworkMessage(f *framework, msg *schedpb.Call_Message) {
	a := m.agents[msg.GetAgentId().GetValue()]
	if a == nil || a.stream == nil {
		m.log.Info("framework message to an unknown or disconnected agent dropped",
			"framework", f.id, "agent", msg.GetAgentId().GetValue())
		return
	}
	m.metrics.frameworkMessages++
	m.sendToAgent(a, &agentpb.Event{
		Type: agentpb.Event_MESSAGE.Enum(),
		Message: &agentpb.Event_Message{
			FrameworkId: frameworkIDProto(f.id),
			ExecutorId:  msg.GetExecutorId(),
			Data:        msg.GetData(),
		},
	})
}

// reconcile answers RECONCILE (docs/mesos-api.md §2.9).
func (m *Master) reconcile(f *framework, r *schedpb.Call_Reconcile) {
	if len(r.GetTasks()) == 0 {
		for _, t := range f.tasks {
			m.sendToFramework(f, reconcileUpdate(t.info.TaskId, agentIDProto(t.agentID), t.state, t.latest, t))
		}
		return
	}
	var la lostAnswers
	for _, rt := range r.GetTasks() {
		m.reconcileTask(f, rt.GetTaskId(), rt.GetAgentId(), &la)
	}
	m.sendLostAnswers(f, &la)
}

// reconcileTask answers an explicit reconciliation of one task, as
// Mesos's master does (docs/mesos-ha.md §5.4). A task on an agent the
// registry admitted that has not re-subscribed since the failover gets no
// answer yet: the framework retries. A TASK_LOST answer is collected in
// la, to be sent once the registry has recorded it (told_lost.go).
func (m *Master) reconcileTask(f *framework, taskID *mesos.TaskID, agentID *mesos.AgentID, la *lostAnswers) {
	if t := f.tasks[taskID.GetValue()]; t != nil {
		m.sendToFramework(f, reconcileUpdate(taskID, agentIDProto(t.agentID), t.state, t.latest, t))
		return
	}
	if ct := m.completedTask(f, taskID.GetValue()); ct != nil {
		if ct.lostPending {
			return // answered once the registry records it
		}
		// Unlike Mesos (TASK_LOST for any task no longer live), a task this
		// master saw end is answered with the end it had, so a framework
		// is never told two different ends.
		m.sendToFramework(f, reconcileUpdate(taskID, agentIDProto(ct.agentID), ct.state, ct.latest, ct))
		return
	}
	pa := f.partitionAware()
	pick := func(aware mesos.TaskState) mesos.TaskState {
		if pa {
			return aware
		}
		return mesos.TaskState_TASK_LOST
	}
	aid := agentID.GetValue()
	var state mesos.TaskState
	var msg string
	var unreachable time.Time
	switch {
	case agentID == nil && len(m.recoveredAgents) > 0:
		return
	case agentID == nil:
		state, msg = pick(mesos.TaskState_TASK_UNKNOWN), "Reconciliation: Task is unknown"
	case m.recoveredAgents[aid].ID != "":
		return
	case m.agents[aid] != nil:
		state, msg = pick(mesos.TaskState_TASK_GONE), "Reconciliation: Task is unknown to the agent"
	case !m.removedAgents[aid].IsZero():
		state, msg = pick(mesos.TaskState_TASK_UNREACHABLE), "Reconciliation: Task is unreachable"
		unreachable = m.removedAgents[aid]
	case m.agentGone(aid):
		state, msg = pick(mesos.TaskState_TASK_GONE_BY_OPERATOR), "Reconciliation: Task is gone"
	default:
		state, msg = pick(mesos.TaskState_TASK_UNKNOWN), "Reconciliation: Task is unknown"
	}
	ev := reconcileUpdate(taskID, agentID, state, nil, nil)
	ev.Update.Status.Message = proto.String(msg)
	if !unreachable.IsZero() {
		ev.Update.Status.UnreachableTime = &mesos.TimeInfo{Nanoseconds: proto.Int64(unreachable.UnixNano())}
	}
	if state == mesos.TaskState_TASK_LOST {
		// The framework is told the task is lost: remember it, here and
		// in the registry, so that whatever its agent says of it later
		// (an update still in flight from before a failover) is answered
		// by this master or the next and never relayed.
		la.tasks = append(la.tasks, m.rememberLost(f, taskID, aid))
		la.events = append(la.events, ev)
		return
	}
	m.sendToFramework(f, ev)
}

// reconcileUpdate builds a reconciliation answer: SOURCE_MASTER,
// REASON_RECONCILIATION, no uuid.
func reconcileUpdate(taskID *mesos.TaskID, agentID *mesos.AgentID, state mesos.TaskState,
	latest *mesos.TaskStatus, t *task) *schedpb.Event {
	st := &mesos.TaskStatus{
		TaskId:    taskID,
		State:     state.Enum(),
		Source:    mesos.TaskStatus_SOURCE_MASTER.Enum(),
		Reason:    mesos.TaskStatus_REASON_RECONCILIATION.Enum(),
		Message:   proto.String("Reconciliation: Latest task state"),
		AgentId:   agentID,
		Timestamp: proto.Float64(float64(time.Now().UnixNano()) / 1e9),
	}
	if latest != nil {
		st.ExecutorId = latest.ExecutorId
		st.Healthy = latest.Healthy
		st.Labels = latest.Labels
		st.ContainerStatus = latest.ContainerStatus
		st.Data = latest.Data
	}
	if t != nil && !t.unreachableTime.IsZero() {
		st.UnreachableTime = &mesos.TimeInfo{Nanoseconds: proto.Int64(t.unreachableTime.UnixNano())}
	}
	return &schedpb.Event{Type: schedpb.Event_UPDATE.Enum(), Update: &schedpb.Event_Update{Status: st}}
}
