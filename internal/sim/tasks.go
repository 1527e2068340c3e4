package sim

import (
	"bytes"
	"fmt"
	"time"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/internal/flags"
	"google.golang.org/protobuf/proto"
)

// DurationLabel is the task label that overrides --task_duration for one
// task: a Go or Mesos duration ("90s", "2mins"); "0" runs until killed.
const DurationLabel = "duration"

// handle dispatches an event from the master.
//
// +checklocks:a.mu
func (a *simAgent) handle(ev *agentpb.Event) {
	switch ev.GetType() {
	case agentpb.Event_RUN_TASK:
		a.runTask(ev.GetRunTask())
	case agentpb.Event_KILL_TASK:
		k := ev.GetKillTask()
		a.kill(k.GetFrameworkId().GetValue(), k.GetTaskId().GetValue())
	case agentpb.Event_ACKNOWLEDGE:
		ack := ev.GetAcknowledge()
		a.acknowledge(ack.GetFrameworkId().GetValue(), ack.GetTaskId().GetValue(), ack.GetUuid())
	case agentpb.Event_SHUTDOWN_EXECUTOR:
		se := ev.GetShutdownExecutor()
		if f := a.frameworks[se.GetFrameworkId().GetValue()]; f != nil {
			if e := f.executors[se.GetExecutorId().GetValue()]; e != nil {
				a.killExecutor(e)
			}
		}
	case agentpb.Event_SHUTDOWN_FRAMEWORK:
		if f := a.frameworks[ev.GetShutdownFramework().GetFrameworkId().GetValue()]; f != nil {
			for _, e := range f.executors {
				a.killExecutor(e)
			}
		}
	case agentpb.Event_MESSAGE:
		// No executor runs to receive it.
	default:
		a.s.log.Debug("unexpected event from master", "agent", a.hostname, "type", ev.GetType().String())
	}
}

// runTask accepts a task or a task group.
//
// +checklocks:a.mu
func (a *simAgent) runTask(rt *agentpb.Event_RunTask) {
	fi := rt.GetFrameworkInfo()
	fid := fi.GetId().GetValue()
	if fid == "" {
		return
	}
	f := a.frameworks[fid]
	if f == nil {
		f = &simFramework{executors: make(map[string]*simExecutor)}
		a.frameworks[fid] = f
	}
	f.info = fi
	if tg := rt.GetTaskGroup(); tg != nil {
		e := a.executor(f, rt.GetExecutorInfo(), false)
		for _, ti := range tg.GetTasks() {
			a.launch(e, ti)
		}
		return
	}
	ti := rt.GetTask()
	if ei := ti.GetExecutor(); ei != nil {
		a.launch(a.executor(f, ei, false), ti)
		return
	}
	// A command task: its executor's id is the task's, as on the real agent.
	tid := ti.GetTaskId().GetValue()
	if f.executors[tid] != nil {
		a.update(&simTask{key: taskKey{fid, tid}, info: ti}, mesos.TaskState_TASK_ERROR, mesos.TaskStatus_SOURCE_AGENT,
			mesos.TaskStatus_REASON_TASK_INVALID, fmt.Sprintf("an executor with id %q already exists", tid))
		return
	}
	ei := &mesos.ExecutorInfo{
		ExecutorId:  &mesos.ExecutorID{Value: proto.String(tid)},
		FrameworkId: fi.GetId(),
		Name:        proto.String("Command Executor (Task: " + tid + ") (Command: simulated)"),
		Source:      proto.String(tid),
		Command:     &mesos.CommandInfo{Value: proto.String("agora sim")},
	}
	a.launch(a.executor(f, ei, true), ti)
}

// +checklocks:a.mu
func (a *simAgent) executor(f *simFramework, info *mesos.ExecutorInfo, command bool) *simExecutor {
	eid := info.GetExecutorId().GetValue()
	if e := f.executors[eid]; e != nil {
		return e
	}
	if info.FrameworkId == nil {
		info = proto.Clone(info).(*mesos.ExecutorInfo)
		info.FrameworkId = f.info.GetId()
	}
	e := &simExecutor{fw: f, info: info, command: command, containerID: uuidString(newUUID()),
		tasks: make(map[string]*simTask)}
	f.executors[eid] = e
	return e
}

// launch starts one task: STARTING and RUNNING at once, FINISHED after
// its duration.
//
// +checklocks:a.mu
func (a *simAgent) launch(e *simExecutor, ti *mesos.TaskInfo) {
	key := taskKey{e.info.GetFrameworkId().GetValue(), ti.GetTaskId().GetValue()}
	if a.tasks[key] != nil {
		a.update(&simTask{key: key, info: ti}, mesos.TaskState_TASK_ERROR, mesos.TaskStatus_SOURCE_AGENT,
			mesos.TaskStatus_REASON_TASK_INVALID, fmt.Sprintf("task %q already exists on this agent", key.task))
		return
	}
	t := &simTask{key: key, ex: e, info: ti, state: mesos.TaskState_TASK_STAGING}
	e.tasks[key.task] = t
	a.tasks[key] = t
	a.s.launched.Add(1)
	a.s.active.Add(1)
	a.update(t, mesos.TaskState_TASK_STARTING, mesos.TaskStatus_SOURCE_EXECUTOR, 0, "")
	a.update(t, mesos.TaskState_TASK_RUNNING, mesos.TaskStatus_SOURCE_EXECUTOR, 0, "")
	d := a.s.cfg.TaskDuration
	for _, l := range ti.GetLabels().GetLabels() {
		if l.GetKey() == DurationLabel {
			v, err := flags.ParseDuration(l.GetValue())
			if err != nil || v < 0 {
				a.s.log.Warn("bad duration label; using --task_duration", "task", key.task, "value", l.GetValue())
				continue
			}
			d = v
		}
	}
	if d > 0 {
		t.finish = time.AfterFunc(d, func() {
			a.mu.Lock()
			defer a.mu.Unlock()
			if a.tasks[key] == t && !mesos.IsTerminal(t.state) {
				a.update(t, mesos.TaskState_TASK_FINISHED, mesos.TaskStatus_SOURCE_EXECUTOR, 0, "Command exited with status 0")
			}
		})
	}
}

// kill kills a task (TASK_KILLED); for a task it does not know it reports
// TASK_LOST, like the real agent.
//
// +checklocks:a.mu
func (a *simAgent) kill(fid, tid string) {
	t := a.tasks[taskKey{fid, tid}]
	if t == nil {
		a.update(&simTask{key: taskKey{fid, tid}, info: &mesos.TaskInfo{TaskId: &mesos.TaskID{Value: proto.String(tid)}}},
			mesos.TaskState_TASK_LOST, mesos.TaskStatus_SOURCE_AGENT, mesos.TaskStatus_REASON_INVALID_OFFERS,
			"Cannot find the task on this agent")
		return
	}
	if mesos.IsTerminal(t.state) {
		return
	}
	a.update(t, mesos.TaskState_TASK_KILLED, mesos.TaskStatus_SOURCE_EXECUTOR, 0, "Command terminated with signal Terminated")
}

// +checklocks:a.mu
func (a *simAgent) killExecutor(e *simExecutor) {
	for _, t := range e.tasks {
		if !mesos.IsTerminal(t.state) {
			a.update(t, mesos.TaskState_TASK_KILLED, mesos.TaskStatus_SOURCE_EXECUTOR, 0, "Executor shut down")
		}
	}
}

// update records a new state of t and queues its status update.
//
// +checklocks:a.mu
func (a *simAgent) update(t *simTask, state mesos.TaskState, source mesos.TaskStatus_Source, reason mesos.TaskStatus_Reason, msg string) {
	st := &mesos.TaskStatus{
		TaskId:    t.info.GetTaskId(),
		State:     state.Enum(),
		Source:    source.Enum(),
		Uuid:      newUUID(),
		Timestamp: proto.Float64(float64(time.Now().UnixNano()) / 1e9),
	}
	if a.id != "" {
		st.AgentId = &mesos.AgentID{Value: proto.String(a.id)}
	}
	if reason != 0 {
		st.Reason = reason.Enum()
	}
	if msg != "" {
		st.Message = proto.String(msg)
	}
	if t.ex != nil {
		if !t.ex.command {
			st.ExecutorId = t.ex.info.ExecutorId
		}
		st.ContainerStatus = &mesos.ContainerStatus{ContainerId: &mesos.ContainerID{Value: proto.String(t.ex.containerID)}}
	}
	wasTerminal := mesos.IsTerminal(t.state) && t.ex != nil
	t.state = state
	t.statuses = append(t.statuses, st)
	if mesos.IsTerminal(state) && !wasTerminal {
		if t.finish != nil {
			t.finish.Stop()
		}
		if t.ex != nil {
			a.s.active.Add(-1)
		}
		switch state {
		case mesos.TaskState_TASK_FINISHED:
			a.s.finished.Add(1)
		case mesos.TaskState_TASK_KILLED:
			a.s.killed.Add(1)
		}
	}
	if t.ex == nil && a.tasks[t.key] == nil {
		// An answer about an unknown task: keep it until acknowledged.
		a.tasks[t.key] = t
	}
	t.pending = append(t.pending, st)
	if len(t.pending) == 1 {
		t.interval = a.s.cfg.StatusUpdateRetry
		a.forward(t)
	}
}

// forward sends the head of t's updates, when subscribed, and arms its
// resend.
//
// +checklocks:a.mu
func (a *simAgent) forward(t *simTask) {
	if t.retry != nil {
		t.retry.Stop()
		t.retry = nil
	}
	if len(t.pending) == 0 {
		return
	}
	head := t.pending[0]
	if a.streamID != "" && t.sending != head {
		if head.AgentId == nil {
			head.AgentId = &mesos.AgentID{Value: proto.String(a.id)}
		}
		a.s.upd.Add(1)
		t.sending = head
		a.sendThen(&agentpb.Call{
			Type: agentpb.Call_UPDATE.Enum(),
			Update: &agentpb.Call_Update{
				FrameworkId: &mesos.FrameworkID{Value: proto.String(t.key.framework)},
				Status:      head,
				LatestState: t.state.Enum(),
			},
		}, func() {
			a.mu.Lock()
			if t.sending == head {
				t.sending = nil
			}
			a.mu.Unlock()
		})
	}
	t.retry = time.AfterFunc(t.interval, func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if len(t.pending) > 0 && t.pending[0] == head && a.tasks[t.key] == t {
			t.interval = min(2*t.interval, a.s.cfg.StatusUpdateRetryMax)
			a.forward(t)
		}
	})
}

// acknowledge pops the head of a task's updates when uuid is its; a task
// whose terminal update is acknowledged is forgotten, and an executor with
// no tasks left exits.
//
// +checklocks:a.mu
func (a *simAgent) acknowledge(fid, tid string, uuid []byte) {
	t := a.tasks[taskKey{fid, tid}]
	if t == nil || len(t.pending) == 0 || !bytes.Equal(t.pending[0].GetUuid(), uuid) {
		return
	}
	t.pending = t.pending[1:]
	if len(t.pending) > 0 {
		t.interval = a.s.cfg.StatusUpdateRetry
		a.forward(t)
		return
	}
	if t.retry != nil {
		t.retry.Stop()
		t.retry = nil
	}
	if !mesos.IsTerminal(t.state) {
		return
	}
	delete(a.tasks, t.key)
	e := t.ex
	if e == nil {
		return
	}
	delete(e.tasks, tid)
	if len(e.tasks) > 0 {
		return
	}
	delete(e.fw.executors, e.info.GetExecutorId().GetValue())
	if len(e.fw.executors) == 0 {
		delete(a.frameworks, fid)
	}
	a.send(&agentpb.Call{
		Type: agentpb.Call_EXECUTOR_EXITED.Enum(),
		ExecutorExited: &agentpb.Call_ExecutorExited{
			FrameworkId:     &mesos.FrameworkID{Value: proto.String(fid)},
			ExecutorId:      e.info.ExecutorId,
			Status:          proto.Int32(0),
			CommandExecutor: proto.Bool(e.command),
		},
	})
}

func uuidString(u []byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
