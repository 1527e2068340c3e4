package executor_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	executorpb "github.com/agora-dev/agora/api/mesos/v1/executor"
	"github.com/agora-dev/agora/sdk/executor"
	"github.com/agora-dev/agora/sdk/executor/executortest"
)

const timeout = 10 * time.Second

// recorder is an Executor that reports each callback on a channel.
type recorder struct {
	calls   chan string
	release chan struct{} // LaunchTask of "slow" waits on it
}

func newRecorder() *recorder {
	return &recorder{calls: make(chan string, 100), release: make(chan struct{})}
}

func (r *recorder) Registered(d *executor.Driver, e *mesos.ExecutorInfo, f *mesos.FrameworkInfo, a *mesos.AgentInfo) {
	r.calls <- fmt.Sprintf("registered %s %s %s", e.GetExecutorId().GetValue(), f.GetId().GetValue(), a.GetId().GetValue())
}
func (r *recorder) Reregistered(d *executor.Driver, a *mesos.AgentInfo) {
	r.calls <- "reregistered " + a.GetId().GetValue()
}
func (r *recorder) Disconnected(*executor.Driver) { r.calls <- "disconnected" }
func (r *recorder) LaunchTask(d *executor.Driver, t *mesos.TaskInfo) {
	if t.GetTaskId().GetValue() == "slow" {
		<-r.release
	}
	r.calls <- "launch " + t.GetTaskId().GetValue()
}
func (r *recorder) KillTask(d *executor.Driver, id *mesos.TaskID, p *mesos.KillPolicy) {
	r.calls <- fmt.Sprintf("kill %s %d", id.GetValue(), p.GetGracePeriod().GetNanoseconds())
}
func (r *recorder) FrameworkMessage(d *executor.Driver, data []byte) {
	r.calls <- "message " + string(data)
}
func (r *recorder) Shutdown(*executor.Driver)          { r.calls <- "shutdown" }
func (r *recorder) Error(_ *executor.Driver, m string) { r.calls <- "error " + m }

func (r *recorder) expect(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-r.calls:
		if got != want {
			t.Fatalf("callback %q, want %q", got, want)
		}
	case <-time.After(timeout):
		t.Fatalf("no callback, want %q", want)
	}
}

func (r *recorder) expectSet(t *testing.T, want ...string) {
	t.Helper()
	left := map[string]bool{}
	for _, w := range want {
		left[w] = true
	}
	for range want {
		select {
		case got := <-r.calls:
			if !left[got] {
				t.Fatalf("callback %q, want one of %v", got, left)
			}
			delete(left, got)
		case <-time.After(timeout):
			t.Fatalf("no callback, want one of %v", left)
		}
	}
}

type setup struct {
	agent  *executortest.Agent
	rec    *recorder
	driver *executor.Driver
	done   chan error
	cancel context.CancelFunc
}

var codecs = []codec.Codec{codec.Protobuf, codec.JSON}

// run starts a driver against a fake agent that sends SUBSCRIBED first.
func run(t *testing.T, c codec.Codec, checkpoint bool) *setup {
	t.Helper()
	s := &setup{agent: executortest.NewAgent(t), rec: newRecorder(), done: make(chan error, 1)}
	s.agent.OnSubscribe(func(call *executorpb.Call) []*executorpb.Event {
		return []*executorpb.Event{executortest.Subscribed(call)}
	})
	env := s.agent.Env(t.TempDir())
	if checkpoint {
		env["MESOS_CHECKPOINT"] = "1"
		env["MESOS_SUBSCRIPTION_BACKOFF_MAX"] = "50ms"
		env["MESOS_RECOVERY_TIMEOUT"] = "10secs"
	}
	cfg, err := executor.ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Codec = c
	s.driver = executor.NewDriver(cfg, s.rec)
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() { s.done <- s.driver.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	s.agent.WaitCall(t, timeout, 1, executortest.IsType(executorpb.Call_SUBSCRIBE))
	s.rec.expect(t, "registered executor-1 framework-1 agent-1")
	return s
}

func (s *setup) send(t *testing.T, ev *executorpb.Event) {
	t.Helper()
	if err := s.agent.Send(ev); err != nil {
		t.Fatal(err)
	}
}

func (s *setup) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-s.done:
		s.done <- err
		return err
	case <-time.After(timeout):
		t.Fatal("Run did not return")
		return nil
	}
}

func forEachCodec(t *testing.T, f func(t *testing.T, c codec.Codec)) {
	for _, c := range codecs {
		t.Run(c.MediaType(), func(t *testing.T) { f(t, c) })
	}
}

func TestSubscribeLaunchUpdateAck(t *testing.T) {
	forEachCodec(t, func(t *testing.T, c codec.Codec) {
		s := run(t, c, false)
		if got := s.agent.MediaTypes()[0]; got != c.MediaType() {
			t.Errorf("SUBSCRIBE Content-Type = %q, want %q", got, c.MediaType())
		}
		if got := s.driver.ContainerID().GetValue(); got != "container-1" {
			t.Errorf("ContainerID = %q", got)
		}

		// A slow LaunchTask does not hold up the events after it.
		s.send(t, executortest.Launch(executortest.Task("slow", "x")))
		s.send(t, executortest.Launch(executortest.Task("t1", "x")))
		s.rec.expect(t, "launch t1")
		close(s.rec.release)
		s.rec.expect(t, "launch slow")
		if n := len(s.driver.UnacknowledgedTasks()); n != 2 {
			t.Errorf("%d unacknowledged tasks, want 2", n)
		}

		before := time.Now()
		err := s.driver.SendStatusUpdate(&mesos.TaskStatus{
			TaskId: &mesos.TaskID{Value: proto.String("t1")},
			State:  mesos.TaskState_TASK_RUNNING.Enum(),
		})
		if err != nil {
			t.Fatal(err)
		}
		st := s.agent.WaitUpdate(t, timeout, 1, mesos.TaskState_TASK_RUNNING)
		if u := st.GetUuid(); len(u) != 16 || u[6]>>4 != 4 || u[8]&0xc0 != 0x80 {
			t.Errorf("uuid %x is not a version 4 UUID", u)
		}
		if st.GetSource() != mesos.TaskStatus_SOURCE_EXECUTOR || st.GetExecutorId().GetValue() != "executor-1" {
			t.Errorf("update source %v executor %q", st.GetSource(), st.GetExecutorId().GetValue())
		}
		if ts := st.GetTimestamp(); ts < float64(before.Unix()) || ts > float64(time.Now().Unix()+1) {
			t.Errorf("timestamp %v", ts)
		}
		if got := s.agent.MediaTypes()[1]; got != c.MediaType() {
			t.Errorf("UPDATE Content-Type = %q", got)
		}
		un := s.driver.UnacknowledgedUpdates()
		if len(un) != 1 || !bytes.Equal(un[0].GetUuid(), st.GetUuid()) {
			t.Fatalf("unacknowledged updates = %v", un)
		}

		// An acknowledgement of another uuid changes nothing.
		s.send(t, ack("t1", executor.NewUUID()))
		s.send(t, ack("t1", st.GetUuid()))
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := s.driver.WaitAcknowledged(ctx); err != nil {
			t.Fatal(err)
		}
		tasks := s.driver.UnacknowledgedTasks()
		if len(tasks) != 1 || tasks[0].GetTaskId().GetValue() != "slow" {
			t.Errorf("unacknowledged tasks = %v, want only slow", tasks)
		}
	})
}

func ack(task string, uuid []byte) *executorpb.Event {
	return &executorpb.Event{
		Type: executorpb.Event_ACKNOWLEDGED.Enum(),
		Acknowledged: &executorpb.Event_Acknowledged{
			TaskId: &mesos.TaskID{Value: proto.String(task)},
			Uuid:   uuid,
		},
	}
}

func TestOtherEvents(t *testing.T) {
	forEachCodec(t, func(t *testing.T, c codec.Codec) {
		s := run(t, c, false)
		s.send(t, &executorpb.Event{Type: executorpb.Event_Type(99).Enum()})
		s.send(t, &executorpb.Event{Type: executorpb.Event_HEARTBEAT.Enum()})
		s.send(t, &executorpb.Event{Type: executorpb.Event_LAUNCH.Enum()}) // no task: ignored
		s.send(t, executortest.Kill("t1", 2*time.Second))
		s.rec.expect(t, "kill t1 2000000000")
		s.send(t, &executorpb.Event{
			Type:    executorpb.Event_MESSAGE.Enum(),
			Message: &executorpb.Event_Message{Data: []byte("hi")},
		})
		s.rec.expect(t, "message hi")
		s.send(t, &executorpb.Event{
			Type:  executorpb.Event_ERROR.Enum(),
			Error: &executorpb.Event_Error{Message: proto.String("bad")},
		})
		s.rec.expect(t, "error bad")

		if err := s.driver.SendFrameworkMessage([]byte("to scheduler")); err != nil {
			t.Fatal(err)
		}
		m := s.agent.WaitCall(t, timeout, 1, executortest.IsType(executorpb.Call_MESSAGE))
		if string(m.GetMessage().GetData()) != "to scheduler" {
			t.Errorf("MESSAGE data = %q", m.GetMessage().GetData())
		}

		// Without a TaskGroupLauncher, a task group is refused.
		s.send(t, &executorpb.Event{
			Type: executorpb.Event_LAUNCH_GROUP.Enum(),
			LaunchGroup: &executorpb.Event_LaunchGroup{TaskGroup: &mesos.TaskGroupInfo{
				Tasks: []*mesos.TaskInfo{executortest.Task("g1", "x")},
			}},
		})
		st := s.agent.WaitUpdate(t, timeout, 1, mesos.TaskState_TASK_ERROR)
		if st.GetTaskId().GetValue() != "g1" {
			t.Errorf("TASK_ERROR for %q", st.GetTaskId().GetValue())
		}

		s.send(t, executortest.Shutdown())
		s.rec.expect(t, "shutdown")
		if err := s.wait(t); err != nil {
			t.Errorf("Run after SHUTDOWN = %v, want nil", err)
		}
	})
}

func TestSendStatusUpdateValidation(t *testing.T) {
	d := executor.NewDriver(executor.Config{ExecutorID: "e", FrameworkID: "f", AgentURL: "http://127.0.0.1:1/api/v1/executor"}, executor.NopExecutor{})
	id := &mesos.TaskID{Value: proto.String("t")}
	for _, st := range []*mesos.TaskStatus{
		{State: mesos.TaskState_TASK_RUNNING.Enum()},
		{TaskId: id},
		{TaskId: id, State: mesos.TaskState_TASK_STAGING.Enum()},
		{TaskId: id, State: mesos.TaskState_TASK_RUNNING.Enum(), Uuid: []byte("short")},
		{TaskId: id, State: mesos.TaskState_TASK_RUNNING.Enum(), ExecutorId: &mesos.ExecutorID{Value: proto.String("other")}},
	} {
		if err := d.SendStatusUpdate(st); err == nil {
			t.Errorf("SendStatusUpdate(%v) succeeded", st)
		}
	}
	if n := len(d.UnacknowledgedUpdates()); n != 0 {
		t.Errorf("%d unacknowledged updates after refusals", n)
	}
	// An agent that cannot be reached: the update stays unacknowledged.
	if err := d.SendStatusUpdate(&mesos.TaskStatus{TaskId: id, State: mesos.TaskState_TASK_RUNNING.Enum()}); err == nil {
		t.Error("SendStatusUpdate to a closed port succeeded")
	}
	if n := len(d.UnacknowledgedUpdates()); n != 1 {
		t.Errorf("%d unacknowledged updates, want 1", n)
	}
}

func TestResubscribeResendsUnacknowledged(t *testing.T) {
	forEachCodec(t, func(t *testing.T, c codec.Codec) {
		s := run(t, c, true)
		s.send(t, executortest.Launch(executortest.Task("t1", "x")))
		s.send(t, executortest.Launch(executortest.Task("t2", "x")))
		s.rec.expectSet(t, "launch t1", "launch t2") // in their own goroutines: any order
		for _, task := range []string{"t1", "t2"} {
			err := s.driver.SendStatusUpdate(&mesos.TaskStatus{
				TaskId: &mesos.TaskID{Value: proto.String(task)},
				State:  mesos.TaskState_TASK_RUNNING.Enum(),
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		first := s.agent.WaitUpdate(t, timeout, 1, mesos.TaskState_TASK_RUNNING)
		s.send(t, ack("t1", first.GetUuid()))
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		for len(s.driver.UnacknowledgedUpdates()) != 1 {
			if ctx.Err() != nil {
				t.Fatal("acknowledgement not processed")
			}
			time.Sleep(5 * time.Millisecond)
		}

		s.agent.CloseStream() // the agent restarts
		s.rec.expect(t, "disconnected")
		sub := s.agent.WaitCall(t, timeout, 2, executortest.IsType(executorpb.Call_SUBSCRIBE)).GetSubscribe()
		s.rec.expect(t, "reregistered agent-1")
		tasks := sub.GetUnacknowledgedTasks()
		if len(tasks) != 1 || tasks[0].GetTaskId().GetValue() != "t2" {
			t.Errorf("resent tasks = %v, want t2", tasks)
		}
		ups := sub.GetUnacknowledgedUpdates()
		second := s.agent.WaitUpdate(t, timeout, 2, mesos.TaskState_TASK_RUNNING)
		if len(ups) != 1 || !bytes.Equal(ups[0].GetStatus().GetUuid(), second.GetUuid()) {
			t.Errorf("resent updates = %v, want t2's", ups)
		}

		// The new stream works.
		s.send(t, ack("t2", second.GetUuid()))
		if err := s.driver.WaitAcknowledged(ctx); err != nil {
			t.Fatal(err)
		}
		s.driver.Stop()
		if err := s.wait(t); err != nil {
			t.Errorf("Run after Stop = %v", err)
		}
	})
}

func TestDisconnectWithoutCheckpoint(t *testing.T) {
	s := run(t, codec.Protobuf, false)
	s.agent.CloseStream()
	s.rec.expect(t, "disconnected")
	if err := s.wait(t); !errors.Is(err, executor.ErrDisconnected) {
		t.Errorf("Run = %v, want ErrDisconnected", err)
	}
	if n := len(s.agent.Calls()); n != 1 {
		t.Errorf("%d calls, want only the first SUBSCRIBE", n)
	}
}

func TestRunEndsWithContext(t *testing.T) {
	s := run(t, codec.JSON, false)
	s.cancel()
	if err := s.wait(t); !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
	if err := s.driver.Run(context.Background()); !errors.Is(err, executor.ErrRunning) {
		t.Errorf("second Run = %v, want ErrRunning", err)
	}
}

func TestSubscribeRefused(t *testing.T) {
	a := executortest.NewAgent(t)
	cfg := executor.Config{ExecutorID: "", FrameworkID: "f", AgentURL: a.URL} // 400: no executor id
	err := executor.NewDriver(cfg, executor.NopExecutor{}).Run(context.Background())
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("400")) {
		t.Errorf("Run = %v, want a 400 error", err)
	}
}
