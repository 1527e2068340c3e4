package executor_test

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	executorpb "github.com/agora-dev/agora/api/mesos/v1/executor"
	"github.com/agora-dev/agora/sdk/executor"
	"github.com/agora-dev/agora/sdk/executor/executortest"
)

// echoExecutor "runs" each task by reporting it running and then
// finished, with the task's data as the message.
type echoExecutor struct {
	executor.NopExecutor
}

func (echoExecutor) LaunchTask(d *executor.Driver, task *mesos.TaskInfo) {
	for _, state := range []mesos.TaskState{mesos.TaskState_TASK_RUNNING, mesos.TaskState_TASK_FINISHED} {
		err := d.SendStatusUpdate(&mesos.TaskStatus{
			TaskId:  task.GetTaskId(),
			State:   state.Enum(),
			Message: proto.String(string(task.GetData())),
		})
		if err != nil {
			fmt.Println(err)
		}
	}
}

func Example() {
	// A fake agent stands in for the real one here; an executor started by
	// an agent uses executor.ConfigFromEnv(os.Getenv).
	agent := executortest.Start()
	defer agent.Close()
	agent.SetAutoAck(true)
	agent.OnSubscribe(func(call *executorpb.Call) []*executorpb.Event {
		task := executortest.Task("task-1", "")
		task.Data = []byte("hello")
		return []*executorpb.Event{executortest.Subscribed(call), executortest.Launch(task)}
	})

	env := agent.Env("/tmp")
	cfg, err := executor.ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		fmt.Println(err)
		return
	}
	d := executor.NewDriver(cfg, echoExecutor{})
	done := make(chan error)
	go func() { done <- d.Run(context.Background()) }()

	// Once the task has finished and the agent acknowledged every update,
	// the agent shuts the executor down.
	for {
		changed := agent.Changed()
		if len(agent.Updates()) == 2 {
			break
		}
		<-changed
	}
	_ = d.WaitAcknowledged(context.Background())
	_ = agent.Send(executortest.Shutdown())
	fmt.Println("Run:", <-done)
	for _, st := range agent.Updates() {
		fmt.Println(st.GetTaskId().GetValue(), st.GetState(), st.GetMessage())
	}
	// Output:
	// Run: <nil>
	// task-1 TASK_RUNNING hello
	// task-1 TASK_FINISHED hello
}
