// Package executor is the Go SDK for writing Mesos executors against the
// v1 executor HTTP API of an Agora or Apache Mesos agent, in the
// driver-and-callbacks shape of the classic Mesos executor driver.
//
// An executor implements Executor (embedding NopExecutor for the callbacks
// it does not need), builds a Driver from the environment the agent gave
// it, and runs it:
//
//	cfg, err := executor.ConfigFromEnv(os.Getenv)
//	if err != nil {
//		log.Fatal(err)
//	}
//	d := executor.NewDriver(cfg, &myExecutor{})
//	if err := d.Run(ctx); err != nil {
//		log.Fatal(err)
//	}
//
// Run subscribes to the agent (POST /api/v1/executor, SUBSCRIBE), reads
// the RecordIO event stream and calls the Executor; the Executor answers
// through Driver.SendStatusUpdate and Driver.SendFrameworkMessage. Updates
// stay on the driver's unacknowledged list until the agent acknowledges
// them, and are resent when a checkpointing executor resubscribes after
// losing its agent.
//
// The package uses only the standard library and Agora's api packages.
package executor
