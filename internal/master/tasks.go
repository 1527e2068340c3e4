package master

import (
	"slices"
	"time"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	schedpb "github.com/agora-dev/agora/api/mesos/v1/scheduler"
	"google.golang.org/protobuf/proto"
)

// agentStatusUpdate records a status update an agent forwards and relays
// it to the framework. The agent resends it until the framework's
// acknowledgement reaches it.
func (m *Master) agentStatusUpdate(a *agent, u *agentpb.Call_Update) {
	fid := u.GetFrameworkId().GetValue()
	// The call was decoded for this request alone: its status is the
	// master's to keep and complete (no copy).
	status := u.GetStatus()
	status.AgentId = agentIDProto(a.id)
	if status.Timestamp == nil {
		status.Timestamp = proto.Float64(float64(time.Now().UnixNano()) / 1e9)
	}
	m.metrics.validStatusUpdates++
	f := m.frameworks[fid]
	if f == nil {
		if m.completedFramework(fid) != nil && len(status.GetUuid()) == 16 {
			// Nobody will acknowledge this update any more: do it for the
			// removed framework so the agent stops resending it.
			m.sendToAgent(a, &agentpb.Event{
				Type: agentpb.Event_ACKNOWLEDGE.Enum(),
				Acknowledge: &agentpb.Event_Acknowledge{
					FrameworkId: u.GetFrameworkId(), TaskId: status.TaskId, Uuid: status.Uuid,
				},
			})
		}
		return
	}
	tid := status.GetTaskId().GetValue()
	if len(a.pendingKills) > 0 && mesos.IsTerminal(status.GetState()) && a.pendingKills[fid+"/"+tid] {
		delete(a.pendingKills, fid+"/"+tid)
		if len(a.pendingKills) == 0 {
			m.admitAgent(a)
		}
	}
	if f.tasks[tid] == nil {
		ct := m.completedTask(f, tid)
		if ct == nil && a.cameBack && !f.partitionAware() {
			ct = m.rememberLost(f, status.TaskId, a.id)
		}
		if ct != nil && ct.state == mesos.TaskState_TASK_LOST {
			// The master told the framework this task was lost: what the
			// agent says of it now is answered here, never relayed, so the
			// framework never sees it come back.
			if len(status.GetUuid()) == 16 {
				m.sendToAgent(a, &agentpb.Event{
					Type: agentpb.Event_ACKNOWLEDGE.Enum(),
					Acknowledge: &agentpb.Event_Acknowledge{
						FrameworkId: u.GetFrameworkId(), TaskId: status.TaskId, Uuid: status.Uuid,
					},
				})
			}
			latest := status.GetState()
			if u.LatestState != nil {
				latest = u.GetLatestState()
			}
			if !mesos.IsTerminal(latest) {
				m.sendToAgent(a, killEvent(fid, ct))
			}
			return
		}
	}
	taskID := tid
	if t := f.tasks[taskID]; !mesos.IsTerminal(status.GetState()) &&
		((t != nil && mesos.IsTerminal(t.state)) || (t == nil && m.completedTask(f, taskID) != nil)) {
		// The framework has been told the task is over (by the agent's
		// latest state, or by the master: say TASK_LOST for a task its
		// agent did not report when it re-subscribed). A task never comes
		// back from a terminal state: this older update the agent is still
		// resending is not forwarded; the master acknowledges it for the
		// framework so that the agent's stream moves on to what follows.
		m.log.Info("stale status update of a terminal task acknowledged, not forwarded", "framework", fid,
			"task", taskID, "state", status.GetState().String())
		if len(status.GetUuid()) == 16 {
			m.sendToAgent(a, &agentpb.Event{
				Type: agentpb.Event_ACKNOWLEDGE.Enum(),
				Acknowledge: &agentpb.Event_Acknowledge{
					FrameworkId: u.GetFrameworkId(), TaskId: status.TaskId, Uuid: status.Uuid,
				},
			})
		}
		return
	}
	if t := f.tasks[taskID]; t != nil {
		latest := status.GetState()
		if u.LatestState != nil {
			latest = u.GetLatestState()
		}
		if status.ExecutorId == nil && t.executorID != "" {
			status.ExecutorId = &mesos.ExecutorID{Value: proto.String(t.executorID)}
		}
		t.latest = status
		added := m.recordStatus(t, status)
		if latest != t.state {
			t.state = latest
			if mesos.IsTerminal(latest) {
				m.metrics.tasksByState[latest]++
				m.freeTaskResources(t)
			}
		}
		if added {
			// One TASK_UPDATED per new status, with the latest state, as
			// Mesos publishes them.
			m.opTaskUpdated(fid, t, status)
		}
		if m.answerDuplicate(a, f, t, u, status) {
			return
		}
		f.noteRelayed(t, status)
	}
	m.sendToFramework(f, &schedpb.Event{Type: schedpb.Event_UPDATE.Enum(), Update: &schedpb.Event_Update{Status: status}})
}

// recordStatus appends a status to the task's history (one entry per
// change of state or health, without the payload) and reports whether it
// was new.
func (m *Master) recordStatus(t *task, s *mesos.TaskStatus) bool {
	if n := len(t.statuses); n > 0 && t.statuses[n-1].GetState() == s.GetState() &&
		t.statuses[n-1].GetHealthy() == s.GetHealthy() {
		return false
	}
	c := proto.Clone(s).(*mesos.TaskStatus)
	c.Data = nil
	t.statuses = append(t.statuses, c)
	return true
}

// transitionTask moves a task to a state the master decided (agent lost,
// task not reported) and tells the framework with an update without uuid.
func (m *Master) transitionTask(f *framework, t *task, state mesos.TaskState, reason mesos.TaskStatus_Reason, msg string) {
	st := &mesos.TaskStatus{
		TaskId:    t.info.TaskId,
		State:     state.Enum(),
		Source:    mesos.TaskStatus_SOURCE_MASTER.Enum(),
		Reason:    reason.Enum(),
		Message:   proto.String(msg),
		AgentId:   agentIDProto(t.agentID),
		Timestamp: proto.Float64(float64(time.Now().UnixNano()) / 1e9),
	}
	if t.executorID != "" {
		st.ExecutorId = &mesos.ExecutorID{Value: proto.String(t.executorID)}
	}
	if state == mesos.TaskState_TASK_UNREACHABLE {
		st.UnreachableTime = &mesos.TimeInfo{Nanoseconds: proto.Int64(t.unreachableTime.UnixNano())}
	}
	t.state = state
	t.latest = st
	m.recordStatus(t, st)
	m.opTaskUpdated(f.id, t, st)
	m.sendToFramework(f, &schedpb.Event{Type: schedpb.Event_UPDATE.Enum(), Update: &schedpb.Event_Update{Status: st}})
	if mesos.IsTerminal(state) {
		m.metrics.tasksByState[state]++
		m.freeTaskResources(t)
		m.retireTask(f, t)
	}
}

// freeTaskResources gives a finished task's resources back to the
// allocator, once.
func (m *Master) freeTaskResources(t *task) {
	if t.resourcesFreed {
		return
	}
	t.resourcesFreed = true
	if _, ok := m.agents[t.agentID]; ok {
		m.alloc.RecoverResources(t.frameworkID, t.agentID, t.role, t.resources, 0, time.Now())
		m.scheduleAllocation()
	}
}

// retireTask moves a terminal task from the live tasks to the completed
// ones.
func (m *Master) retireTask(f *framework, t *task) {
	delete(f.tasks, t.id())
	if a := m.agents[t.agentID]; a != nil {
		delete(a.tasks[f.id], t.id())
	}
	m.completeTask(f, t)
}

// completeTask appends to the bounded completed-task history.
func (m *Master) completeTask(f *framework, t *task) {
	f.completedTasks = append(f.completedTasks, t)
	if n := len(f.completedTasks) - m.cfg.MaxCompletedTasksPerFramework; n > 0 {
		f.completedTasks = slices.Delete(f.completedTasks, 0, n)
	}
}

// rememberLost records that the framework was told a task it launched on
// agentID (may be "") is lost, so that whatever that agent says of the
// task later is answered by the master and never relayed.
func (m *Master) rememberLost(f *framework, taskID *mesos.TaskID, agentID string) *task {
	t := &task{
		frameworkID: f.id, agentID: agentID, state: mesos.TaskState_TASK_LOST, resourcesFreed: true,
		info: &mesos.TaskInfo{TaskId: taskID, Name: proto.String(taskID.GetValue())},
	}
	if agentID != "" {
		t.info.AgentId = agentIDProto(agentID)
	}
	m.completeTask(f, t)
	return t
}

func (m *Master) completedTask(f *framework, id string) *task {
	for i := len(f.completedTasks) - 1; i >= 0; i-- {
		if f.completedTasks[i].id() == id {
			return f.completedTasks[i]
		}
	}
	return nil
}
