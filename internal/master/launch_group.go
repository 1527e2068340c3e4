package master

import (
	"errors"
	"strconv"
	"time"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/internal/executor/health"
	"github.com/agora-dev/agora/internal/resources"
	"google.golang.org/protobuf/proto"
)

// LAUNCH_GROUP (docs/mesos-api.md §6.5 item 5 and the Addendum): a task
// group runs on the agent's default executor, all or nothing. Any invalid
// part fails every task of the group with TASK_ERROR and
// REASON_TASK_GROUP_INVALID.

// minDefaultExecutorMemMB is the least memory a DEFAULT executor may ask.
const minDefaultExecutorMemMB = 32

// launchGroup validates and launches one LAUNCH_GROUP operation of an
// ACCEPT. It returns what is left of the offered resources; launched
// gains the group's executor when the group starts it.
func (m *Master) launchGroup(f *framework, a *agent, role string, op *mesos.Offer_Operation,
	remaining resources.Resources, launched map[string]*mesos.ExecutorInfo) resources.Resources {
	lg := op.GetLaunchGroup()
	var (
		need    resources.Resources
		execNew *executor
		err     error
	)
	reason := mesos.TaskStatus_REASON_TASK_GROUP_INVALID
	if op.Id != nil {
		err = wireErrorf("The 'id' field of a LAUNCH_GROUP operation must not be set")
	} else if msg := m.groupDenied(f, lg); msg != "" {
		err, reason = errors.New(msg), mesos.TaskStatus_REASON_TASK_GROUP_UNAUTHORIZED
	} else {
		need, execNew, err = m.validateLaunchGroup(f, a, role, lg, remaining, launched)
	}
	if err != nil {
		m.log.Info("LAUNCH_GROUP refused", "framework", f.id, "agent", a.id,
			"executor", lg.GetExecutor().GetExecutorId().GetValue(), "error", err)
		for _, t := range lg.GetTaskGroup().GetTasks() {
			m.sendMasterUpdate(f, t.GetTaskId(), t.GetAgentId(), mesos.TaskState_TASK_ERROR, reason, err.Error())
		}
		return remaining
	}
	m.launchTaskGroup(f, a, role, lg, execNew)
	if execNew != nil {
		launched[execNew.info.GetExecutorId().GetValue()] = execNew.info
	}
	return remaining.Subtract(need)
}

// validateLaunchGroup checks a LAUNCH_GROUP against the framework, the
// agent and the resources left in the ACCEPT. It returns the resources the
// group consumes (its tasks, plus its executor when that is not running
// yet) and, when the group starts its executor, that executor.
func (m *Master) validateLaunchGroup(f *framework, a *agent, role string, lg *mesos.Offer_Operation_LaunchGroup,
	remaining resources.Resources, launched map[string]*mesos.ExecutorInfo) (resources.Resources, *executor, error) {
	var none resources.Resources
	e := lg.GetExecutor()
	tasks := lg.GetTaskGroup().GetTasks()
	switch {
	case e == nil:
		return none, nil, wireErrorf("'LaunchGroup.executor' must be set")
	case len(tasks) == 0:
		return none, nil, wireErrorf("Task group must contain at least one task")
	case e.GetType() != mesos.ExecutorInfo_DEFAULT:
		return none, nil, wireErrorf("'ExecutorInfo.type' must be 'DEFAULT' for a LAUNCH_GROUP operation, not '%s'", e.GetType())
	case e.Command != nil:
		return none, nil, wireErrorf("'ExecutorInfo.command' must not be set for 'DEFAULT' executor")
	case e.FrameworkId == nil:
		return none, nil, wireErrorf("'ExecutorInfo.framework_id' must be set")
	case e.GetFrameworkId().GetValue() != f.id:
		return none, nil, wireErrorf("ExecutorInfo has an invalid FrameworkID (%s, expected %s)", e.GetFrameworkId().GetValue(), f.id)
	}
	eid := e.GetExecutorId().GetValue()
	if err := validateID("executor id", eid); err != nil {
		return none, nil, err
	}

	var need resources.Resources
	var execNew *executor
	reused, res, err := reuseOrAdmitExecutor(f, a, role, e, launched)
	if err != nil {
		return none, nil, err
	}
	if !reused {
		if mem := res.Scalar("mem"); mem < minDefaultExecutorMemMB {
			return none, nil, wireErrorf("Executor '%s' uses less memory (%sMB) than the minimum required (%dMB)",
				eid, strconv.FormatFloat(mem, 'f', -1, 64), minDefaultExecutorMemMB)
		}
		if res.Scalar("disk") <= 0 {
			return none, nil, wireErrorf("Executor '%s' uses no disk", eid)
		}
		need = res
		info := proto.Clone(e).(*mesos.ExecutorInfo)
		execNew = &executor{info: info, resources: res, role: role}
	}

	seen := make(map[string]bool)
	for _, t := range tasks {
		res, err := m.validateGroupTask(f, a, role, eid, t, seen)
		if err != nil {
			return none, nil, err
		}
		need = need.Add(res)
	}
	if !remaining.Contains(need) {
		return none, nil, wireErrorf("Task group uses more resources %s than available %s", need, remaining)
	}
	return need, execNew, nil
}

// validateGroupTask checks one task of a group and returns its resources.
func (m *Master) validateGroupTask(f *framework, a *agent, role, eid string, t *mesos.TaskInfo,
	seen map[string]bool) (resources.Resources, error) {
	var none resources.Resources
	id := t.GetTaskId().GetValue()
	if err := validateID("task id", id); err != nil {
		return none, wireErrorf("Task group has an invalid task: %v", err)
	}
	if _, dup := f.tasks[id]; dup || seen[id] {
		return none, wireErrorf("Task has duplicate ID: %s", id)
	}
	seen[id] = true
	if t.GetAgentId().GetValue() != a.id {
		return none, wireErrorf("Task '%s' uses invalid agent: %s (the offers are from agent %s)", id, t.GetAgentId().GetValue(), a.id)
	}
	if x := t.GetExecutor(); x != nil && x.GetExecutorId().GetValue() != eid {
		return none, wireErrorf("The `ExecutorInfo` of task '%s' is different from executor '%s'", id, eid)
	}
	if t.Command == nil {
		return none, wireErrorf("Task '%s' of the task group must have a 'command'", id)
	}
	if t.Container != nil && t.GetContainer().GetType() == mesos.ContainerInfo_DOCKER {
		return none, wireErrorf("Docker ContainerInfo is not supported on task '%s' of a task group", id)
	}
	if err := checkAllocationRole(t.GetResources(), role); err != nil {
		return none, err
	}
	res, err := resources.FromProto(t.GetResources())
	if err != nil {
		return none, wireErrorf("Task '%s' uses invalid resources: %v", id, err)
	}
	if res.IsEmpty() {
		return none, wireErrorf("Task '%s' uses no resources", id)
	}
	if kp := t.GetKillPolicy(); kp != nil && kp.GetGracePeriod().GetNanoseconds() < 0 {
		return none, wireErrorf("Task '%s': 'kill_policy.grace_period' must be non-negative", id)
	}
	if t.GetMaxCompletionTime().GetNanoseconds() < 0 {
		return none, wireErrorf("Task '%s': 'max_completion_time' must be non-negative", id)
	}
	if hc := t.GetHealthCheck(); hc != nil {
		if err := health.Validate(hc); err != nil {
			return none, wireErrorf("Task '%s' has an invalid health check: %v", id, err)
		}
	}
	return res, nil
}

// launchTaskGroup records a validated group's tasks as STAGING and sends
// the group to its agent in one RUN_TASK.
func (m *Master) launchTaskGroup(f *framework, a *agent, role string, lg *mesos.Offer_Operation_LaunchGroup, execNew *executor) {
	info := proto.Clone(lg.GetExecutor()).(*mesos.ExecutorInfo)
	eid := info.GetExecutorId().GetValue()
	group := &mesos.TaskGroupInfo{}
	if a.tasks[f.id] == nil {
		a.tasks[f.id] = make(map[string]*task)
	}
	for _, ti := range lg.GetTaskGroup().GetTasks() {
		ti = proto.Clone(ti).(*mesos.TaskInfo)
		// The group's executor is in RUN_TASK; the default executor runs
		// each task's command.
		ti.Executor = nil
		res, _ := resources.FromProto(ti.GetResources())
		t := &task{
			frameworkID: f.id,
			agentID:     a.id,
			executorID:  eid,
			info:        ti,
			role:        role,
			resources:   res,
			state:       mesos.TaskState_TASK_STAGING,
			launched:    time.Now(),
		}
		f.tasks[t.id()] = t
		a.tasks[f.id][t.id()] = t
		group.Tasks = append(group.Tasks, ti)
	}
	if execNew != nil {
		if a.executors[f.id] == nil {
			a.executors[f.id] = make(map[string]*executor)
		}
		a.executors[f.id][eid] = execNew
		if f.executors[a.id] == nil {
			f.executors[a.id] = make(map[string]*mesos.ExecutorInfo)
		}
		f.executors[a.id][eid] = execNew.info
	}
	m.log.Debug("launching task group", "framework", f.id, "executor", eid, "agent", a.id, "tasks", len(group.Tasks))
	m.sendToAgent(a, &agentpb.Event{Type: agentpb.Event_RUN_TASK.Enum(), RunTask: &agentpb.Event_RunTask{
		FrameworkInfo: f.info, ExecutorInfo: info, TaskGroup: group,
	}})
}
