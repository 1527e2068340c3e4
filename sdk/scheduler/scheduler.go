package scheduler

import (
	mesos "github.com/agora-dev/agora/api/mesos/v1"
)

// Scheduler is what a framework implements to receive the master's events.
// The driver calls one method at a time, on the goroutine that runs
// Driver.Run, in the order the master sent the events; a callback that
// blocks delays every later event.
type Scheduler interface {
	// Registered is called when the framework first subscribes, and again
	// whenever the master assigns it a new framework id (a framework
	// without failover_timeout that had to resubscribe).
	Registered(d *Driver, frameworkID *mesos.FrameworkID, master *mesos.MasterInfo)
	// Reregistered is called when a resubscription kept the framework id.
	Reregistered(d *Driver, master *mesos.MasterInfo)
	// Disconnected is called when an established subscription is lost;
	// the driver is about to resubscribe.
	Disconnected(d *Driver)
	// ResourceOffers delivers offers. Each offer must eventually be
	// accepted (LaunchTasks, AcceptOffers) or declined (DeclineOffer).
	ResourceOffers(d *Driver, offers []*mesos.Offer)
	// OfferRescinded says an offer is no longer valid.
	OfferRescinded(d *Driver, offerID *mesos.OfferID)
	// StatusUpdate delivers a task's new status. With AutoAcknowledge the
	// driver acknowledges it after the callback returns.
	StatusUpdate(d *Driver, status *mesos.TaskStatus)
	// FrameworkMessage delivers a message an executor sent.
	FrameworkMessage(d *Driver, agentID *mesos.AgentID, executorID *mesos.ExecutorID, data []byte)
	// AgentLost says an agent was removed (the classic slaveLost).
	AgentLost(d *Driver, agentID *mesos.AgentID)
	// ExecutorLost says an executor exited with the given status.
	ExecutorLost(d *Driver, executorID *mesos.ExecutorID, agentID *mesos.AgentID, status int)
	// Error reports an ERROR event from the master. It is fatal: the
	// driver stops and Run returns an error after the callback.
	Error(d *Driver, message string)
}

// NopScheduler implements every Scheduler method by doing nothing. Embed it
// to implement only the callbacks a framework needs.
type NopScheduler struct{}

var _ Scheduler = NopScheduler{}

// Registered does nothing.
func (NopScheduler) Registered(*Driver, *mesos.FrameworkID, *mesos.MasterInfo) {}

// Reregistered does nothing.
func (NopScheduler) Reregistered(*Driver, *mesos.MasterInfo) {}

// Disconnected does nothing.
func (NopScheduler) Disconnected(*Driver) {}

// ResourceOffers does nothing; offers left alone stay allocated to the
// framework until they are rescinded.
func (NopScheduler) ResourceOffers(*Driver, []*mesos.Offer) {}

// OfferRescinded does nothing.
func (NopScheduler) OfferRescinded(*Driver, *mesos.OfferID) {}

// StatusUpdate does nothing.
func (NopScheduler) StatusUpdate(*Driver, *mesos.TaskStatus) {}

// FrameworkMessage does nothing.
func (NopScheduler) FrameworkMessage(*Driver, *mesos.AgentID, *mesos.ExecutorID, []byte) {}

// AgentLost does nothing.
func (NopScheduler) AgentLost(*Driver, *mesos.AgentID) {}

// ExecutorLost does nothing.
func (NopScheduler) ExecutorLost(*Driver, *mesos.ExecutorID, *mesos.AgentID, int) {}

// Error does nothing.
func (NopScheduler) Error(*Driver, string) {}
