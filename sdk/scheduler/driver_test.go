package scheduler_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	schedpb "github.com/agora-dev/agora/api/mesos/v1/scheduler"
	"github.com/agora-dev/agora/sdk/scheduler"
	"github.com/agora-dev/agora/sdk/scheduler/schedtest"
)

var codecs = []codec.Codec{codec.Protobuf, codec.JSON}

// recorder is a Scheduler that logs every callback as a line of text and
// optionally reacts to offers.
type recorder struct {
	mu       sync.Mutex
	log      []string
	statuses []*mesos.TaskStatus
	onOffers func(d *scheduler.Driver, offers []*mesos.Offer)
}

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, fmt.Sprintf(format, args...))
}

func (r *recorder) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log...)
}

func (r *recorder) has(prefix string) func() bool {
	return func() bool { return r.count(prefix) > 0 }
}

func (r *recorder) count(prefix string) int {
	n := 0
	for _, l := range r.lines() {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

func (r *recorder) Registered(_ *scheduler.Driver, id *mesos.FrameworkID, mi *mesos.MasterInfo) {
	r.add("registered %s %s", id.GetValue(), mi.GetId())
}
func (r *recorder) Reregistered(_ *scheduler.Driver, mi *mesos.MasterInfo) {
	r.add("reregistered %s", mi.GetId())
}
func (r *recorder) Disconnected(*scheduler.Driver) { r.add("disconnected") }
func (r *recorder) ResourceOffers(d *scheduler.Driver, offers []*mesos.Offer) {
	for _, o := range offers {
		r.add("offer %s", o.GetId().GetValue())
	}
	if r.onOffers != nil {
		r.onOffers(d, offers)
	}
}
func (r *recorder) OfferRescinded(_ *scheduler.Driver, id *mesos.OfferID) {
	r.add("rescind %s", id.GetValue())
}
func (r *recorder) StatusUpdate(_ *scheduler.Driver, st *mesos.TaskStatus) {
	r.mu.Lock()
	r.statuses = append(r.statuses, st)
	r.mu.Unlock()
	r.add("status %s %v", st.GetTaskId().GetValue(), st.GetState())
}
func (r *recorder) FrameworkMessage(_ *scheduler.Driver, a *mesos.AgentID, e *mesos.ExecutorID, data []byte) {
	r.add("message %s %s %s", a.GetValue(), e.GetValue(), data)
}
func (r *recorder) AgentLost(_ *scheduler.Driver, a *mesos.AgentID) {
	r.add("agent-lost %s", a.GetValue())
}
func (r *recorder) ExecutorLost(_ *scheduler.Driver, e *mesos.ExecutorID, a *mesos.AgentID, status int) {
	r.add("executor-lost %s %s %d", e.GetValue(), a.GetValue(), status)
}
func (r *recorder) Error(_ *scheduler.Driver, msg string) { r.add("error %s", msg) }

func framework(failover float64) *mesos.FrameworkInfo {
	return &mesos.FrameworkInfo{
		User:            proto.String("tester"),
		Name:            proto.String("sdk-test"),
		FailoverTimeout: proto.Float64(failover),
	}
}

// start runs a driver against master m and returns it with a channel that
// receives Run's result.
func start(t *testing.T, m *schedtest.Master, c codec.Codec, fw *mesos.FrameworkInfo, s scheduler.Scheduler, tweak ...func(*scheduler.Config)) (*scheduler.Driver, <-chan error) {
	t.Helper()
	cfg := scheduler.Config{
		Master:     m.Addr(),
		Framework:  fw,
		Codec:      c,
		BackoffMin: 10 * time.Millisecond,
		BackoffMax: 50 * time.Millisecond,
	}
	for _, f := range tweak {
		f(&cfg)
	}
	d, err := scheduler.NewDriver(cfg, s)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		done <- d.Run(context.Background())
		close(exited)
	}()
	t.Cleanup(func() {
		d.Abort()
		<-exited
	})
	return d, done
}

func waitRun(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(schedtest.WaitTimeout):
		t.Fatal("Run did not return")
		return nil
	}
}

func TestSubscribeOffersLaunchAck(t *testing.T) {
	for _, c := range codecs {
		t.Run(c.MediaType(), func(t *testing.T) {
			m := schedtest.NewMaster(t)
			rec := &recorder{}
			task := &mesos.TaskInfo{
				Name:    proto.String("t1"),
				TaskId:  &mesos.TaskID{Value: proto.String("t1")},
				Command: &mesos.CommandInfo{Value: proto.String("true")},
			}
			rec.onOffers = func(d *scheduler.Driver, offers []*mesos.Offer) {
				p := scheduler.NewPacker(offers[0])
				res, ok := p.Reserve(scheduler.Resources{Cpus: 0.5, Mem: 64, Ports: 2})
				if !ok {
					rec.add("no fit")
					return
				}
				task.Resources = res
				task.AgentId = offers[0].GetAgentId()
				if err := d.LaunchTasks([]*mesos.OfferID{offers[0].GetId()}, []*mesos.TaskInfo{task}, scheduler.RefuseSeconds(10)); err != nil {
					rec.add("launch error %v", err)
				}
			}
			d, done := start(t, m, c, framework(0), rec)
			sub := m.WaitSubscribed(t, 1)
			if sub.GetFrameworkId() != nil || sub.GetSubscribe().GetFrameworkInfo().GetId() != nil {
				t.Errorf("first SUBSCRIBE carries a framework id: %v", sub)
			}
			m.Wait(t, "Registered", rec.has("registered fake-master-0000 fake-master"))
			if got := d.FrameworkID().GetValue(); got != "fake-master-0000" {
				t.Errorf("FrameworkID() = %q", got)
			}

			offer := schedtest.Offer("o1", "a1", "host1", "127.0.0.1:5051",
				scheduler.Scalar("cpus", 2), scheduler.Scalar("mem", 1024),
				scheduler.Ranges("ports", [][2]uint64{{31000, 31000}, {31005, 31010}}))
			offer.AllocationInfo = &mesos.Resource_AllocationInfo{Role: proto.String("web")}
			m.SendOffers(offer)
			acc := m.WaitCall(t, schedpb.Call_ACCEPT, 1).GetAccept()
			if ids := acc.GetOfferIds(); len(ids) != 1 || ids[0].GetValue() != "o1" {
				t.Errorf("ACCEPT offer ids = %v", ids)
			}
			if acc.GetFilters().GetRefuseSeconds() != 10 {
				t.Errorf("ACCEPT filters = %v", acc.GetFilters())
			}
			ops := acc.GetOperations()
			if len(ops) != 1 || ops[0].GetType() != mesos.Offer_Operation_LAUNCH || len(ops[0].GetLaunch().GetTaskInfos()) != 1 {
				t.Fatalf("ACCEPT operations = %v", ops)
			}
			got := ops[0].GetLaunch().GetTaskInfos()[0]
			if got.GetTaskId().GetValue() != "t1" || got.GetAgentId().GetValue() != "a1" || got.GetCommand().GetValue() != "true" {
				t.Errorf("launched task = %v", got)
			}
			if s := scheduler.Describe(got.GetResources()); s != "cpus:0.5;mem:64;ports:[31000-31000, 31005-31005]" {
				t.Errorf("task resources = %s", s)
			}
			for _, r := range got.GetResources() {
				if r.GetAllocationInfo().GetRole() != "web" {
					t.Errorf("resource %v lacks the offer's allocation_info", r)
				}
			}

			// An agent update is acknowledged with agent_id, task_id
			// and uuid; a master update (no uuid) is not.
			noUUID := schedtest.Status("t1", "a1", mesos.TaskState_TASK_STAGING, "")
			noUUID.Uuid = nil
			m.SendUpdate(noUUID)
			st := schedtest.Status("t1", "a1", mesos.TaskState_TASK_RUNNING, "")
			m.SendUpdate(st)
			ack := m.WaitCall(t, schedpb.Call_ACKNOWLEDGE, 1).GetAcknowledge()
			if ack.GetAgentId().GetValue() != "a1" || ack.GetTaskId().GetValue() != "t1" || !bytes.Equal(ack.GetUuid(), st.GetUuid()) {
				t.Errorf("ACKNOWLEDGE = %v, want agent a1 task t1 uuid %x", ack, st.GetUuid())
			}
			if n := len(m.CallsOf(schedpb.Call_ACKNOWLEDGE)); n != 1 {
				t.Errorf("%d ACKNOWLEDGE calls, want 1", n)
			}
			if n := rec.count("status t1"); n != 2 {
				t.Errorf("%d status callbacks, want 2", n)
			}
			for _, c := range m.Calls() {
				if c.GetFrameworkId().GetValue() != "fake-master-0000" {
					t.Errorf("%v call carries framework id %v", c.GetType(), c.GetFrameworkId())
				}
			}

			if err := d.Stop(false); err != nil {
				t.Errorf("Stop: %v", err)
			}
			if err := waitRun(t, done); err != nil {
				t.Errorf("Run after Stop = %v, want nil", err)
			}
			if len(m.CallsOf(schedpb.Call_TEARDOWN)) != 1 {
				t.Error("Stop(false) sent no TEARDOWN")
			}
			if lines := rec.lines(); slicesContain(lines, "no fit") || rec.count("launch error") > 0 {
				t.Errorf("callbacks: %q", lines)
			}
		})
	}
}

func slicesContain(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestManualAcknowledge(t *testing.T) {
	m := schedtest.NewMaster(t)
	rec := &recorder{}
	d, _ := start(t, m, codec.Protobuf, framework(0), rec, func(c *scheduler.Config) { c.ManualAcknowledge = true })
	m.WaitSubscribed(t, 1)
	m.SendUpdate(schedtest.Status("t1", "a1", mesos.TaskState_TASK_RUNNING, ""))
	m.Wait(t, "status", rec.has("status t1"))
	if err := d.ReviveOffers(); err != nil { // a marker call after the update
		t.Fatal(err)
	}
	if n := len(m.CallsOf(schedpb.Call_ACKNOWLEDGE)); n != 0 {
		t.Fatalf("%d automatic ACKNOWLEDGE calls with ManualAcknowledge", n)
	}
	rec.mu.Lock()
	st := rec.statuses[0]
	rec.mu.Unlock()
	if err := d.AcknowledgeStatusUpdate(st); err != nil {
		t.Fatal(err)
	}
	m.WaitCall(t, schedpb.Call_ACKNOWLEDGE, 1)
}

func TestEventsDispatched(t *testing.T) {
	for _, c := range codecs {
		t.Run(c.MediaType(), func(t *testing.T) {
			m := schedtest.NewMaster(t)
			rec := &recorder{}
			start(t, m, c, framework(0), rec)
			m.WaitSubscribed(t, 1)
			id := func(s string) *string { return proto.String(s) }
			m.Send(&schedpb.Event{Type: schedpb.Event_RESCIND.Enum(), Rescind: &schedpb.Event_Rescind{OfferId: &mesos.OfferID{Value: id("o9")}}})
			m.Send(&schedpb.Event{Type: schedpb.Event_MESSAGE.Enum(), Message: &schedpb.Event_Message{
				AgentId: &mesos.AgentID{Value: id("a1")}, ExecutorId: &mesos.ExecutorID{Value: id("e1")}, Data: []byte("hi")}})
			m.Send(&schedpb.Event{Type: schedpb.Event_FAILURE.Enum(), Failure: &schedpb.Event_Failure{AgentId: &mesos.AgentID{Value: id("a2")}}})
			m.Send(&schedpb.Event{Type: schedpb.Event_FAILURE.Enum(), Failure: &schedpb.Event_Failure{
				AgentId: &mesos.AgentID{Value: id("a1")}, ExecutorId: &mesos.ExecutorID{Value: id("e1")}, Status: proto.Int32(137)}})
			m.Send(&schedpb.Event{Type: schedpb.Event_HEARTBEAT.Enum()})
			m.Send(&schedpb.Event{Type: schedpb.Event_RESCIND_INVERSE_OFFER.Enum(), RescindInverseOffer: &schedpb.Event_RescindInverseOffer{InverseOfferId: &mesos.OfferID{Value: id("io")}}})
			m.Send(&schedpb.Event{Type: schedpb.Event_RESCIND.Enum(), Rescind: &schedpb.Event_Rescind{OfferId: &mesos.OfferID{Value: id("last")}}})
			m.Wait(t, "last event", rec.has("rescind last"))
			want := []string{"registered fake-master-0000 fake-master", "rescind o9", "message a1 e1 hi", "agent-lost a2", "executor-lost e1 a1 137", "rescind last"}
			if got := rec.lines(); strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("callbacks:\n got %q\nwant %q", got, want)
			}
		})
	}
}

func TestResubscribeKeepsFrameworkIDWithFailoverTimeout(t *testing.T) {
	for _, c := range codecs {
		t.Run(c.MediaType(), func(t *testing.T) {
			m := schedtest.NewMaster(t)
			rec := &recorder{}
			d, _ := start(t, m, c, framework(3600), rec)
			m.WaitSubscribed(t, 1)
			m.Wait(t, "Registered", rec.has("registered"))
			m.DropStream()
			sub := m.WaitSubscribed(t, 2)
			if sub.GetFrameworkId().GetValue() != "fake-master-0000" || sub.GetSubscribe().GetFrameworkInfo().GetId().GetValue() != "fake-master-0000" {
				t.Errorf("resubscription does not carry the framework id: %v", sub)
			}
			m.Wait(t, "Reregistered", rec.has("reregistered"))
			want := "registered fake-master-0000 fake-master|disconnected|reregistered fake-master"
			if got := strings.Join(rec.lines(), "|"); got != want {
				t.Errorf("callbacks %q, want %q", got, want)
			}
			// Calls use the new stream id.
			if err := d.SuppressOffers("r1"); err != nil {
				t.Fatalf("SuppressOffers on the new stream: %v", err)
			}
			if roles := m.WaitCall(t, schedpb.Call_SUPPRESS, 1).GetSuppress().GetRoles(); len(roles) != 1 || roles[0] != "r1" {
				t.Errorf("SUPPRESS roles = %v", roles)
			}
		})
	}
}

func TestResubscribeWithoutFailoverTimeoutRegistersAnew(t *testing.T) {
	m := schedtest.NewMaster(t)
	rec := &recorder{}
	d, _ := start(t, m, codec.Protobuf, framework(0), rec)
	m.WaitSubscribed(t, 1)
	m.DropStream()
	sub := m.WaitSubscribed(t, 2)
	if sub.GetFrameworkId() != nil {
		t.Errorf("resubscription without failover_timeout carries id %v", sub.GetFrameworkId())
	}
	// The id was tried first (a new leader would have taken it back); the
	// master had removed the framework and refused it.
	if subs := m.Subscribes(); len(subs) != 3 || subs[1].GetFrameworkId().GetValue() != "fake-master-0000" {
		t.Errorf("SUBSCRIBEs = %v, want the refused id then a fresh registration", subs)
	}
	m.Wait(t, "second Registered", rec.has("registered fake-master-0001"))
	if d.FrameworkID().GetValue() != "fake-master-0001" {
		t.Errorf("FrameworkID() = %v", d.FrameworkID())
	}
}

func TestConfiguredFrameworkIDIsUsed(t *testing.T) {
	m := schedtest.NewMaster(t)
	rec := &recorder{}
	fw := framework(60)
	fw.Id = &mesos.FrameworkID{Value: proto.String("old-0007")}
	start(t, m, codec.JSON, fw, rec)
	sub := m.WaitSubscribed(t, 1)
	if sub.GetFrameworkId().GetValue() != "old-0007" {
		t.Errorf("SUBSCRIBE framework_id = %v", sub.GetFrameworkId())
	}
	m.Wait(t, "Registered", rec.has("registered old-0007"))
}

func TestFollowsRedirect(t *testing.T) {
	for _, c := range codecs {
		t.Run(c.MediaType(), func(t *testing.T) {
			follower := schedtest.NewMaster(t)
			leader := schedtest.NewMaster(t)
			follower.RedirectSubscribe("//" + leader.Addr() + "/master/api/v1/scheduler")
			rec := &recorder{}
			d, _ := start(t, follower, c, framework(0), rec)
			leader.WaitSubscribed(t, 1)
			m := leader
			m.Wait(t, "Registered", rec.has("registered"))
			if err := d.ReviveOffers(); err != nil {
				t.Fatal(err)
			}
			leader.WaitCall(t, schedpb.Call_REVIVE, 1)
			if n := len(follower.Subscribes()); n != 1 {
				t.Errorf("follower saw %d SUBSCRIBEs, want 1", n)
			}
		})
	}
}

func TestCallRefusedResubscribes(t *testing.T) {
	for _, code := range []int{http.StatusForbidden, http.StatusTemporaryRedirect, http.StatusServiceUnavailable} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			m := schedtest.NewMaster(t)
			rec := &recorder{}
			d, _ := start(t, m, codec.Protobuf, framework(60), rec)
			m.WaitSubscribed(t, 1)
			m.Wait(t, "Registered", rec.has("registered"))
			m.FailCalls(code, "//"+m.Addr())
			err := d.ReviveOffers()
			var ce *scheduler.CallError
			if !errors.As(err, &ce) || ce.StatusCode != code {
				t.Fatalf("ReviveOffers = %v, want a CallError %d", err, code)
			}
			m.FailCalls(0, "")
			m.WaitSubscribed(t, 2)
			m.Wait(t, "Reregistered", rec.has("reregistered"))
		})
	}
}

func TestHeartbeatWatchdogResubscribes(t *testing.T) {
	m := schedtest.NewMaster(t)
	m.SetHeartbeat(20 * time.Millisecond)
	rec := &recorder{}
	start(t, m, codec.Protobuf, framework(60), rec)
	m.WaitSubscribed(t, 1)
	m.SilenceHeartbeats(true)
	m.WaitSubscribed(t, 2)
	m.Wait(t, "Reregistered", rec.has("reregistered"))
}

func TestErrorBeforeSubscribedIsFatal(t *testing.T) {
	for _, c := range codecs {
		t.Run(c.MediaType(), func(t *testing.T) {
			m := schedtest.NewMaster(t)
			m.RefuseSubscribe("Framework has been removed")
			rec := &recorder{}
			d, done := start(t, m, c, framework(0), rec)
			err := waitRun(t, done)
			if err == nil || !strings.Contains(err.Error(), `"Framework has been removed"`) {
				t.Fatalf("Run = %v, want the master's error", err)
			}
			if got := rec.lines(); len(got) != 1 || got[0] != "error Framework has been removed" {
				t.Errorf("callbacks = %q", got)
			}
			if err := d.ReviveOffers(); !errors.Is(err, scheduler.ErrNotSubscribed) {
				t.Errorf("call after fatal error = %v", err)
			}
		})
	}
}

func TestErrorAfterSubscribedIsFatal(t *testing.T) {
	m := schedtest.NewMaster(t)
	rec := &recorder{}
	_, done := start(t, m, codec.JSON, framework(60), rec)
	m.WaitSubscribed(t, 1)
	m.Send(&schedpb.Event{Type: schedpb.Event_ERROR.Enum(), Error: &schedpb.Event_Error{Message: proto.String("Framework failed over")}})
	if err := waitRun(t, done); err == nil || !strings.Contains(err.Error(), "failed over") {
		t.Fatalf("Run = %v", err)
	}
	if len(m.Subscribes()) != 1 {
		t.Errorf("driver resubscribed after ERROR")
	}
}

func TestAbortAndContext(t *testing.T) {
	m := schedtest.NewMaster(t)
	d, done := start(t, m, codec.Protobuf, framework(0), &recorder{})
	m.WaitSubscribed(t, 1)
	d.Abort()
	if err := waitRun(t, done); !errors.Is(err, scheduler.ErrAborted) {
		t.Errorf("Run after Abort = %v", err)
	}
	if len(m.CallsOf(schedpb.Call_TEARDOWN)) != 0 {
		t.Error("Abort sent TEARDOWN")
	}

	ctx, cancel := context.WithCancel(context.Background())
	d2, err := scheduler.NewDriver(scheduler.Config{Master: m.Addr(), Framework: framework(0)}, scheduler.NopScheduler{})
	if err != nil {
		t.Fatal(err)
	}
	done2 := make(chan error, 1)
	go func() { done2 <- d2.Run(ctx) }()
	m.WaitSubscribed(t, 2)
	cancel()
	if err := waitRun(t, done2); !errors.Is(err, context.Canceled) {
		t.Errorf("Run after cancel = %v", err)
	}
	if err := d2.Run(context.Background()); err == nil {
		t.Error("second Run succeeded")
	}
}

func TestUnreachableMasterKeepsRetrying(t *testing.T) {
	m := schedtest.NewMaster(t)
	addr := m.Addr()
	m.Server.Close()
	d, err := scheduler.NewDriver(scheduler.Config{Master: addr, Framework: framework(0), BackoffMin: time.Millisecond, BackoffMax: 5 * time.Millisecond}, scheduler.NopScheduler{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(context.Background()) }()
	m.Wait(t, "a connection error", func() bool { return d.LastError() != nil })
	if d.Connected() {
		t.Error("Connected() with no master")
	}
	if err := d.Stop(false); !errors.Is(err, scheduler.ErrNotSubscribed) {
		t.Errorf("Stop(false) without subscription = %v", err)
	}
	if err := waitRun(t, done); err != nil {
		t.Errorf("Run = %v", err)
	}
}

func TestNewDriverValidates(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  scheduler.Config
	}{
		{"no master", scheduler.Config{Framework: framework(0)}},
		{"bad master", scheduler.Config{Master: "ftp://x:1", Framework: framework(0)}},
		{"bad master in a list", scheduler.Config{Master: "127.0.0.1:5050,ftp://x:1", Framework: framework(0)}},
		{"only commas", scheduler.Config{Master: ", ,", Framework: framework(0)}},
		{"no framework", scheduler.Config{Master: "127.0.0.1:5050"}},
		{"no name", scheduler.Config{Master: "127.0.0.1:5050", Framework: &mesos.FrameworkInfo{User: proto.String("u")}}},
		{"no user", scheduler.Config{Master: "127.0.0.1:5050", Framework: &mesos.FrameworkInfo{Name: proto.String("n")}}},
	} {
		if _, err := scheduler.NewDriver(tc.cfg, scheduler.NopScheduler{}); err == nil {
			t.Errorf("%s: NewDriver succeeded", tc.name)
		}
	}
	for _, master := range []string{"127.0.0.1:5050", "http://127.0.0.1:5050", "https://m:5050/", "http://m:5050/api/v1/scheduler", "a:1,b:2,http://c:3"} {
		if _, err := scheduler.NewDriver(scheduler.Config{Master: master, Framework: framework(0)}, scheduler.NopScheduler{}); err != nil {
			t.Errorf("NewDriver(%q): %v", master, err)
		}
	}
}

// With a list of masters, a 503 ("No leader elected") and a refused
// connection move the driver on to the next master at once: the backoff,
// a minute here, comes only after a whole round.
func TestMasterListRotates(t *testing.T) {
	down := schedtest.NewMaster(t)
	down.Unavailable("No leader elected")
	dead := schedtest.NewMaster(t)
	deadAddr := dead.Addr()
	dead.Server.Close()
	leader := schedtest.NewMaster(t)
	rec := &recorder{}
	start(t, leader, codec.Protobuf, framework(0), rec, func(c *scheduler.Config) {
		c.Master = down.Addr() + "," + deadAddr + ", " + leader.Addr()
		c.BackoffMin, c.BackoffMax = time.Minute, time.Minute
	})
	leader.WaitSubscribed(t, 1)
	leader.Wait(t, "Registered", rec.has("registered"))
}

// Config.Masters adds masters after Config.Master; a standby's 307 is
// followed to the leader.
func TestMastersFieldFollowsRedirect(t *testing.T) {
	dead := schedtest.NewMaster(t)
	deadAddr := dead.Addr()
	dead.Server.Close()
	standby := schedtest.NewMaster(t)
	leader := schedtest.NewMaster(t)
	standby.RedirectSubscribe("//" + leader.Addr() + "/api/v1/scheduler")
	rec := &recorder{}
	start(t, leader, codec.JSON, framework(0), rec, func(c *scheduler.Config) {
		c.Master = deadAddr
		c.Masters = []string{standby.Addr()}
		c.BackoffMin, c.BackoffMax = time.Minute, time.Minute
	})
	leader.WaitSubscribed(t, 1)
	leader.Wait(t, "Registered", rec.has("registered"))
}

// When the leader goes away, the driver resubscribes to the next master
// of the list with its framework id, even without failover_timeout: the
// new leader takes the framework back with its tasks.
func TestLeaderFailoverKeepsFrameworkID(t *testing.T) {
	old := schedtest.NewMaster(t)
	next := schedtest.NewMaster(t)
	rec := &recorder{}
	d, _ := start(t, old, codec.Protobuf, framework(0), rec, func(c *scheduler.Config) {
		c.Master = old.Addr() + "," + next.Addr()
	})
	old.WaitSubscribed(t, 1)
	old.Wait(t, "Registered", rec.has("registered fake-master-0000"))
	old.Unavailable("No leader elected")
	old.DropStream()
	sub := next.WaitSubscribed(t, 1)
	if sub.GetFrameworkId().GetValue() != "fake-master-0000" {
		t.Fatalf("SUBSCRIBE to the new leader carries id %v", sub.GetFrameworkId())
	}
	next.Wait(t, "Reregistered", rec.has("reregistered"))
	if err := d.ReviveOffers(); err != nil {
		t.Fatal(err)
	}
	next.WaitCall(t, schedpb.Call_REVIVE, 1)
}

// A paused leader keeps the stream open but silent; the detector learns
// from another master of the list that a new leader was elected, checks
// with it, and moves there long before the heartbeat timeout (75 s here).
func TestDetectorFollowsNewLeader(t *testing.T) {
	old := schedtest.NewMaster(t)
	standby := schedtest.NewMaster(t)
	next := schedtest.NewMaster(t)
	old.SetLeader(old.Addr(), true, 1)
	standby.SetLeader(old.Addr(), false, 1)
	next.SetLeader(old.Addr(), false, 1)
	rec := &recorder{}
	start(t, old, codec.Protobuf, framework(60), rec, func(c *scheduler.Config) {
		c.Master = old.Addr() + "," + standby.Addr() + "," + next.Addr()
		c.LeaderCheckInterval = 20 * time.Millisecond
	})
	old.WaitSubscribed(t, 1)
	old.Wait(t, "Registered", rec.has("registered fake-master-0000"))

	// next is elected; old, paused, says nothing.
	old.SilenceHeartbeats(true)
	next.SetLeader(next.Addr(), true, 2)
	standby.SetLeader(next.Addr(), false, 2)
	sub := next.WaitSubscribed(t, 1)
	if sub.GetFrameworkId().GetValue() != "fake-master-0000" {
		t.Errorf("SUBSCRIBE to the new leader carries id %v", sub.GetFrameworkId())
	}
	next.Wait(t, "Reregistered", rec.has("reregistered"))
	if n := len(standby.Subscribes()); n != 0 {
		t.Errorf("the standby got %d SUBSCRIBEs", n)
	}
}
