package scheduler

import (
	"errors"

	"google.golang.org/protobuf/proto"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	schedpb "github.com/agora-dev/agora/api/mesos/v1/scheduler"
)

// The calls below are synchronous: each returns when the master has
// answered (202 Accepted) or the call has failed. Their effects are
// reported later as events (status updates, new offers). All return
// ErrNotSubscribed while the driver has no subscription; a call answered
// 307 or 403 makes the driver resubscribe and returns a *CallError.

// LaunchTasks launches tasks on the given offers (all on one agent) with an
// ACCEPT holding one LAUNCH operation; whatever the tasks do not use is
// declined with filters (nil means the master's default of 5 seconds).
// Launching no tasks declines the offers.
func (d *Driver) LaunchTasks(offerIDs []*mesos.OfferID, tasks []*mesos.TaskInfo, filters *mesos.Filters) error {
	op := &mesos.Offer_Operation{
		Type:   mesos.Offer_Operation_LAUNCH.Enum(),
		Launch: &mesos.Offer_Operation_Launch{TaskInfos: tasks},
	}
	return d.AcceptOffers(offerIDs, []*mesos.Offer_Operation{op}, filters)
}

// AcceptOffers applies operations (LAUNCH, LAUNCH_GROUP, RESERVE, CREATE, …)
// to the given offers, in order, and declines the rest with filters.
func (d *Driver) AcceptOffers(offerIDs []*mesos.OfferID, operations []*mesos.Offer_Operation, filters *mesos.Filters) error {
	if len(offerIDs) == 0 {
		return errors.New("scheduler: accept needs at least one offer id")
	}
	return d.send(&schedpb.Call{
		Type: schedpb.Call_ACCEPT.Enum(),
		Accept: &schedpb.Call_Accept{
			OfferIds:   offerIDs,
			Operations: operations,
			Filters:    filters,
		},
	})
}

// DeclineOffer returns an offer's resources; filters (nil = 5 seconds)
// says how long the master should not offer them again.
func (d *Driver) DeclineOffer(offerID *mesos.OfferID, filters *mesos.Filters) error {
	return d.DeclineOffers([]*mesos.OfferID{offerID}, filters)
}

// DeclineOffers declines several offers in one call.
func (d *Driver) DeclineOffers(offerIDs []*mesos.OfferID, filters *mesos.Filters) error {
	if len(offerIDs) == 0 {
		return nil
	}
	return d.send(&schedpb.Call{
		Type:    schedpb.Call_DECLINE.Enum(),
		Decline: &schedpb.Call_Decline{OfferIds: offerIDs, Filters: filters},
	})
}

// KillTask asks the master to kill a task; agentID may be nil. The outcome
// arrives as a status update (TASK_KILLED, or the reconciled state of an
// unknown task).
func (d *Driver) KillTask(taskID *mesos.TaskID, agentID *mesos.AgentID) error {
	return d.send(&schedpb.Call{
		Type: schedpb.Call_KILL.Enum(),
		Kill: &schedpb.Call_Kill{TaskId: taskID, AgentId: agentID},
	})
}

// ReviveOffers clears the framework's offer filters and ends suppression
// for the given roles (none = all of the framework's roles).
func (d *Driver) ReviveOffers(roles ...string) error {
	return d.send(&schedpb.Call{
		Type:   schedpb.Call_REVIVE.Enum(),
		Revive: &schedpb.Call_Revive{Roles: roles},
	})
}

// SuppressOffers stops offers for the given roles (none = all) until
// ReviveOffers.
func (d *Driver) SuppressOffers(roles ...string) error {
	return d.send(&schedpb.Call{
		Type:     schedpb.Call_SUPPRESS.Enum(),
		Suppress: &schedpb.Call_Suppress{Roles: roles},
	})
}

// AcknowledgeStatusUpdate acknowledges a status update, letting the agent
// forward the task's next one. Only updates with a uuid are acknowledged
// (master-generated ones have none). The driver does this itself unless
// Config.ManualAcknowledge is set.
func (d *Driver) AcknowledgeStatusUpdate(status *mesos.TaskStatus) error {
	if len(status.GetUuid()) == 0 {
		return errors.New("scheduler: status update has no uuid; only agent updates are acknowledged")
	}
	if status.GetAgentId() == nil {
		return errors.New("scheduler: status update has no agent id")
	}
	return d.send(&schedpb.Call{
		Type: schedpb.Call_ACKNOWLEDGE.Enum(),
		Acknowledge: &schedpb.Call_Acknowledge{
			AgentId: status.GetAgentId(),
			TaskId:  status.GetTaskId(),
			Uuid:    status.GetUuid(),
		},
	})
}

// ReconcileTasks asks for the latest state of the given tasks (task_id and,
// if known, agent_id are used); with none, of every task the master knows
// for the framework (implicit reconciliation). Answers arrive as status
// updates without uuid.
func (d *Driver) ReconcileTasks(statuses []*mesos.TaskStatus) error {
	tasks := make([]*schedpb.Call_Reconcile_Task, 0, len(statuses))
	for _, st := range statuses {
		tasks = append(tasks, &schedpb.Call_Reconcile_Task{TaskId: st.GetTaskId(), AgentId: st.GetAgentId()})
	}
	return d.send(&schedpb.Call{
		Type:      schedpb.Call_RECONCILE.Enum(),
		Reconcile: &schedpb.Call_Reconcile{Tasks: tasks},
	})
}

// SendFrameworkMessage sends data to an executor, best effort.
func (d *Driver) SendFrameworkMessage(executorID *mesos.ExecutorID, agentID *mesos.AgentID, data []byte) error {
	if data == nil {
		data = []byte{}
	}
	return d.send(&schedpb.Call{
		Type:    schedpb.Call_MESSAGE.Enum(),
		Message: &schedpb.Call_Message{AgentId: agentID, ExecutorId: executorID, Data: data},
	})
}

// Shutdown asks an executor to shut down; its remaining tasks are lost.
func (d *Driver) Shutdown(executorID *mesos.ExecutorID, agentID *mesos.AgentID) error {
	return d.send(&schedpb.Call{
		Type:     schedpb.Call_SHUTDOWN.Enum(),
		Shutdown: &schedpb.Call_Shutdown{ExecutorId: executorID, AgentId: agentID},
	})
}

// RefuseSeconds returns Filters that keep declined resources away for the
// given number of seconds.
func RefuseSeconds(seconds float64) *mesos.Filters {
	return &mesos.Filters{RefuseSeconds: proto.Float64(seconds)}
}
