package e2e

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/sdk/scheduler"
	"google.golang.org/protobuf/proto"
)

// sdkFramework records what the SDK's callbacks saw.
type sdkFramework struct {
	scheduler.NopScheduler
	mu           sync.Mutex
	registered   []string // framework ids from Registered
	reregistered int
	disconnected int
	launched     bool
	marker       string
	states       map[string][]mesos.TaskState
}

func (s *sdkFramework) Registered(_ *scheduler.Driver, id *mesos.FrameworkID, _ *mesos.MasterInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.registered = append(s.registered, id.GetValue())
}

func (s *sdkFramework) Reregistered(*scheduler.Driver, *mesos.MasterInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reregistered++
}

func (s *sdkFramework) Disconnected(*scheduler.Driver) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.disconnected++
}

func (s *sdkFramework) ResourceOffers(d *scheduler.Driver, offers []*mesos.Offer) {
	s.mu.Lock()
	launch := !s.launched
	s.launched = true
	s.mu.Unlock()
	for i, o := range offers {
		if i > 0 || !launch {
			_ = d.DeclineOffer(o.GetId(), &mesos.Filters{RefuseSeconds: proto.Float64(3600)})
			continue
		}
		task := &mesos.TaskInfo{
			Name:      proto.String("sdk-sleeper"),
			TaskId:    &mesos.TaskID{Value: proto.String("sdk-sleeper")},
			AgentId:   o.GetAgentId(),
			Resources: scheduler.Resources{Cpus: 0.1, Mem: 32}.List(),
			Command:   &mesos.CommandInfo{Value: proto.String("sleep 600 # " + s.marker)},
		}
		if err := d.LaunchTasks([]*mesos.OfferID{o.GetId()}, []*mesos.TaskInfo{task}, nil); err != nil {
			panic(err)
		}
	}
}

func (s *sdkFramework) StatusUpdate(_ *scheduler.Driver, st *mesos.TaskStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := st.GetTaskId().GetValue()
	s.states[id] = append(s.states[id], st.GetState())
}

func (s *sdkFramework) snapshot() (registered []string, rereg, disc int, states []mesos.TaskState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.registered...), s.reregistered, s.disconnected,
		append([]mesos.TaskState(nil), s.states["sdk-sleeper"]...)
}

// TestSDKFailoverAcrossMasterRestart runs a framework on sdk/scheduler
// against a real master and agent, drops its connection by restarting the
// master, and checks that the driver re-subscribes with the same framework
// id, that reconciliation finds the task still running, and that Stop tears
// everything down.
func TestSDKFailoverAcrossMasterRestart(t *testing.T) {
	for _, c := range []codec.Codec{codec.Protobuf, codec.JSON} {
		t.Run(c.MediaType(), func(t *testing.T) { testSDKFailover(t, c) })
	}
}

func testSDKFailover(t *testing.T, c codec.Codec) {
	work := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	// The registry persists across the restart (--work_dir), as in
	// production: the restarted master knows the agent and does not answer
	// a reconciliation for its task until it is back. (Without it, the
	// answer would be TASK_LOST, and then the task could never come back.)
	mwork := filepath.Join(work, "master")
	m := start(t, "master", "--port="+port, "--work_dir="+mwork)
	master := m.waitListening(t)
	start(t, "agent", "--master="+master, "--port=0", "--work_dir="+filepath.Join(work, "agent"),
		"--resources=cpus:2;mem:1024;disk:1024").waitListening(t)

	marker := fmt.Sprintf("agora-e2e-sdk-%d", time.Now().UnixNano())
	killMarked(t, marker)
	fw := &sdkFramework{marker: marker, states: make(map[string][]mesos.TaskState)}
	d, err := scheduler.NewDriver(scheduler.Config{
		Master: master,
		Codec:  c,
		Framework: &mesos.FrameworkInfo{
			User: proto.String("nobody"), Name: proto.String("sdk-e2e"),
			FailoverTimeout: proto.Float64(3600),
		},
		BackoffMin: 50 * time.Millisecond, BackoffMax: 500 * time.Millisecond,
	}, fw)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(ctx) }()

	waitFor(t, 30*time.Second, "the task to run", func() bool {
		_, _, _, states := fw.snapshot()
		return len(states) > 0 && states[len(states)-1] == mesos.TaskState_TASK_RUNNING
	})
	firstID := d.FrameworkID().GetValue()

	// Drop the connection: restart the master.
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	<-m.done
	start(t, "master", "--port="+port, "--work_dir="+mwork).waitListening(t)
	waitFor(t, 30*time.Second, "the driver to re-subscribe", func() bool {
		_, rereg, disc, _ := fw.snapshot()
		return rereg >= 1 && disc >= 1 && d.Connected()
	})
	if got := d.FrameworkID().GetValue(); got != firstID {
		t.Fatalf("framework id changed across the failover: %s → %s", firstID, got)
	}
	// The agent re-subscribes too; then the task reconciles as running.
	waitFor(t, 30*time.Second, "reconciliation to report the task running", func() bool {
		_ = d.ReconcileTasks([]*mesos.TaskStatus{{
			TaskId: &mesos.TaskID{Value: proto.String("sdk-sleeper")},
			State:  mesos.TaskState_TASK_RUNNING.Enum(),
		}})
		_, _, _, states := fw.snapshot()
		n := len(states)
		return n >= 2 && states[n-1] == mesos.TaskState_TASK_RUNNING && n > 2
	})
	if err := d.KillTask(&mesos.TaskID{Value: proto.String("sdk-sleeper")}, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "TASK_KILLED", func() bool {
		_, _, _, states := fw.snapshot()
		return len(states) > 0 && states[len(states)-1] == mesos.TaskState_TASK_KILLED
	})
	waitNoProcess(t, marker)
	if err := d.Stop(false); err != nil {
		t.Errorf("Stop: %v", err)
	}
	select {
	case err := <-runErr:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after Stop")
	}
	registered, _, _, _ := fw.snapshot()
	if len(registered) != 1 {
		t.Errorf("Registered called %d times (%v), want once", len(registered), registered)
	}
}
