package scheduler_test

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	schedpb "github.com/agora-dev/agora/api/mesos/v1/scheduler"
	"github.com/agora-dev/agora/sdk/scheduler"
	"github.com/agora-dev/agora/sdk/scheduler/schedtest"
)

// hello launches one "echo hello" task on the first offer that fits and
// stops when the task ends.
type hello struct {
	scheduler.NopScheduler // the callbacks not implemented below do nothing
	launched               bool
}

func (h *hello) Registered(d *scheduler.Driver, id *mesos.FrameworkID, _ *mesos.MasterInfo) {
	fmt.Println("registered as", id.GetValue())
}

func (h *hello) ResourceOffers(d *scheduler.Driver, offers []*mesos.Offer) {
	for _, offer := range offers {
		fmt.Printf("offer %s: %s\n", offer.GetId().GetValue(), scheduler.Describe(offer.GetResources()))
		res, ok := scheduler.NewPacker(offer).Reserve(scheduler.Resources{Cpus: 0.1, Mem: 32})
		if h.launched || !ok {
			_ = d.DeclineOffer(offer.GetId(), scheduler.RefuseSeconds(60))
			continue
		}
		task := &mesos.TaskInfo{
			Name:      proto.String("hello"),
			TaskId:    &mesos.TaskID{Value: proto.String("hello-1")},
			AgentId:   offer.GetAgentId(),
			Resources: res,
			Command:   &mesos.CommandInfo{Value: proto.String("echo hello")},
		}
		if err := d.LaunchTasks([]*mesos.OfferID{offer.GetId()}, []*mesos.TaskInfo{task}, nil); err != nil {
			fmt.Println("launch:", err)
			continue
		}
		h.launched = true
	}
}

func (h *hello) StatusUpdate(d *scheduler.Driver, status *mesos.TaskStatus) {
	fmt.Println(status.GetTaskId().GetValue(), status.GetState())
	if status.GetState() == mesos.TaskState_TASK_FINISHED {
		_ = d.Stop(false) // TEARDOWN: the framework is done
	}
}

func Example() {
	// A fake master stands in for a real one; it answers the launch
	// with the updates an agent would send.
	master := schedtest.Start()
	defer master.Close()
	master.OnCall(func(c *schedpb.Call) {
		if c.GetType() == schedpb.Call_ACCEPT {
			master.SendUpdate(schedtest.Status("hello-1", "agent-1", mesos.TaskState_TASK_RUNNING, ""))
			master.SendUpdate(schedtest.Status("hello-1", "agent-1", mesos.TaskState_TASK_FINISHED, "Command exited with status 0"))
		}
	})

	driver, err := scheduler.NewDriver(scheduler.Config{
		Master: master.Addr(), // e.g. "127.0.0.1:5050"
		Framework: &mesos.FrameworkInfo{
			User: proto.String("nobody"),
			Name: proto.String("hello"),
		},
	}, &hello{})
	if err != nil {
		fmt.Println(err)
		return
	}
	go func() {
		// In real life the master sends offers by itself.
		master.Await(driver.Connected)
		master.SendOffers(schedtest.Offer("offer-1", "agent-1", "host1", "",
			scheduler.Scalar("cpus", 2), scheduler.Scalar("mem", 1024)))
	}()
	if err := driver.Run(context.Background()); err != nil {
		fmt.Println("run:", err)
	}
	// Output:
	// registered as fake-master-0000
	// offer offer-1: cpus:2;mem:1024
	// hello-1 TASK_RUNNING
	// hello-1 TASK_FINISHED
}
