package scheduler_test

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/sdk/scheduler"
)

func reserved(r *mesos.Resource, role string) *mesos.Resource {
	//lint:ignore SA1019 the pre-refinement format is what most offers use
	r.Role = proto.String(role)
	return r
}

func TestScalarSumAndDescribe(t *testing.T) {
	for _, tc := range []struct {
		name string
		res  []*mesos.Resource
		cpus float64
		desc string
	}{
		{"empty", nil, 0, ""},
		{"fixed point", []*mesos.Resource{scheduler.Scalar("cpus", 0.1), scheduler.Scalar("cpus", 0.2)}, 0.3, "cpus:0.3"},
		{"below a thousandth", []*mesos.Resource{scheduler.Scalar("cpus", 0.0004)}, 0, "cpus:0"},
		{"roles add up", []*mesos.Resource{scheduler.Scalar("cpus", 1), reserved(scheduler.Scalar("cpus", 2), "web"), scheduler.Scalar("mem", 512)}, 3, "cpus:3;mem:512"},
		{"ranges merged", []*mesos.Resource{scheduler.Ranges("ports", [][2]uint64{{31005, 31010}, {31000, 31004}}), scheduler.Ranges("ports", [][2]uint64{{32000, 32000}})}, 0, "ports:[31000-31010, 32000-32000]"},
		{"sets", []*mesos.Resource{{Name: proto.String("zones"), Type: mesos.Value_SET.Enum(), Set: &mesos.Value_Set{Item: []string{"a", "b"}}}}, 0, "zones:{a, b}"},
	} {
		if got := scheduler.ScalarSum(tc.res, "cpus"); got != tc.cpus {
			t.Errorf("%s: ScalarSum = %v, want %v", tc.name, got, tc.cpus)
		}
		if got := scheduler.Describe(tc.res); got != tc.desc {
			t.Errorf("%s: Describe = %q, want %q", tc.name, got, tc.desc)
		}
	}
}

func TestResourcesListAndString(t *testing.T) {
	r := scheduler.Resources{Cpus: 0.1, Mem: 32, Ports: 2}
	if got := r.String(); got != "cpus:0.1;mem:32;ports:2" {
		t.Errorf("String = %q", got)
	}
	if got := scheduler.Describe(r.List()); got != "cpus:0.1;mem:32" {
		t.Errorf("List = %q", got)
	}
	if got := (scheduler.Resources{}).String(); got != "nothing" {
		t.Errorf("zero String = %q", got)
	}
}

func offerOf(res ...*mesos.Resource) *mesos.Offer {
	return &mesos.Offer{
		Id:        &mesos.OfferID{Value: proto.String("o1")},
		AgentId:   &mesos.AgentID{Value: proto.String("a1")},
		Hostname:  proto.String("h"),
		Resources: res,
	}
}

func TestPackerReserve(t *testing.T) {
	offer := offerOf(
		scheduler.Scalar("cpus", 1), reserved(scheduler.Scalar("cpus", 0.5), "web"),
		scheduler.Scalar("mem", 100),
		scheduler.Ranges("ports", [][2]uint64{{31000, 31001}, {31010, 31012}}),
	)
	p := scheduler.NewPacker(offer)
	for i, tc := range []struct {
		want    scheduler.Resources
		ok      bool
		taken   string
		remains string
	}{
		{scheduler.Resources{Cpus: 0.4, Mem: 40, Ports: 3}, true, "cpus:0.4;mem:40;ports:[31000-31001, 31010-31010]", "cpus:1.1;mem:60;ports:[31011-31012]"},
		{scheduler.Resources{Cpus: 0.7, Mem: 10}, true, "cpus:0.7;mem:10", "cpus:0.4;mem:50;ports:[31011-31012]"},
		{scheduler.Resources{Cpus: 0.1, Ports: 3}, false, "", "cpus:0.4;mem:50;ports:[31011-31012]"},
		{scheduler.Resources{Mem: 51}, false, "", "cpus:0.4;mem:50;ports:[31011-31012]"},
		{scheduler.Resources{Cpus: 0.4, Mem: 50, Ports: 2}, true, "cpus:0.4;mem:50;ports:[31011-31012]", ""},
	} {
		taken, ok := p.Reserve(tc.want)
		if ok != tc.ok || scheduler.Describe(taken) != tc.taken || scheduler.Describe(p.Remaining()) != tc.remains {
			t.Errorf("step %d: Reserve(%v) = %q, %v; remaining %q; want %q, %v; remaining %q", i, tc.want,
				scheduler.Describe(taken), ok, scheduler.Describe(p.Remaining()), tc.taken, tc.ok, tc.remains)
		}
	}
	// The cpus taken across the unreserved and the reserved entry keep
	// their roles, so the master can match them to the offer.
	p = scheduler.NewPacker(offer)
	taken, _ := p.Reserve(scheduler.Resources{Cpus: 1.2})
	//lint:ignore SA1019 the pre-refinement format is what most offers use
	if len(taken) != 2 || taken[0].GetRole() != "*" || taken[1].GetRole() != "web" || taken[1].GetScalar().GetValue() != 0.2 {
		t.Errorf("split cpus = %v", taken)
	}
}

func TestPackerCopiesAllocationInfo(t *testing.T) {
	ai := &mesos.Resource_AllocationInfo{Role: proto.String("web")}
	offer := offerOf(scheduler.Scalar("cpus", 1), scheduler.Scalar("mem", 64))
	offer.AllocationInfo = ai
	taken, ok := scheduler.NewPacker(offer).Reserve(scheduler.Resources{Cpus: 1, Mem: 64})
	if !ok {
		t.Fatal("does not fit")
	}
	for _, r := range taken {
		if r.GetAllocationInfo().GetRole() != "web" {
			t.Errorf("%v lacks allocation_info", r)
		}
	}
	// Without allocation_info on the offer none is added.
	taken, _ = scheduler.NewPacker(offerOf(scheduler.Scalar("cpus", 1))).Reserve(scheduler.Resources{Cpus: 1})
	if taken[0].AllocationInfo != nil {
		t.Errorf("allocation_info invented: %v", taken[0])
	}
}

func task(id string, res ...*mesos.Resource) *mesos.TaskInfo {
	return &mesos.TaskInfo{Name: proto.String(id), TaskId: &mesos.TaskID{Value: proto.String(id)}, Resources: res}
}

func TestFitTasks(t *testing.T) {
	offer := offerOf(scheduler.Scalar("cpus", 2), scheduler.Scalar("mem", 256),
		scheduler.Ranges("ports", [][2]uint64{{8000, 8010}}),
		reserved(scheduler.Scalar("disk", 100), "db"))
	offer.AllocationInfo = &mesos.Resource_AllocationInfo{Role: proto.String("*")}
	tasks := []*mesos.TaskInfo{
		task("a", scheduler.Scalar("cpus", 1), scheduler.Scalar("mem", 128), scheduler.Ranges("ports", [][2]uint64{{8000, 8000}})),
		task("b", scheduler.Scalar("cpus", 1), scheduler.Ranges("ports", [][2]uint64{{8000, 8000}})), // port taken
		task("c", scheduler.Scalar("cpus", 0.5), scheduler.Scalar("disk", 10)),                       // disk is reserved for db
		task("d", scheduler.Scalar("cpus", 1), reserved(scheduler.Scalar("disk", 100), "db"), scheduler.Ranges("ports", [][2]uint64{{8001, 8010}})),
		task("e", scheduler.Scalar("mem", 1)),
	}
	fitted, rest := scheduler.FitTasks(offer, tasks)
	var names []string
	for _, t := range fitted {
		names = append(names, t.GetName())
	}
	var restNames []string
	for _, t := range rest {
		restNames = append(restNames, t.GetName())
	}
	if got := strings.Join(names, ",") + " / " + strings.Join(restNames, ","); got != "a,d,e / b,c" {
		t.Errorf("fitted / rest = %s", got)
	}
	for _, tk := range fitted {
		if tk.GetAgentId().GetValue() != "a1" {
			t.Errorf("task %s agent_id = %v", tk.GetName(), tk.GetAgentId())
		}
		for _, r := range tk.GetResources() {
			if r.GetAllocationInfo().GetRole() != "*" {
				t.Errorf("task %s resource %v lacks allocation_info", tk.GetName(), r)
			}
		}
	}
	if rest[0].AgentId != nil {
		t.Error("a task that did not fit was modified")
	}
}
