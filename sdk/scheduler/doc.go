// Package scheduler is Agora's framework SDK: the classic Mesos
// driver-and-callbacks model (a Scheduler receives ResourceOffers,
// StatusUpdate, FrameworkMessage, …; a Driver offers LaunchTasks,
// KillTask, ReviveOffers, …) over the Mesos v1 HTTP scheduler API
// (POST /api/v1/scheduler). It works against Agora and against Apache
// Mesos, in protobuf or JSON.
//
// A framework implements Scheduler (embedding NopScheduler for the
// callbacks it does not care about), builds a Driver with NewDriver and
// calls Run, which subscribes, dispatches events to the callbacks one at a
// time on Run's goroutine, and returns when the framework is stopped,
// aborted, refused by the master or its context ends.
//
// The driver follows the leading master on 307 redirects, resubscribes with
// exponential backoff when the event stream breaks or heartbeats stop, keeps
// the framework id across resubscriptions when the framework has a
// failover_timeout, and acknowledges status updates after StatusUpdate
// returns unless Config.AutoAcknowledge is false.
//
// Every callback and every Driver method may be used from any goroutine;
// Driver methods may be called from inside callbacks.
//
// The resource helpers (Scalar, Ranges, ScalarSum, Resources, Packer,
// FitTasks) take the tedium out of reading offers and of packing several
// tasks into one offer.
package scheduler
