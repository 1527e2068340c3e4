package sim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/internal/master"
	"github.com/agora-dev/agora/internal/sim"
	"github.com/agora-dev/agora/sdk/scheduler"
	"google.golang.org/protobuf/proto"
)

// runMaster runs a real master on addr with its registry in workDir until
// the returned stop is called.
func runMaster(t *testing.T, port int, workDir string) (stop func()) {
	t.Helper()
	cfg := master.DefaultConfig()
	cfg.IP = "127.0.0.1"
	cfg.Port = port
	cfg.WorkDir = workDir
	cfg.AllocationInterval = 50 * time.Millisecond
	m, err := master.New(cfg, nil)
	if err != nil {
		t.Fatalf("start master: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("master Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond) // polling, not synchronization
	}
}

// masterState is the part of /master/state the test reads.
type masterState struct {
	ActivatedSlaves float64 `json:"activated_slaves"`
	Slaves          []struct {
		ID     string `json:"id"`
		Active bool   `json:"active"`
	} `json:"slaves"`
	Frameworks []struct {
		Tasks []struct {
			ID    string `json:"id"`
			State string `json:"state"`
			Slave string `json:"slave_id"`
		} `json:"tasks"`
	} `json:"frameworks"`
}

func getState(addr string) (masterState, error) {
	var st masterState
	resp, err := http.Get("http://" + addr + "/master/state")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("/master/state: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// fleetFramework launches one task per agent: even ones run until killed,
// odd ones finish after 300ms (their duration label).
type fleetFramework struct {
	scheduler.NopScheduler
	want int

	mu       sync.Mutex
	launched int
	states   map[string][]mesos.TaskState
}

func (f *fleetFramework) ResourceOffers(d *scheduler.Driver, offers []*mesos.Offer) {
	for _, o := range offers {
		f.mu.Lock()
		i := f.launched
		if i < f.want {
			f.launched++
		}
		f.mu.Unlock()
		if i >= f.want {
			_ = d.DeclineOffer(o.GetId(), scheduler.RefuseSeconds(3600))
			continue
		}
		dur := "0"
		if i%2 == 1 {
			dur = "300ms"
		}
		task := &mesos.TaskInfo{
			Name:      proto.String("sim-task"),
			TaskId:    &mesos.TaskID{Value: proto.String(taskName(i))},
			AgentId:   o.GetAgentId(),
			Resources: scheduler.Resources{Cpus: 1, Mem: 128}.List(),
			Command:   &mesos.CommandInfo{Value: proto.String("sleep 1000")},
			Labels:    &mesos.Labels{Labels: []*mesos.Label{{Key: proto.String("duration"), Value: proto.String(dur)}}},
		}
		if err := d.LaunchTasks([]*mesos.OfferID{o.GetId()}, []*mesos.TaskInfo{task}, scheduler.RefuseSeconds(3600)); err != nil {
			panic(err)
		}
	}
}

func taskName(i int) string { return "t" + strconv.Itoa(i) }

func (f *fleetFramework) StatusUpdate(_ *scheduler.Driver, st *mesos.TaskStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := st.GetTaskId().GetValue()
	f.states[id] = append(f.states[id], st.GetState())
}

func (f *fleetFramework) statesOf(id string) []mesos.TaskState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.states[id])
}

func (f *fleetFramework) last(id string) mesos.TaskState {
	s := f.statesOf(id)
	if len(s) == 0 {
		return -1
	}
	return s[len(s)-1]
}

// TestFleetAgainstRealMaster runs 50 simulated agents against a real
// master, launches a task on each with a framework of sdk/scheduler, sees
// STARTING, RUNNING and FINISHED, kills one, restarts the master on its
// work_dir and checks that every agent is active again with its running
// tasks, and that a task can still be killed afterwards.
func TestFleetAgainstRealMaster(t *testing.T) {
	const agents = 50
	port := freePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	work := t.TempDir()
	stopMaster := runMaster(t, port, work)

	cfg := sim.DefaultConfig()
	cfg.Masters = []string{addr}
	cfg.Agents = agents
	cfg.Resources = "cpus:2;mem:1024;disk:1024;ports:[31000-31100]"
	cfg.SubscribeRate = 0
	cfg.BackoffMin = 50 * time.Millisecond
	cfg.BackoffMax = 500 * time.Millisecond
	cfg.Hostname = "simtest"
	s, err := sim.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	simDone := make(chan error, 1)
	go func() { simDone <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-simDone; err != nil {
			t.Errorf("sim Run: %v", err)
		}
	}()
	waitFor(t, 30*time.Second, "all agents to subscribe", func() bool {
		st, err := getState(addr)
		return err == nil && int(st.ActivatedSlaves) == agents && s.Stats().Subscribed == agents
	})
	ids := s.AgentIDs()

	fw := &fleetFramework{want: agents, states: make(map[string][]mesos.TaskState)}
	d, err := scheduler.NewDriver(scheduler.Config{
		Master: addr,
		Framework: &mesos.FrameworkInfo{
			User: proto.String("nobody"), Name: proto.String("sim-test"), FailoverTimeout: proto.Float64(3600),
		},
		BackoffMin: 50 * time.Millisecond, BackoffMax: 500 * time.Millisecond,
	}, fw)
	if err != nil {
		t.Fatal(err)
	}
	dctx, dcancel := context.WithCancel(context.Background())
	defer dcancel()
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(dctx) }()
	defer func() {
		dcancel()
		<-runErr
	}()

	waitFor(t, 30*time.Second, "every task to run, and the odd ones to finish", func() bool {
		for i := range agents {
			want := mesos.TaskState_TASK_RUNNING
			if i%2 == 1 {
				want = mesos.TaskState_TASK_FINISHED
			}
			if fw.last(taskName(i)) != want {
				return false
			}
		}
		return true
	})
	for i := range agents {
		got := fw.statesOf(taskName(i))
		want := []mesos.TaskState{mesos.TaskState_TASK_STARTING, mesos.TaskState_TASK_RUNNING}
		if i%2 == 1 {
			want = append(want, mesos.TaskState_TASK_FINISHED)
		}
		if !slices.Equal(got, want) {
			t.Errorf("task %s: updates %v, want %v", taskName(i), got, want)
		}
	}
	if err := d.KillTask(&mesos.TaskID{Value: proto.String(taskName(0))}, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "TASK_KILLED", func() bool { return fw.last(taskName(0)) == mesos.TaskState_TASK_KILLED })
	if st := s.Stats(); st.Killed != 1 || st.Finished != agents/2 || st.Active != agents/2-1 {
		t.Errorf("stats %+v: want 1 killed, %d finished, %d active", st, agents/2, agents/2-1)
	}

	// Restart the master on its work_dir: every agent re-subscribes with
	// its running tasks.
	stopMaster()
	runMaster(t, port, work)
	running := agents/2 - 1
	waitFor(t, 30*time.Second, "all agents active again with their running tasks", func() bool {
		st, err := getState(addr)
		if err != nil || int(st.ActivatedSlaves) != agents {
			return false
		}
		n := 0
		for _, f := range st.Frameworks {
			for _, tk := range f.Tasks {
				if tk.State == "TASK_RUNNING" {
					n++
				}
			}
		}
		return n == running
	})
	if got := s.AgentIDs(); !slices.Equal(got, ids) {
		t.Errorf("agent ids changed across the restart")
	}
	// The re-subscribed agents still obey: kill a task after the restart.
	waitFor(t, 30*time.Second, "the driver to re-subscribe", d.Connected)
	if err := d.KillTask(&mesos.TaskID{Value: proto.String(taskName(2))}, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "TASK_KILLED after the restart", func() bool {
		return fw.last(taskName(2)) == mesos.TaskState_TASK_KILLED
	})
}

// TestFollowsTheMasterList gives the agents a list whose first master
// refuses connections and whose second answers 307 naming the real
// master: they all end up subscribed there, as the real agent would.
func TestFollowsTheMasterList(t *testing.T) {
	port := freePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	runMaster(t, port, "")
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "//"+addr+r.URL.Path)
		w.WriteHeader(http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	unavailable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no leader", http.StatusServiceUnavailable)
	}))
	defer unavailable.Close()
	dead := "127.0.0.1:" + strconv.Itoa(freePort(t))

	cfg := sim.DefaultConfig()
	cfg.Masters = []string{dead, strings.TrimPrefix(unavailable.URL, "http://"), strings.TrimPrefix(redirector.URL, "http://")}
	cfg.Agents = 10
	cfg.SubscribeRate = 0
	cfg.BackoffMin = 20 * time.Millisecond
	s, err := sim.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, 20*time.Second, "all agents active on the real master", func() bool {
		st, err := getState(addr)
		return err == nil && int(st.ActivatedSlaves) == cfg.Agents
	})
}

func TestConfigValidate(t *testing.T) {
	for _, edit := range []func(*sim.Config){
		func(c *sim.Config) { c.Masters = nil },
		func(c *sim.Config) { c.Agents = 0 },
		func(c *sim.Config) { c.TaskDuration = -time.Second },
		func(c *sim.Config) { c.Resources = "cpus:x" },
		func(c *sim.Config) { c.Attributes = "rack" },
		func(c *sim.Config) { c.SubscribeRate = -1 },
	} {
		cfg := sim.DefaultConfig()
		cfg.Masters = []string{"127.0.0.1:5050"}
		edit(&cfg)
		if _, err := sim.New(cfg, nil); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
}
