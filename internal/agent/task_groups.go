package agent

import (
	"fmt"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	executorpb "github.com/agora-dev/agora/api/mesos/v1/executor"
	"google.golang.org/protobuf/proto"
)

// Task groups (LAUNCH_GROUP): RUN_TASK with a task_group and an
// ExecutorInfo of type DEFAULT. The agent starts the built-in default
// executor (ExecutorPath with DefaultExecutorArgs) for that ExecutorInfo,
// or reuses the running one with the same id, and delivers the group as
// one LAUNCH_GROUP event.

// runTaskGroup handles RUN_TASK with a task group.
func (s *state) runTaskGroup(f *framework, ei *mesos.ExecutorInfo, tg *mesos.TaskGroupInfo) {
	execID := ei.GetExecutorId().GetValue()
	refuse := func(st mesos.TaskState, reason mesos.TaskStatus_Reason, msg string) {
		for _, ti := range tg.GetTasks() {
			s.statusUpdate(f.id, s.newAgentUpdate(ti.GetTaskId().GetValue(), execID, st, reason, msg))
		}
		s.maybeRemoveFramework(f)
	}
	if msg := s.validateTaskGroup(f, ei, tg); msg != "" {
		s.a.log.Warn("invalid task group refused", "framework_id", f.id, "executor_id", execID, "error", msg)
		refuse(mesos.TaskState_TASK_ERROR, mesos.TaskStatus_REASON_TASK_GROUP_INVALID, msg)
		return
	}
	e := f.executors[execID]
	if e != nil && e.state >= execTerminating {
		st := mesos.TaskState_TASK_LOST
		if f.partitionAware() {
			st = mesos.TaskState_TASK_DROPPED
		}
		refuse(st, mesos.TaskStatus_REASON_EXECUTOR_TERMINATED, fmt.Sprintf("executor %q is terminating", execID))
		return
	}
	if e != nil && !e.defaultExec {
		refuse(mesos.TaskState_TASK_ERROR, mesos.TaskStatus_REASON_TASK_GROUP_INVALID,
			fmt.Sprintf("executor %q of framework %s is running and is not a default executor", execID, f.id))
		return
	}
	if e == nil {
		info := proto.Clone(ei).(*mesos.ExecutorInfo)
		if info.FrameworkId == nil {
			info.FrameworkId = f.info.GetId()
		}
		if st, msg := s.missingUser(f, info); msg != "" {
			refuse(st, mesos.TaskStatus_REASON_EXECUTOR_TERMINATED, msg)
			return
		}
		var res []*mesos.Resource
		for _, ti := range tg.GetTasks() {
			res = append(res, ti.GetResources()...)
		}
		e = s.newGroupExecutor(f, info, res)
	}
	group := proto.Clone(tg).(*mesos.TaskGroupInfo)
	var first *task
	for _, ti := range group.GetTasks() {
		t := &task{ex: e, info: ti, state: mesos.TaskState_TASK_STAGING, queued: true, group: group}
		e.tasks = append(e.tasks, t)
		s.counters[mesos.TaskState_TASK_STAGING]++
		if first == nil {
			first = t
		}
	}
	s.resizeContainer(e)
	s.a.log.Info("task group received", "framework_id", f.id, "executor_id", e.id, "tasks", len(group.GetTasks()))
	if e.stream != nil && e.state == execRunning {
		s.deliver(first)
	}
}

// newGroupExecutor registers a default executor and starts launching it.
func (s *state) newGroupExecutor(f *framework, ei *mesos.ExecutorInfo, taskRes []*mesos.Resource) *executor {
	return s.newExecutorKind(f, ei, false, true, taskRes, nil, nil)
}

// validateTaskGroup checks what the agent needs of a task group.
func (s *state) validateTaskGroup(f *framework, ei *mesos.ExecutorInfo, tg *mesos.TaskGroupInfo) string {
	switch {
	case ei == nil:
		return "RUN_TASK with a task group has no executor_info"
	case ei.GetType() != mesos.ExecutorInfo_DEFAULT:
		return fmt.Sprintf("executor %q of a task group must be of type DEFAULT, not %s",
			ei.GetExecutorId().GetValue(), ei.GetType())
	case ei.GetExecutorId().GetValue() == "":
		return "executor id of the task group is empty"
	case len(tg.GetTasks()) == 0:
		return "task group has no tasks"
	}
	seen := map[string]bool{}
	for _, ti := range tg.GetTasks() {
		id := ti.GetTaskId().GetValue()
		switch {
		case id == "":
			return "a task of the group has an empty task id"
		case seen[id]:
			return fmt.Sprintf("task id %q appears twice in the group", id)
		case s.findTask(f.id, id) != nil:
			return fmt.Sprintf("task %q already exists on this agent", id)
		case ti.Command == nil:
			return fmt.Sprintf("task %q of the group has no command", id)
		case ti.Executor != nil:
			return fmt.Sprintf("task %q of the group must not set an executor", id)
		}
		seen[id] = true
	}
	return ""
}

// deliverGroup sends the queued tasks of t's group as one LAUNCH_GROUP.
func (s *state) deliverGroup(t *task) {
	queued := s.queuedWith(t)
	if len(queued) == 0 {
		return
	}
	group := &mesos.TaskGroupInfo{}
	for _, q := range queued {
		q.queued = false
		group.Tasks = append(group.Tasks, q.info)
	}
	t.ex.stream.push(&executorpb.Event{
		Type:        executorpb.Event_LAUNCH_GROUP.Enum(),
		LaunchGroup: &executorpb.Event_LaunchGroup{TaskGroup: group},
	})
}

// queuedWith lists t and the other queued, live tasks of its group.
func (s *state) queuedWith(t *task) []*task {
	if t.group == nil {
		return []*task{t}
	}
	var out []*task
	for _, x := range t.ex.tasks {
		if x.group == t.group && x.queued && !mesos.IsTerminal(x.state) {
			out = append(out, x)
		}
	}
	return out
}
