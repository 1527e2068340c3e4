package master

import (
	"errors"
	"fmt"
	"time"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	schedpb "github.com/agora-dev/agora/api/mesos/v1/scheduler"
	"github.com/agora-dev/agora/internal/resources"
	"google.golang.org/protobuf/proto"
)

// accept handles ACCEPT (docs/mesos-api.md §6.5). Every failure is
// reported asynchronously, as Mesos does: TASK_LOST/TASK_DROPPED for
// invalid offers, TASK_ERROR for invalid tasks.
func (m *Master) accept(f *framework, acc *schedpb.Call_Accept) {
	now := time.Now()
	offers, err := m.validateOffers(f, acc.GetOfferIds())
	if err != nil {
		for _, id := range acc.GetOfferIds() {
			if o := f.offers[id.GetValue()]; o != nil {
				m.removeOffer(o, false, 0)
			}
		}
		state := mesos.TaskState_TASK_LOST
		if f.partitionAware() {
			state = mesos.TaskState_TASK_DROPPED
		}
		for _, t := range tasksOf(acc.GetOperations()) {
			m.sendMasterUpdate(f, t.GetTaskId(), t.GetAgentId(), state,
				mesos.TaskStatus_REASON_INVALID_OFFERS, "Task launched with invalid offers: "+err.Error())
		}
		m.log.Info("ACCEPT with invalid offers", "framework", f.id, "error", err)
		return
	}
	a := m.agents[offers[0].agentID]
	role := offers[0].role
	var remaining resources.Resources
	for _, o := range offers {
		remaining = remaining.Add(o.resources)
		m.forgetOffer(o)
	}
	// Executors launched by earlier tasks of this same ACCEPT.
	launched := make(map[string]*mesos.ExecutorInfo)

	for _, op := range acc.GetOperations() {
		switch op.GetType() {
		case mesos.Offer_Operation_LAUNCH:
			if op.Id != nil {
				for _, t := range op.GetLaunch().GetTaskInfos() {
					m.sendMasterUpdate(f, t.GetTaskId(), t.GetAgentId(), mesos.TaskState_TASK_ERROR,
						mesos.TaskStatus_REASON_TASK_INVALID, "The 'id' field of a LAUNCH operation must not be set")
				}
				continue
			}
			for _, t := range op.GetLaunch().GetTaskInfos() {
				if msg := m.launchDenied(f, t); msg != "" {
					m.sendMasterUpdate(f, t.GetTaskId(), t.GetAgentId(), mesos.TaskState_TASK_ERROR,
						mesos.TaskStatus_REASON_TASK_UNAUTHORIZED, msg)
					continue
				}
				need, execNew, err := m.validateTask(f, a, role, t, remaining, launched)
				if err != nil {
					m.sendMasterUpdate(f, t.GetTaskId(), t.GetAgentId(), mesos.TaskState_TASK_ERROR,
						mesos.TaskStatus_REASON_TASK_INVALID, err.Error())
					continue
				}
				remaining = remaining.Subtract(need)
				m.launchTask(f, a, role, t, execNew)
				if execNew != nil {
					launched[execNew.info.GetExecutorId().GetValue()] = execNew.info
				}
			}
		case mesos.Offer_Operation_LAUNCH_GROUP:
			remaining = m.launchGroup(f, a, role, op, remaining, launched)
		default:
			m.log.Info("unsupported offer operation ignored", "framework", f.id, "type", op.GetType().String())
			if op.Id != nil {
				m.sendToFramework(f, &schedpb.Event{
					Type: schedpb.Event_UPDATE_OPERATION_STATUS.Enum(),
					UpdateOperationStatus: &schedpb.Event_UpdateOperationStatus{Status: &mesos.OperationStatus{
						OperationId: op.Id,
						State:       mesos.OperationState_OPERATION_ERROR.Enum(),
						Message:     proto.String(fmt.Sprintf("Operation %s is not supported by Agora", op.GetType())),
						AgentId:     agentIDProto(a.id),
					}},
				})
			}
		}
	}
	if !remaining.IsEmpty() {
		m.alloc.RecoverResources(f.id, a.id, role, remaining, refuseDuration(acc.GetFilters()), now)
	}
	m.scheduleAllocation()
}

// tasksOf lists the tasks of LAUNCH and LAUNCH_GROUP operations.
func tasksOf(ops []*mesos.Offer_Operation) []*mesos.TaskInfo {
	var out []*mesos.TaskInfo
	for _, op := range ops {
		out = append(out, op.GetLaunch().GetTaskInfos()...)
		out = append(out, op.GetLaunchGroup().GetTaskGroup().GetTasks()...)
	}
	return out
}

// validateOffers checks the offer ids of an ACCEPT.
func (m *Master) validateOffers(f *framework, ids []*mesos.OfferID) ([]*offer, error) {
	if len(ids) == 0 {
		return nil, errors.New("no offer ids were given")
	}
	seen := make(map[string]bool)
	var out []*offer
	for _, id := range ids {
		v := id.GetValue()
		if seen[v] {
			return nil, fmt.Errorf("offer %q is listed more than once", v)
		}
		seen[v] = true
		o := m.offers[v]
		if o == nil {
			return nil, fmt.Errorf("offer %q is no longer valid", v)
		}
		if o.frameworkID != f.id {
			return nil, fmt.Errorf("offer %q belongs to another framework", v)
		}
		if len(out) > 0 {
			if o.agentID != out[0].agentID {
				return nil, fmt.Errorf("offers %q and %q are from different agents", out[0].id, v)
			}
			if o.role != out[0].role {
				return nil, fmt.Errorf("offers %q and %q are allocated to different roles", out[0].id, v)
			}
		}
		out = append(out, o)
	}
	if a := m.agents[out[0].agentID]; a == nil || a.stream == nil {
		return nil, fmt.Errorf("agent %q of the offers is not connected", out[0].agentID)
	}
	return out, nil
}

// validateTask checks one task of a LAUNCH against the framework, the agent
// and the resources still available in the ACCEPT. It returns the
// resources the task consumes (task plus a new executor) and, when the task
// starts a new executor, that executor.
func (m *Master) validateTask(f *framework, a *agent, role string, t *mesos.TaskInfo,
	remaining resources.Resources, launched map[string]*mesos.ExecutorInfo) (resources.Resources, *executor, error) {
	var none resources.Resources
	id := t.GetTaskId().GetValue()
	if err := validateID("task id", id); err != nil {
		return none, nil, err
	}
	if _, dup := f.tasks[id]; dup {
		return none, nil, wireErrorf("Task has duplicate ID: %s", id)
	}
	if t.GetAgentId().GetValue() != a.id {
		return none, nil, wireErrorf("Task uses invalid agent: %s (the offers are from agent %s)", t.GetAgentId().GetValue(), a.id)
	}
	if (t.Executor == nil) == (t.Command == nil) {
		return none, nil, wireErrorf("Task should have at least one (but not both) of CommandInfo or ExecutorInfo present")
	}
	if err := checkAllocationRole(t.GetResources(), role); err != nil {
		return none, nil, err
	}
	taskRes, err := resources.FromProto(t.GetResources())
	if err != nil {
		return none, nil, wireErrorf("Task uses invalid resources: %v", err)
	}
	if taskRes.IsEmpty() {
		return none, nil, wireErrorf("Task uses no resources")
	}
	if kp := t.GetKillPolicy(); kp != nil && kp.GetGracePeriod().GetNanoseconds() < 0 {
		return none, nil, wireErrorf("Task's 'kill_policy.grace_period' must be non-negative")
	}
	if t.GetMaxCompletionTime().GetNanoseconds() < 0 {
		return none, nil, wireErrorf("Task's 'max_completion_time' must be non-negative")
	}
	need := taskRes
	var execNew *executor
	if e := t.GetExecutor(); e != nil {
		eid := e.GetExecutorId().GetValue()
		if err := validateID("executor id", eid); err != nil {
			return none, nil, err
		}
		if e.GetType() == mesos.ExecutorInfo_DEFAULT {
			return none, nil, wireErrorf("'ExecutorInfo.type' must be 'CUSTOM' for a LAUNCH operation")
		}
		if e.Command == nil {
			return none, nil, wireErrorf("Executor must have a 'command'")
		}
		if e.FrameworkId != nil && e.GetFrameworkId().GetValue() != f.id {
			return none, nil, wireErrorf("ExecutorInfo has an invalid FrameworkID (%s, expected %s)", e.GetFrameworkId().GetValue(), f.id)
		}
		info := proto.Clone(e).(*mesos.ExecutorInfo)
		info.FrameworkId = frameworkIDProto(f.id)
		reused, execRes, err := reuseOrAdmitExecutor(f, a, role, info, launched)
		if err != nil {
			return none, nil, err
		}
		if !reused {
			need = need.Add(execRes)
			execNew = &executor{info: info, resources: execRes, role: role}
		}
	}
	if !remaining.Contains(need) {
		return none, nil, wireErrorf("Task uses more resources %s than available %s", need, remaining)
	}
	return need, execNew, nil
}

// reuseOrAdmitExecutor checks the executor a LAUNCH or LAUNCH_GROUP names:
// if it runs on the agent already, or an earlier operation of the same
// ACCEPT starts it, the ExecutorInfo must be the same (reused is true and
// it costs nothing more); otherwise its resources must be valid and
// allocated to the offers' role, and they are returned.
func reuseOrAdmitExecutor(f *framework, a *agent, role string, info *mesos.ExecutorInfo,
	launched map[string]*mesos.ExecutorInfo) (reused bool, res resources.Resources, err error) {
	eid := info.GetExecutorId().GetValue()
	existing := launched[eid]
	if ex := a.executors[f.id][eid]; ex != nil {
		existing = ex.info
	}
	if existing != nil {
		if !sameExecutor(existing, info) {
			return true, res, wireErrorf("ExecutorInfo is not compatible with the ExecutorInfo of the running executor %s", eid)
		}
		return true, res, nil
	}
	if err := checkAllocationRole(info.GetResources(), role); err != nil {
		return false, res, err
	}
	res, err = resources.FromProto(info.GetResources())
	if err != nil {
		return false, res, wireErrorf("Executor '%s' uses invalid resources: %v", eid, err)
	}
	return false, res, nil
}

// checkAllocationRole rejects resources allocated to another role than the
// offers'. Resources without allocation_info get the offers' role, as
// Mesos injects it.
func checkAllocationRole(list []*mesos.Resource, role string) error {
	for _, r := range list {
		if ai := r.GetAllocationInfo(); ai != nil && ai.GetRole() != role {
			return wireErrorf("Resource %q is allocated to role %q, not the offers' role %q", r.GetName(), ai.GetRole(), role)
		}
	}
	return nil
}

// sameExecutor compares executor infos the way Mesos does when a task
// names a running executor: they must be identical, except that the
// framework id is filled in by the master.
func sameExecutor(a, b *mesos.ExecutorInfo) bool {
	a = proto.Clone(a).(*mesos.ExecutorInfo)
	b = proto.Clone(b).(*mesos.ExecutorInfo)
	a.FrameworkId, b.FrameworkId = nil, nil
	stripAllocation(a.Resources)
	stripAllocation(b.Resources)
	return proto.Equal(a, b)
}

func stripAllocation(list []*mesos.Resource) {
	for _, r := range list {
		r.AllocationInfo = nil
	}
}

// launchTask records a validated task as STAGING and sends it to its agent.
func (m *Master) launchTask(f *framework, a *agent, role string, ti *mesos.TaskInfo, execNew *executor) {
	ti = proto.Clone(ti).(*mesos.TaskInfo)
	res, _ := resources.FromProto(ti.GetResources())
	t := &task{
		frameworkID: f.id,
		agentID:     a.id,
		info:        ti,
		role:        role,
		resources:   res,
		state:       mesos.TaskState_TASK_STAGING,
		launched:    time.Now(),
	}
	if e := ti.GetExecutor(); e != nil {
		e.FrameworkId = frameworkIDProto(f.id)
		t.executorID = e.GetExecutorId().GetValue()
	}
	f.tasks[t.id()] = t
	if a.tasks[f.id] == nil {
		a.tasks[f.id] = make(map[string]*task)
	}
	a.tasks[f.id][t.id()] = t
	run := &agentpb.Event_RunTask{FrameworkInfo: f.info, Task: ti}
	if execNew != nil {
		eid := execNew.info.GetExecutorId().GetValue()
		if a.executors[f.id] == nil {
			a.executors[f.id] = make(map[string]*executor)
		}
		a.executors[f.id][eid] = execNew
		if f.executors[a.id] == nil {
			f.executors[a.id] = make(map[string]*mesos.ExecutorInfo)
		}
		f.executors[a.id][eid] = execNew.info
		run.ExecutorInfo = execNew.info
	} else if ti.Executor != nil {
		run.ExecutorInfo = ti.Executor
	}
	m.log.Debug("launching task", "framework", f.id, "task", t.id(), "agent", a.id)
	m.opTaskAdded(f, t)
	m.sendToAgent(a, &agentpb.Event{Type: agentpb.Event_RUN_TASK.Enum(), RunTask: run})
}

// sendMasterUpdate sends a status update generated by the master: it has
// no uuid and must not be acknowledged.
func (m *Master) sendMasterUpdate(f *framework, taskID *mesos.TaskID, agentID *mesos.AgentID,
	state mesos.TaskState, reason mesos.TaskStatus_Reason, msg string) {
	st := &mesos.TaskStatus{
		TaskId:    taskID,
		State:     state.Enum(),
		Source:    mesos.TaskStatus_SOURCE_MASTER.Enum(),
		Reason:    reason.Enum(),
		Message:   proto.String(msg),
		AgentId:   agentID,
		Timestamp: proto.Float64(float64(time.Now().UnixNano()) / 1e9),
	}
	if mesos.IsTerminal(state) {
		m.metrics.tasksByState[state]++
	}
	m.sendToFramework(f, &schedpb.Event{
		Type:   schedpb.Event_UPDATE.Enum(),
		Update: &schedpb.Event_Update{Status: st},
	})
}
