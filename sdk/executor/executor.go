package executor

import (
	mesos "github.com/agora-dev/agora/api/mesos/v1"
)

// Executor is the set of callbacks a Driver calls as events arrive from
// the agent; the shape of the classic Mesos executor driver. Callbacks run
// on the driver's event loop, one at a time and in event order, except
// LaunchTask and LaunchTaskGroup, which each run in a goroutine of their
// own so that a task that takes long to start never holds up the events
// after it (a KillTask for that task may therefore run before or while its
// LaunchTask does). Shutdown also runs apart from the loop, so that
// acknowledgements keep arriving while the executor winds down.
//
// Embed NopExecutor to implement only the callbacks an executor needs.
type Executor interface {
	// Registered is called on the first SUBSCRIBED event.
	Registered(d *Driver, executor *mesos.ExecutorInfo, framework *mesos.FrameworkInfo, agent *mesos.AgentInfo)
	// Reregistered is called on each later SUBSCRIBED event, after the
	// driver resubscribed to a restarted agent.
	Reregistered(d *Driver, agent *mesos.AgentInfo)
	// Disconnected is called when the event stream from the agent breaks.
	Disconnected(d *Driver)
	// LaunchTask is called for each LAUNCH event.
	LaunchTask(d *Driver, task *mesos.TaskInfo)
	// KillTask is called for each KILL event; policy may be nil.
	KillTask(d *Driver, id *mesos.TaskID, policy *mesos.KillPolicy)
	// FrameworkMessage is called for each MESSAGE event.
	FrameworkMessage(d *Driver, data []byte)
	// Shutdown is called on SHUTDOWN: the executor should kill its tasks,
	// send their terminal updates and return. Run returns nil after it.
	Shutdown(d *Driver)
	// Error is called for each ERROR event.
	Error(d *Driver, message string)
}

// TaskGroupLauncher is implemented by executors that run task groups.
// When an Executor does not implement it, the driver answers each task of
// a LAUNCH_GROUP with TASK_ERROR.
type TaskGroupLauncher interface {
	LaunchTaskGroup(d *Driver, group *mesos.TaskGroupInfo)
}

// NopExecutor implements every Executor callback by doing nothing. Embed
// it in an executor to write only the callbacks it needs.
type NopExecutor struct{}

var _ Executor = NopExecutor{}

func (NopExecutor) Registered(*Driver, *mesos.ExecutorInfo, *mesos.FrameworkInfo, *mesos.AgentInfo) {
}
func (NopExecutor) Reregistered(*Driver, *mesos.AgentInfo)             {}
func (NopExecutor) Disconnected(*Driver)                               {}
func (NopExecutor) LaunchTask(*Driver, *mesos.TaskInfo)                {}
func (NopExecutor) KillTask(*Driver, *mesos.TaskID, *mesos.KillPolicy) {}
func (NopExecutor) FrameworkMessage(*Driver, []byte)                   {}
func (NopExecutor) Shutdown(*Driver)                                   {}
func (NopExecutor) Error(*Driver, string)                              {}
