package agent

import (
	"maps"
	"slices"
	"time"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	sdkexec "github.com/agora-dev/agora/sdk/executor"
	"google.golang.org/protobuf/proto"
)

// This file holds the loop's side of the master protocol: what the agent
// tells the master when it subscribes, and what it does with each event.

// subscribeCall builds the SUBSCRIBE call from the current state.
func (s *state) subscribeCall() *agentpb.Call {
	info := s.agentInfo()
	sub := &agentpb.Call_Subscribe{
		ProtocolVersion: proto.Uint32(ProtocolVersion),
		AgentInfo:       info,
		Endpoint:        proto.String(s.a.endpoint),
		Version:         proto.String(Version),
	}
	for _, fid := range slices.Sorted(maps.Keys(s.frameworks)) {
		f := s.frameworks[fid]
		for _, eid := range slices.Sorted(maps.Keys(f.executors)) {
			e := f.executors[eid]
			if e.state == execTerminated {
				continue
			}
			es := &agentpb.ExecutorState{
				FrameworkInfo:   f.info,
				ExecutorInfo:    e.info,
				CommandExecutor: proto.Bool(e.command),
				ContainerId:     &mesos.ContainerID{Value: proto.String(e.containerID)},
			}
			for _, t := range e.tasks {
				if mt := s.reportedTask(t); mt != nil {
					es.Tasks = append(es.Tasks, mt)
				}
			}
			sub.Executors = append(sub.Executors, es)
		}
		// The tasks of ended executors whose terminal update the master
		// has not acknowledged yet: it is on its way, and the master
		// must not take the task for lost meanwhile.
		for _, e := range f.completedExecutors {
			var tasks []*mesos.Task
			for _, t := range e.tasks {
				if mt := s.reportedTask(t); mt != nil {
					tasks = append(tasks, mt)
				}
			}
			if len(tasks) > 0 {
				sub.Executors = append(sub.Executors, &agentpb.ExecutorState{FrameworkInfo: f.info, ExecutorInfo: e.info,
					CommandExecutor: proto.Bool(e.command), ContainerId: &mesos.ContainerID{Value: proto.String(e.containerID)},
					Tasks: tasks})
			}
		}
	}
	call := &agentpb.Call{Type: agentpb.Call_SUBSCRIBE.Enum(), Subscribe: sub}
	if s.agentID != "" {
		call.AgentId = info.Id
	}
	return call
}

// reportedTask is a task as a SUBSCRIBE reports it: a live task, or a
// terminal one whose terminal update is still pending, in the last state
// before it (the update that follows tells the master the end); nil for
// the rest.
func (s *state) reportedTask(t *task) *mesos.Task {
	if !mesos.IsTerminal(t.state) {
		return s.taskProto(t)
	}
	us := s.updates.streams[streamKey{t.ex.fw.id, t.id()}]
	if us == nil || len(us.pending) == 0 {
		return nil
	}
	for i := len(t.statuses) - 1; i >= 0; i-- {
		if st := t.statuses[i].GetState(); !mesos.IsTerminal(st) {
			mt := s.taskProto(t)
			mt.State = st.Enum()
			return mt
		}
	}
	return nil
}

// agentInfo describes this agent, with its id once it has one.
func (s *state) agentInfo() *mesos.AgentInfo {
	info := &mesos.AgentInfo{
		Hostname:   proto.String(s.a.cfg.Hostname),
		Port:       proto.Int32(int32(s.a.port)),
		Resources:  s.a.resources,
		Attributes: s.a.attributes,
	}
	if s.agentID != "" {
		info.Id = &mesos.AgentID{Value: proto.String(s.agentID)}
	}
	return info
}

// taskProto is the mesos.Task view of a task.
func (s *state) taskProto(t *task) *mesos.Task {
	mt := &mesos.Task{
		Name:        t.info.Name,
		TaskId:      t.info.TaskId,
		FrameworkId: &mesos.FrameworkID{Value: proto.String(t.ex.fw.id)},
		AgentId:     &mesos.AgentID{Value: proto.String(s.agentID)},
		State:       t.state.Enum(),
		Resources:   t.info.Resources,
		Statuses:    t.statuses,
		Labels:      t.info.Labels,
		Discovery:   t.info.Discovery,
		Container:   t.info.Container,
		HealthCheck: t.info.HealthCheck,
		KillPolicy:  t.info.KillPolicy,
	}
	if !t.ex.command {
		mt.ExecutorId = t.ex.info.ExecutorId
	}
	return mt
}

// subscribed records a SUBSCRIBED from the master.
func (s *state) subscribed(agentID, streamID string, mi *mesos.MasterInfo) {
	if s.agentID != "" && s.agentID != agentID {
		s.a.log.Warn("master assigned a new agent id", "old", s.agentID, "new", agentID)
	}
	s.agentID = agentID
	s.streamID = streamID
	s.registered = true
	s.masterHost = mi.GetHostname()
	s.updates.resendAll()
}

// disconnected records that the subscription broke.
func (s *state) disconnected() {
	s.registered = false
	s.streamID = ""
}

// sendCall sends a call on the live subscription; without one it drops it
// (updates are resent on resubscription).
func (s *state) sendCall(c *agentpb.Call) {
	if !s.registered {
		return
	}
	c.AgentId = &mesos.AgentID{Value: proto.String(s.agentID)}
	s.a.conn.send(s.streamID, c)
}

// handleMasterEvent dispatches an event from the master.
func (s *state) handleMasterEvent(ev *agentpb.Event) {
	switch ev.GetType() {
	case agentpb.Event_RUN_TASK:
		s.runTask(ev.GetRunTask())
	case agentpb.Event_KILL_TASK:
		k := ev.GetKillTask()
		s.killTask(k.GetFrameworkId().GetValue(), k.GetTaskId().GetValue(), k.GetKillPolicy())
	case agentpb.Event_ACKNOWLEDGE:
		ack := ev.GetAcknowledge()
		s.updates.acknowledge(ack.GetFrameworkId().GetValue(), ack.GetTaskId().GetValue(), ack.GetUuid())
	case agentpb.Event_SHUTDOWN_EXECUTOR:
		se := ev.GetShutdownExecutor()
		f := s.frameworks[se.GetFrameworkId().GetValue()]
		if f == nil || f.executors[se.GetExecutorId().GetValue()] == nil {
			s.a.log.Warn("SHUTDOWN_EXECUTOR for unknown executor", "framework_id", se.GetFrameworkId().GetValue(),
				"executor_id", se.GetExecutorId().GetValue())
			return
		}
		s.shutdownExecutor(f.executors[se.GetExecutorId().GetValue()])
	case agentpb.Event_SHUTDOWN_FRAMEWORK:
		s.shutdownFramework(ev.GetShutdownFramework().GetFrameworkId().GetValue())
	case agentpb.Event_MESSAGE:
		m := ev.GetMessage()
		s.messageToExecutor(m.GetFrameworkId().GetValue(), m.GetExecutorId().GetValue(), m.GetData())
	default:
		s.a.log.Warn("unexpected event from master", "type", ev.GetType().String())
	}
}

// newAgentUpdate builds an agent-generated status update.
func (s *state) newAgentUpdate(taskID, executorID string, st mesos.TaskState,
	reason mesos.TaskStatus_Reason, msg string,
) *mesos.TaskStatus {
	ts := &mesos.TaskStatus{
		TaskId:  &mesos.TaskID{Value: proto.String(taskID)},
		State:   st.Enum(),
		Source:  mesos.TaskStatus_SOURCE_AGENT.Enum(),
		Reason:  reason.Enum(),
		Message: proto.String(msg),
		Uuid:    newUUID(),
	}
	if executorID != "" {
		ts.ExecutorId = &mesos.ExecutorID{Value: proto.String(executorID)}
	}
	return ts
}

// statusUpdate accepts an update (from an executor or the agent) for a
// framework's task: it fills the agent's fields, records the task's new
// state and queues the update. It reports false for a duplicate.
func (s *state) statusUpdate(fwID string, st *mesos.TaskStatus) bool {
	if st.AgentId == nil && s.agentID != "" {
		st.AgentId = &mesos.AgentID{Value: proto.String(s.agentID)}
	}
	if st.Timestamp == nil {
		st.Timestamp = proto.Float64(float64(time.Now().UnixNano()) / 1e9)
	}
	t := s.findTask(fwID, st.GetTaskId().GetValue())
	// Updates are at-least-once and in order per task: a framework may see
	// an update again, never a task come back from a terminal state. Like
	// Mesos's status update manager on a terminated stream, refuse a
	// non-terminal update of a terminal task (say a TASK_RUNNING an
	// executor resends after the task ended). acceptExecutorUpdate also
	// drops executors' updates of completed tasks.
	if t != nil && mesos.IsTerminal(t.state) && !mesos.IsTerminal(st.GetState()) {
		s.a.log.Info("status update of a terminal task dropped", "framework_id", fwID,
			"task_id", st.GetTaskId().GetValue(), "state", st.GetState().String())
		return false
	}
	if t != nil && st.ContainerStatus == nil {
		st.ContainerStatus = &mesos.ContainerStatus{
			ContainerId: &mesos.ContainerID{Value: proto.String(t.ex.containerID)},
		}
	}
	if !s.updates.accept(fwID, st) {
		return false
	}
	if t != nil {
		prev := t.state
		t.state = st.GetState()
		t.statuses = append(t.statuses, st)
		if mesos.IsTerminal(t.state) && !mesos.IsTerminal(prev) {
			s.counters[t.state]++
			t.queued = false
		}
	}
	return true
}

// formatDuration renders d in stout's format ("5secs", "15mins").
func formatDuration(d time.Duration) string { return sdkexec.FormatDuration(d) }
