package cli

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	masterpb "github.com/agora-dev/agora/api/mesos/v1/master"
	"github.com/agora-dev/agora/sdk/scheduler"
	"github.com/agora-dev/agora/sdk/scheduler/schedtest"
)

func res(cpus, mem float64) []*mesos.Resource {
	return scheduler.Resources{Cpus: cpus, Mem: mem}.List()
}

// stateAgent is a GET_STATE agent with total, allocated and offered
// resources.
func stateAgent(id, host string, total, alloc, offered []*mesos.Resource) *masterpb.Response_GetAgents_Agent {
	return &masterpb.Response_GetAgents_Agent{
		AgentInfo: &mesos.AgentInfo{Id: &mesos.AgentID{Value: proto.String(id)}, Hostname: proto.String(host)},
		Active:    proto.Bool(true), Version: proto.String("1.12.0"),
		TotalResources: total, AllocatedResources: alloc, OfferedResources: offered,
	}
}

// stateFramework is a GET_STATE framework holding offers of res on agents.
func stateFramework(id, name string, offers map[string][]*mesos.Resource) *masterpb.Response_GetFrameworks_Framework {
	f := &masterpb.Response_GetFrameworks_Framework{FrameworkInfo: &mesos.FrameworkInfo{
		Id: &mesos.FrameworkID{Value: proto.String(id)}, Name: proto.String(name), User: proto.String("u")},
		Active: proto.Bool(true), Connected: proto.Bool(true), Recovered: proto.Bool(false)}
	for agent, r := range offers {
		f.Offers = append(f.Offers, &mesos.Offer{Id: &mesos.OfferID{Value: proto.String(id + "-" + agent)},
			FrameworkId: f.FrameworkInfo.Id, AgentId: &mesos.AgentID{Value: proto.String(agent)}, Hostname: proto.String(agent), Resources: r})
	}
	return f
}

func getState(agents []*masterpb.Response_GetAgents_Agent, fws ...*masterpb.Response_GetFrameworks_Framework) *masterpb.Response_GetState {
	return &masterpb.Response_GetState{GetAgents: &masterpb.Response_GetAgents{Agents: agents},
		GetFrameworks: &masterpb.Response_GetFrameworks{Frameworks: fws}}
}

func TestWhyNoOffer(t *testing.T) {
	want := scheduler.Resources{Cpus: 1, Mem: 32}
	inactive := stateAgent("a1", "host1", res(4, 4096), nil, nil)
	inactive.Active = proto.Bool(false)
	reserved := res(4, 4096)
	for _, r := range reserved {
		r.Reservations = []*mesos.Resource_ReservationInfo{{Type: mesos.Resource_ReservationInfo_STATIC.Enum(), Role: proto.String("db")}}
	}
	for _, tc := range []struct {
		name string
		st   *masterpb.Response_GetState
		role string
		want string
	}{
		{"no agents", getState(nil), "*", "no agents are registered with the master"},
		{"none connected", getState([]*masterpb.Response_GetAgents_Agent{inactive}), "*", "1 agent registered with the master, none connected"},
		{"too small", getState([]*masterpb.Response_GetAgents_Agent{stateAgent("a1", "host1", res(1, 512), res(0.5, 256), nil)}), "*",
			"the only agent, host1, has cpus:0.5;mem:256 free; this task asks cpus:1;mem:32"},
		{"largest of two", getState([]*masterpb.Response_GetAgents_Agent{
			stateAgent("a1", "host1", res(0.2, 8192), nil, nil), stateAgent("a2", "host2", res(0.8, 64), nil, nil)}), "*",
			"the largest of 2 agents, host2, has cpus:0.8;mem:64 free; this task asks cpus:1;mem:32"},
		{"reserved for another role", getState([]*masterpb.Response_GetAgents_Agent{stateAgent("a1", "host1", reserved, nil, nil)}), "web",
			`the only agent, host1, has nothing free for role "web"; this task asks cpus:1;mem:32`},
		{"held by others", getState([]*masterpb.Response_GetAgents_Agent{
			stateAgent("a1", "host1", res(2, 1024), nil, res(2, 1024)), stateAgent("a2", "host2", res(2, 1024), res(1.5, 0), res(0.5, 1024))},
			stateFramework("fw-spark", "spark", map[string][]*mesos.Resource{"a1": res(2, 1024)}),
			stateFramework("fw-small", "small", map[string][]*mesos.Resource{"a2": res(0.5, 1024)}),
			stateFramework("fw-self", "agora-run", nil)), "*",
			"the resources that would fit (cpus:1;mem:32) are held in outstanding offers to other frameworks: spark (fw-spark) holds cpus:2;mem:1024 on host1"},
		{"offered to itself", getState([]*masterpb.Response_GetAgents_Agent{stateAgent("a1", "host1", res(2, 1024), nil, res(2, 1024))},
			stateFramework("fw-self", "agora-run", map[string][]*mesos.Resource{"a1": res(2, 1024)})), "*",
			"agent host1 has cpus:2;mem:1024 free, but it is offered to this framework already"},
		{"free", getState([]*masterpb.Response_GetAgents_Agent{stateAgent("a1", "host1", res(2, 1024), res(0.5, 0), nil)}), "*",
			"agent host1 has cpus:1.5;mem:1024 free and not offered to any framework"},
	} {
		if got := whyNoOffer(newView(tc.st), want, tc.role, "fw-self"); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

// operatorState serves GET_STATE on a fake master's operator API, from a
// state the test can change.
type operatorState struct {
	mu sync.Mutex
	st *masterpb.Response_GetState
}

func (o *operatorState) set(st *masterpb.Response_GetState) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.st = st
}

func (o *operatorState) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	call := &masterpb.Call{}
	if err := proto.Unmarshal(body, call); err != nil || call.GetType() != masterpb.Call_GET_STATE {
		http.Error(w, "want GET_STATE", http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	b, _ := proto.Marshal(&masterpb.Response{Type: masterpb.Response_GET_STATE.Enum(), GetState: o.st})
	o.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(b)
}

// While no offer fits, agora run says why, from the master's GET_STATE:
// no agents; an agent too small; the resources in another framework's
// offers.
func TestRunSaysWhyItWaits(t *testing.T) {
	first, every := whyFirst, whyEvery
	t.Cleanup(func() { whyFirst, whyEvery = first, every })
	whyFirst, whyEvery = 20*time.Millisecond, 20*time.Millisecond
	m := schedtest.NewMaster(t)
	ops := &operatorState{st: getState(nil)}
	m.Handle("POST /api/v1", ops)
	ctx, cancel := context.WithCancel(context.Background())
	run := startRun(t, ctx, "--master="+m.Addr(), "--cpus=1", "--", "true")
	t.Cleanup(cancel) // before startRun's cleanup waits for it
	m.WaitSubscribed(t, 1)
	fid := m.FrameworkID()
	waitStderr := func(want string) {
		t.Helper()
		if !m.Await(func() bool { return strings.Contains(run.stderr.String(), want) }) {
			t.Fatalf("agora run did not say %q:\n%s", want, run.stderr)
		}
	}
	waitStderr("agora run: no offer fitting cpus:1;mem:32 after ")
	waitStderr(": no agents are registered with the master\n")
	ops.set(getState([]*masterpb.Response_GetAgents_Agent{stateAgent("a1", "host1", res(1, 512), res(0.5, 256), nil)}))
	waitStderr(": the only agent, host1, has cpus:0.5;mem:256 free; this task asks cpus:1;mem:32\n")
	ops.set(getState([]*masterpb.Response_GetAgents_Agent{stateAgent("a1", "host1", res(2, 1024), nil, res(2, 1024))},
		stateFramework("fw-spark", "spark", map[string][]*mesos.Resource{"a1": res(2, 1024)}),
		stateFramework(fid, "agora-run", nil)))
	waitStderr(": the resources that would fit (cpus:1;mem:32) are held in outstanding offers to other frameworks: spark (fw-spark) holds cpus:2;mem:1024 on host1\n")
	cancel()
	if code := run.wait(t); code != exitInterrupted {
		t.Errorf("exit status %d\n%s", code, run.stderr)
	}
}
