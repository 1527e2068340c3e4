package allocator

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agora-dev/agora/internal/resources"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func res(s string) resources.Resources { return resources.MustParse(s) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// show formats offers as "framework@agent(role) resources", sorted.
func show(offers []Offer) []string {
	out := make([]string, 0, len(offers))
	for _, o := range offers {
		out = append(out, fmt.Sprintf("%s@%s(%s) %v", o.FrameworkID, o.AgentID, o.Role, o.Resources))
	}
	slices.Sort(out)
	return out
}

func expectOffers(t *testing.T, a *Allocator, now time.Time, want ...string) []Offer {
	t.Helper()
	offers := a.Allocate(now)
	got := show(offers)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("offers:\n  got  %q\n  want %q", got, want)
	}
	checkInvariants(t, a)
	return offers
}

func share(t *testing.T, a *Allocator, fw, role string) float64 {
	t.Helper()
	rep, ok := a.Framework(fw)
	if !ok {
		t.Fatalf("framework %q unknown", fw)
	}
	for _, r := range rep.Roles {
		if r.Role == role {
			return r.Share
		}
	}
	t.Fatalf("framework %q has no role %q", fw, role)
	return 0
}

func expectShare(t *testing.T, a *Allocator, fw, role string, want float64) {
	t.Helper()
	if got := share(t, a, fw, role); got < want-1e-9 || got > want+1e-9 {
		t.Fatalf("share of %s in %s = %v, want %v", fw, role, got, want)
	}
}

func reason(t *testing.T, a *Allocator, fw, role string) Reason {
	t.Helper()
	rep, _ := a.Framework(fw)
	for _, r := range rep.Roles {
		if r.Role == role {
			return r.Reason
		}
	}
	t.Fatalf("framework %q has no role %q", fw, role)
	return 0
}

// TestUnreservedDRF follows Mesos's UnreservedDRF shape: two frameworks in
// one role, one agent then two.
func TestUnreservedDRF(t *testing.T) {
	a := New(DefaultConfig())
	must(t, a.AddAgent("agent1", res("cpus:2;mem:1024"), nil))
	must(t, a.AddFramework("fw1", []string{"r"}, nil, true))
	must(t, a.AddFramework("fw2", []string{"r"}, nil, true))

	// Both shares are 0; the tie goes to fw1 by name. fw1 gets all of agent1.
	expectOffers(t, a, t0, "fw1@agent1(r) cpus:2; mem:1024")
	// Cluster: cpus 2, mem 1024. fw1 = max(2/2, 1024/1024) = 1, fw2 = 0.
	expectShare(t, a, "fw1", "r", 1)
	expectShare(t, a, "fw2", "r", 0)
	if r := reason(t, a, "fw2", "r"); r != ReasonNoResources {
		t.Fatalf("fw2 reason = %v, want NO_RESOURCES", r)
	}

	// A second, smaller agent. Cluster: cpus 3, mem 1536; fw1 = 2/3.
	must(t, a.AddAgent("agent2", res("cpus:1;mem:512"), nil))
	expectShare(t, a, "fw1", "r", 2.0/3)
	// fw2 (0) is below fw1 (2/3): agent2 goes to fw2, whose share becomes 1/3.
	expectOffers(t, a, t0, "fw2@agent2(r) cpus:1; mem:512")
	expectShare(t, a, "fw2", "r", 1.0/3)

	// fw1 declines without a filter: fw1 = 0 < fw2 = 1/3, so fw1 is first
	// again and agent1 comes straight back to it.
	must(t, a.RecoverResources("fw1", "agent1", "r", res("cpus:2;mem:1024"), 0, t0))
	expectShare(t, a, "fw1", "r", 0)
	expectOffers(t, a, t0, "fw1@agent1(r) cpus:2; mem:1024")

	// Nothing is free any more: a new cycle offers nothing.
	if a.Pending(t0) {
		t.Fatalf("Pending after a cycle with no events")
	}
	expectOffers(t, a, t0)
}

// TestWeightedRoles: role a has weight 2, role b weight 1, four equal agents.
func TestWeightedRoles(t *testing.T) {
	a := New(DefaultConfig())
	must(t, a.SetWeight("a", 2))
	for i := 1; i <= 4; i++ {
		must(t, a.AddAgent(fmt.Sprintf("agent%d", i), res("cpus:1;mem:100"), nil))
	}
	must(t, a.AddFramework("fa", []string{"a"}, nil, true))
	must(t, a.AddFramework("fb", []string{"b"}, nil, true))
	offers := a.Allocate(t0)
	checkInvariants(t, a)
	// Agent by agent (each is 1/4 of the cluster), weighted shares a/2 vs b:
	//   0 vs 0     → a (tie, by name)    a = 0.25/2 = 0.125
	//   0.125 vs 0 → b                   b = 0.25
	//   0.125 vs 0.25 → a                a = 0.5/2 = 0.25
	//   0.25 vs 0.25 → a (tie)           a = 0.75/2 = 0.375
	// so a gets three agents and b one, whatever the shuffle.
	count := map[string]int{}
	for _, o := range offers {
		count[o.Role]++
	}
	if count["a"] != 3 || count["b"] != 1 {
		t.Fatalf("offers per role = %v, want a:3 b:1", count)
	}
	expectShare(t, a, "fa", "a", 0.75)
	expectShare(t, a, "fb", "b", 0.25)
}

// TestReservedResources: reserved resources go only to the reserving role.
func TestReservedResources(t *testing.T) {
	a := New(DefaultConfig())
	must(t, a.AddAgent("agent1", res("cpus:4;mem:1024;cpus(web):2;mem(web):512;ports(web):[80-80]"), nil))
	must(t, a.AddFramework("other", []string{"other"}, nil, true))
	must(t, a.AddFramework("web1", []string{"web"}, nil, true))
	// Both roles are at 0; "other" sorts first by name and takes everything
	// unreserved; "web" then gets the reserved part only.
	expectOffers(t, a, t0,
		"other@agent1(other) cpus:4; mem:1024",
		"web1@agent1(web) cpus(web):2; mem(web):512; ports(web):[80-80]")
	// Cluster: cpus 6, mem 1536. other = max(4/6, 1024/1536) = 2/3;
	// web = max(2/6, 512/1536) = 1/3.
	expectShare(t, a, "other", "other", 2.0/3)
	expectShare(t, a, "web1", "web", 1.0/3)

	// web1 gives everything back; other never sees the reserved resources.
	must(t, a.RecoverResources("web1", "agent1", "web", res("cpus(web):2;mem(web):512;ports(web):[80-80]"), time.Hour, t0))
	expectOffers(t, a, t0)
	// A web framework without the filter gets both its reservation and,
	// once other declines, the unreserved part in the same role.
	must(t, a.AddFramework("web2", []string{"web"}, nil, true))
	must(t, a.RecoverResources("other", "agent1", "other", res("cpus:4;mem:1024"), time.Hour, t0))
	expectOffers(t, a, t0, "web2@agent1(web) cpus:4; cpus(web):2; mem:1024; mem(web):512; ports(web):[80-80]")
}

// TestFilters: a decline with refuse_seconds keeps the agent away from that
// framework until the filter expires or the framework revives.
func TestFilters(t *testing.T) {
	a := New(DefaultConfig())
	must(t, a.AddAgent("agent1", res("cpus:1;mem:512"), nil))
	must(t, a.AddFramework("fw", []string{"r"}, nil, true))
	all := "fw@agent1(r) cpus:1; mem:512"
	expectOffers(t, a, t0, all)

	must(t, a.RecoverResources("fw", "agent1", "r", res("cpus:1;mem:512"), 5*time.Second, t0))
	if exp, ok := a.NextFilterExpiry(); !ok || !exp.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("NextFilterExpiry = %v, %v", exp, ok)
	}
	expectOffers(t, a, t0.Add(time.Second))
	if r := reason(t, a, "fw", "r"); r != ReasonFiltered {
		t.Fatalf("reason = %v, want FILTERED", r)
	}
	if a.Pending(t0.Add(4 * time.Second)) {
		t.Fatalf("Pending before the filter expires")
	}
	// At now+refuse the filter has expired.
	if !a.Pending(t0.Add(5 * time.Second)) {
		t.Fatalf("not Pending when the filter expires")
	}
	expectOffers(t, a, t0.Add(5*time.Second), all)

	// A long filter, cleared by Revive.
	must(t, a.RecoverResources("fw", "agent1", "r", res("cpus:1;mem:512"), time.Hour, t0))
	expectOffers(t, a, t0.Add(time.Minute))
	must(t, a.Revive("fw", nil))
	expectOffers(t, a, t0.Add(time.Minute), all)

	// A filter for one framework does not affect another.
	must(t, a.AddFramework("fw2", []string{"r"}, nil, true))
	must(t, a.RecoverResources("fw", "agent1", "r", res("cpus:1;mem:512"), time.Hour, t0))
	expectOffers(t, a, t0, "fw2@agent1(r) cpus:1; mem:512")
}

func TestSuppressAndDeactivate(t *testing.T) {
	a := New(DefaultConfig())
	must(t, a.AddAgent("agent1", res("cpus:1;mem:512"), nil))
	must(t, a.AddFramework("fw", []string{"r", "s"}, []string{"s"}, true))
	// Suppressed in s from the start; r gets the agent.
	expectOffers(t, a, t0, "fw@agent1(r) cpus:1; mem:512")
	if r := reason(t, a, "fw", "s"); r != ReasonSuppressed {
		t.Fatalf("reason in s = %v, want SUPPRESSED", r)
	}
	must(t, a.Suppress("fw", nil))
	must(t, a.RecoverResources("fw", "agent1", "r", res("cpus:1;mem:512"), 0, t0))
	expectOffers(t, a, t0)
	must(t, a.Revive("fw", []string{"s"}))
	expectOffers(t, a, t0, "fw@agent1(s) cpus:1; mem:512")
	must(t, a.RecoverResources("fw", "agent1", "s", res("cpus:1;mem:512"), 0, t0))

	must(t, a.Revive("fw", nil))
	must(t, a.DeactivateFramework("fw"))
	expectOffers(t, a, t0)
	if r := reason(t, a, "fw", "r"); r != ReasonInactive {
		t.Fatalf("reason = %v, want INACTIVE", r)
	}
	must(t, a.ActivateFramework("fw"))
	expectOffers(t, a, t0, "fw@agent1(r) cpus:1; mem:512")

	// A deactivated agent is not offered.
	must(t, a.RecoverResources("fw", "agent1", "r", res("cpus:1;mem:512"), 0, t0))
	must(t, a.DeactivateAgent("agent1"))
	expectOffers(t, a, t0)
	must(t, a.ActivateAgent("agent1"))
	expectOffers(t, a, t0, "fw@agent1(r) cpus:1; mem:512")
}

func TestRemoveAgentWithAllocation(t *testing.T) {
	a := New(DefaultConfig())
	must(t, a.AddAgent("agent1", res("cpus:1;mem:512"), nil))
	must(t, a.AddAgent("agent2", res("cpus:1;mem:512"), nil))
	must(t, a.AddFramework("fw", []string{"r"}, nil, true))
	expectOffers(t, a, t0, "fw@agent1(r) cpus:1; mem:512", "fw@agent2(r) cpus:1; mem:512")
	must(t, a.RemoveAgent("agent1"))
	checkInvariants(t, a)
	// The cluster is now agent2 alone, all of it allocated to fw.
	expectShare(t, a, "fw", "r", 1)
	// The master rescinds the offer on agent1; the resources went with it.
	must(t, a.RecoverResources("fw", "agent1", "r", res("cpus:1;mem:512"), 0, t0))
	if s := a.Stats(); s.Agents != 1 || s.Allocated["cpus"] != 1 || s.Total["cpus"] != 1 {
		t.Fatalf("stats = %+v", s)
	}
	if err := a.RemoveAgent("agent1"); !errors.Is(err, ErrUnknownAgent) {
		t.Fatalf("second RemoveAgent: %v", err)
	}
	expectOffers(t, a, t0)
}

// TestPartialUseAndRecovery: the master launches a task on part of an offer
// and returns the rest; only the rest is offered again, never the task's.
func TestPartialUseAndRecovery(t *testing.T) {
	a := New(DefaultConfig())
	must(t, a.AddAgent("agent1", res("cpus:2;mem:1024;ports:[31000-31009]"), nil))
	must(t, a.AddFramework("fw", []string{"r"}, nil, true))
	expectOffers(t, a, t0, "fw@agent1(r) cpus:2; mem:1024; ports:[31000-31009]")
	// ACCEPT with a task of cpus:0.5;mem:128;ports:[31005-31005]; the rest
	// is declined implicitly (no filter here).
	must(t, a.RecoverResources("fw", "agent1", "r", res("cpus:1.5;mem:896;ports:[31000-31004,31006-31009]"), 0, t0))
	expectOffers(t, a, t0, "fw@agent1(r) cpus:1.5; mem:896; ports:[31000-31004, 31006-31009]")
	// The task finishes: its resources come back and are offered alone.
	must(t, a.RecoverResources("fw", "agent1", "r", res("cpus:0.5;mem:128;ports:[31005-31005]"), 0, t0))
	expectOffers(t, a, t0, "fw@agent1(r) cpus:0.5; mem:128; ports:[31005-31005]")
	rep, _ := a.Agent("agent1")
	if !rep.Free.IsEmpty() || !rep.Allocated["fw"]["r"].Equal(rep.Total) {
		t.Fatalf("agent report = %+v", rep)
	}
	// Recovering more than allocated is reported and clamped.
	must(t, a.RecoverResources("fw", "agent1", "r", res("cpus:2;mem:1024;ports:[31000-31009]"), 0, t0))
	err := a.RecoverResources("fw", "agent1", "r", res("cpus:1"), 0, t0)
	if !errors.Is(err, ErrInconsistent) {
		t.Fatalf("over-recovery: err = %v, want ErrInconsistent", err)
	}
	checkInvariants(t, a)
}

func TestMinimumAllocatable(t *testing.T) {
	a := New(DefaultConfig())
	must(t, a.AddAgent("crumbs", res("cpus:0.005;mem:16;disk:100;ports:[1-2]"), nil))
	must(t, a.AddAgent("memonly", res("mem:32"), nil))
	must(t, a.AddFramework("fw", []string{"r"}, nil, true))
	// crumbs has less than 0.01 cpus and less than 32 MB: not offered.
	expectOffers(t, a, t0, "fw@memonly(r) mem:32")
}

// TestRecoveredAgent: after a master failover an agent reports what its
// tasks use, possibly for frameworks that have not resubscribed yet.
func TestRecoveredAgent(t *testing.T) {
	a := New(DefaultConfig())
	used := map[string]map[string]resources.Resources{"fw": {"r": res("cpus:3;mem:100")}}
	must(t, a.AddAgent("agent1", res("cpus:4;mem:400"), used))
	must(t, a.AddAgent("agent2", res("cpus:4;mem:400"), nil))
	if s := a.Stats(); s.Frameworks != 0 || s.Allocated["cpus"] != 3 {
		t.Fatalf("stats before the framework resubscribes = %+v", s)
	}
	// fw is a placeholder: inactive, so no offers yet.
	must(t, a.AddFramework("other", []string{"r"}, nil, true))
	// other (0) < fw (3/8): other gets both agents' free resources.
	expectOffers(t, a, t0, "other@agent1(r) cpus:1; mem:300", "other@agent2(r) cpus:4; mem:400")
	must(t, a.AddFramework("fw", []string{"r"}, nil, true))
	expectShare(t, a, "fw", "r", 3.0/8)
	if err := a.AddFramework("fw", []string{"r"}, nil, true); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate AddFramework: %v", err)
	}
	// An agent whose tasks exceed its total is added with what fits.
	err := a.AddAgent("agent3", res("cpus:1"), map[string]map[string]resources.Resources{"fw": {"r": res("cpus:2")}})
	if !errors.Is(err, ErrInconsistent) {
		t.Fatalf("over-committed agent: err = %v", err)
	}
	checkInvariants(t, a)
}

func TestRemoveFrameworkReturnsResources(t *testing.T) {
	a := New(DefaultConfig())
	must(t, a.AddAgent("agent1", res("cpus:1;mem:512"), nil))
	must(t, a.AddFramework("fw1", []string{"r"}, nil, true))
	must(t, a.AddFramework("fw2", []string{"r"}, nil, true))
	expectOffers(t, a, t0, "fw1@agent1(r) cpus:1; mem:512")
	must(t, a.RemoveFramework("fw1"))
	expectOffers(t, a, t0, "fw2@agent1(r) cpus:1; mem:512")
	if _, ok := a.Framework("fw1"); ok {
		t.Fatalf("fw1 still known")
	}
	if err := a.ActivateFramework("fw1"); !errors.Is(err, ErrUnknownFramework) {
		t.Fatalf("ActivateFramework(removed): %v", err)
	}
	// Leaving a role keeps its allocation accounted until recovered.
	must(t, a.UpdateFramework("fw2", []string{"s"}, nil))
	if r := reason(t, a, "fw2", "r"); r != ReasonNotSubscribed {
		t.Fatalf("reason = %v", r)
	}
	must(t, a.RecoverResources("fw2", "agent1", "r", res("cpus:1;mem:512"), 0, t0))
	expectOffers(t, a, t0, "fw2@agent1(s) cpus:1; mem:512")
	rep, _ := a.Framework("fw2")
	if len(rep.Roles) != 1 || rep.Roles[0].Role != "s" {
		t.Fatalf("roles after leaving r and recovering = %+v", rep.Roles)
	}
}

func TestBatchingAndDeterminism(t *testing.T) {
	build := func() *Allocator {
		a := New(DefaultConfig())
		for i := range 20 {
			must(t, a.AddAgent(fmt.Sprintf("a%02d", i), res("cpus:1;mem:100"), nil))
		}
		for i := range 5 {
			must(t, a.AddFramework(fmt.Sprintf("f%d", i), []string{"r"}, nil, true))
		}
		return a
	}
	x, y := build(), build()
	ox, oy := x.Allocate(t0), y.Allocate(t0)
	if len(ox) != 20 {
		t.Fatalf("%d offers, want 20", len(ox))
	}
	for i := range ox {
		if ox[i].AgentID != oy[i].AgentID || ox[i].FrameworkID != oy[i].FrameworkID {
			t.Fatalf("same seed, different offers at %d: %v vs %v", i, ox[i], oy[i])
		}
	}
	// DRF spreads 20 equal agents evenly: 4 each.
	per := map[string]int{}
	for _, o := range ox {
		per[o.FrameworkID]++
	}
	for fw, n := range per {
		if n != 4 {
			t.Fatalf("%s got %d agents, want 4 (%v)", fw, n, per)
		}
	}
	// Only the agent whose resources came back is considered next cycle.
	must(t, x.RecoverResources(ox[0].FrameworkID, ox[0].AgentID, "r", ox[0].Resources, 0, t0))
	if !x.Pending(t0) {
		t.Fatalf("not pending after a recovery")
	}
	x.Allocate(t0)
	if s := x.Stats(); s.LastCycleAgents != 1 || s.LastCycleOffers != 1 {
		t.Fatalf("stats after a one-agent cycle: %+v", s)
	}
	if x.Pending(t0) {
		t.Fatalf("pending after the cycle")
	}
	must(t, x.Suppress("f0", nil))
	if x.Pending(t0) {
		t.Fatalf("Suppress made the allocator pending")
	}
}

func TestErrors(t *testing.T) {
	a := New(DefaultConfig())
	if err := a.AddFramework("fw", []string{"bad role"}, nil, true); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad role: %v", err)
	}
	must(t, a.AddAgent("agent1", res("cpus:1"), nil))
	if err := a.AddAgent("agent1", res("cpus:1"), nil); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate agent: %v", err)
	}
	for name, err := range map[string]error{
		"Suppress":   a.Suppress("nope", nil),
		"Revive":     a.Revive("nope", nil),
		"Deactivate": a.DeactivateFramework("nope"),
		"Update":     a.UpdateFramework("nope", nil, nil),
		"Remove":     a.RemoveFramework("nope"),
	} {
		if !errors.Is(err, ErrUnknownFramework) || !strings.Contains(err.Error(), `"nope"`) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := a.ActivateAgent("nope"); !errors.Is(err, ErrUnknownAgent) {
		t.Errorf("ActivateAgent: %v", err)
	}
	if err := (Config{MinCPUs: -1}).Validate(); err == nil {
		t.Errorf("negative minimum accepted")
	}
}

// checkInvariants verifies the bookkeeping against a recomputation from
// scratch: per agent, free + allocations == total and allocations fit in
// total (so nothing is allocated twice); per client and role, accounted
// quantities equal the sum of allocations; and the DRF orders are sorted.
func checkInvariants(t *testing.T, a *Allocator) {
	t.Helper()
	clientSum := map[*client]quantities{}
	var total quantities
	for i, ag := range a.agentList {
		if ag.idx != i || a.agents[ag.id] != ag {
			t.Fatalf("agent index broken for %q", ag.id)
		}
		total.add(ag.totalQ)
		var used resources.Resources
		for _, al := range ag.allocs {
			if !used.Add(al.r).Contains(used) || al.r.IsEmpty() {
				t.Fatalf("agent %q: bad allocation %v", ag.id, al.r)
			}
			// Allocations are disjoint from each other and from free.
			if overlap := used.Subtract(used.Subtract(al.r)); !overlap.IsEmpty() && hasNonScalar(overlap) {
				t.Fatalf("agent %q: %v allocated twice", ag.id, overlap)
			}
			used = used.Add(al.r)
			q := clientSum[al.c]
			q.add(quantitiesOf(al.r))
			clientSum[al.c] = q
		}
		if !ag.total.Contains(used) {
			t.Fatalf("agent %q: allocated %v exceeds total %v", ag.id, used, ag.total)
		}
		if !used.Add(ag.free).Equal(ag.total) {
			t.Fatalf("agent %q: allocated %v + free %v != total %v", ag.id, used, ag.free, ag.total)
		}
	}
	if total != a.total {
		t.Fatalf("cluster total %v, recomputed %v", a.total, total)
	}
	for _, r := range a.roleList {
		if a.roles[r.name] != r {
			t.Fatalf("role %q not indexed", r.name)
		}
		var rq quantities
		for i, c := range r.clients {
			if c.alloc != clientSum[c] {
				t.Fatalf("client %s/%s accounted %v, allocations sum to %v", c.fw.id, r.name, c.alloc, clientSum[c])
			}
			if c.fw.clients[r.name] != c {
				t.Fatalf("client %s/%s not indexed", c.fw.id, r.name)
			}
			if i > 0 && cmpClient(r.clients[i-1].share, r.clients[i-1].fw.id, c) >= 0 {
				t.Fatalf("role %q clients out of order", r.name)
			}
			if !a.stale && c.share != a.share(c.alloc) {
				t.Fatalf("client %s/%s share %v, want %v", c.fw.id, r.name, c.share, a.share(c.alloc))
			}
			rq.add(c.alloc)
		}
		if rq != r.alloc {
			t.Fatalf("role %q accounted %v, clients sum to %v", r.name, r.alloc, rq)
		}
	}
	for i := 1; i < len(a.roleList); i++ {
		if cmpRole(a.roleList[i-1].key, a.roleList[i-1].name, a.roleList[i]) >= 0 {
			t.Fatalf("roles out of order")
		}
	}
	if len(a.roleList) != len(a.roles) {
		t.Fatalf("%d roles indexed, %d sorted", len(a.roles), len(a.roleList))
	}
	n := 0
	for _, ag := range a.agentList {
		for _, f := range ag.filters {
			if _, ok := f.c.filtered[ag]; !ok {
				t.Fatalf("filter on %q not indexed by its client", ag.id)
			}
			n++
		}
	}
	if n != a.filterCount {
		t.Fatalf("filterCount %d, counted %d", a.filterCount, n)
	}
}

func hasNonScalar(r resources.Resources) bool {
	for e := range r.All() {
		if e.Kind != resources.KindScalar {
			return true
		}
	}
	return false
}
