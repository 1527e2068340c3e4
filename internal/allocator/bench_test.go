package allocator

import (
	"fmt"
	"testing"
	"time"

	"github.com/agora-dev/agora/internal/resources"
)

// BenchmarkAllocate measures one full allocation cycle: every agent
// (cpus:16;mem:65536;disk:1000000;ports:[31000-32000]) is free and offered
// to frameworks spread over four roles. Between iterations, outside the
// timer, every offer is recovered without a filter, so each timed Allocate
// considers all agents again.
//
// ns/op is one Allocate call over every agent: the figure to compare with
// one allocate() of Mesos's HierarchicalAllocator benchmarks. The other
// metrics divide it by what the cycle actually did (reportCycle): with no
// filters each agent goes to the first eligible framework, so about one
// (agent, framework) pair per agent is examined, not agents × frameworks.
//
//	GOMAXPROCS=1 go test -run '^$' -bench Allocate -benchtime 3x ./internal/allocator/
func BenchmarkAllocate(b *testing.B) {
	shapes := []struct{ agents, frameworks int }{
		{5000, 1000}, {10000, 1000}, {20000, 1000}, {10000, 500}, {10000, 2000}, {50000, 5000},
	}
	for _, s := range shapes {
		b.Run(fmt.Sprintf("agents=%d/frameworks=%d", s.agents, s.frameworks), func(b *testing.B) {
			benchmarkAllocate(b, s.agents, s.frameworks)
		})
	}
}

func benchmarkAllocate(b *testing.B, nAgents, nFrameworks int) {
	a := New(DefaultConfig())
	total := resources.MustParse("cpus:16;mem:65536;disk:1000000;ports:[31000-32000]")
	for i := range nAgents {
		if err := a.AddAgent(fmt.Sprintf("agent-%05d", i), total, nil); err != nil {
			b.Fatal(err)
		}
	}
	for i := range nFrameworks {
		role := fmt.Sprintf("role-%d", i%4)
		if err := a.AddFramework(fmt.Sprintf("framework-%04d", i), []string{role}, nil, true); err != nil {
			b.Fatal(err)
		}
	}
	var offers []Offer
	var work cycleWork
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		for _, o := range offers {
			if err := a.RecoverResources(o.FrameworkID, o.AgentID, o.Role, o.Resources, 0, t0); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		offers = a.Allocate(t0)
		b.StopTimer()
		if len(offers) != nAgents {
			b.Fatalf("%d offers, want %d", len(offers), nAgents)
		}
		work.add(a)
		b.StartTimer()
	}
	work.report(b, b.Elapsed())
}

// cycleWork sums, over the timed cycles, what each cycle did as the
// allocator counted it (Stats.LastCycle*).
type cycleWork struct {
	cycles, agents, offers, pairs int
}

func (w *cycleWork) add(a *Allocator) {
	s := a.Stats()
	w.cycles++
	w.agents += s.LastCycleAgents
	w.offers += s.LastCycleOffers
	w.pairs += s.LastCyclePairs
}

// report divides the time of the timed cycles by the work they did:
// ns/agent (per agent the cycle considered), ns/offer (per offer made, when
// any was), and pairs/cycle, the (agent, framework) checks per cycle.
func (w *cycleWork) report(b *testing.B, elapsed time.Duration) {
	if w.cycles == 0 {
		return
	}
	ns := float64(elapsed.Nanoseconds())
	if w.agents > 0 {
		b.ReportMetric(ns/float64(w.agents), "ns/agent")
	}
	if w.offers > 0 {
		b.ReportMetric(ns/float64(w.offers), "ns/offer")
	}
	if w.pairs > 0 {
		b.ReportMetric(ns/float64(w.pairs), "ns/pair-examined")
	}
	b.ReportMetric(float64(w.pairs)/float64(w.cycles), "pairs/cycle")
}

// BenchmarkDeclineOffers follows the shape of Mesos's DeclineOffers
// allocator benchmark (docs/performance.md B1): agents
// cpus:24;mem:4096;disk:4096;ports:[31000-32000] with 16 cpus and 16 ports
// already used round-robin by the frameworks, one role, and frameworks that
// decline every offer with a filter that never expires. "first" times the
// first allocation round; "steady" times a round once every framework has
// declined every agent (the allocator must still look at every pair, and
// pairs/cycle shows it does).
//
//	GOMAXPROCS=1 go test -run '^$' -bench DeclineOffers -benchtime 3x ./internal/allocator/
func BenchmarkDeclineOffers(b *testing.B) {
	for _, s := range []struct{ agents, frameworks int }{
		{1000, 100}, {2000, 200}, {2000, 2000}, {5000, 500}, {10000, 1000}, {20000, 2000},
	} {
		name := fmt.Sprintf("agents=%d/frameworks=%d", s.agents, s.frameworks)
		b.Run(name+"/first", func(b *testing.B) { benchmarkDecline(b, s.agents, s.frameworks, false) })
		// Reaching the steady state takes one round per framework, so it
		// is measured on the smaller shapes only.
		if s.frameworks <= 200 {
			b.Run(name+"/steady", func(b *testing.B) { benchmarkDecline(b, s.agents, s.frameworks, true) })
		}
	}
}

func declineCluster(b *testing.B, nAgents, nFrameworks int) *Allocator {
	a := New(DefaultConfig())
	for i := range nFrameworks {
		if err := a.AddFramework(fmt.Sprintf("framework-%04d", i), []string{"*"}, nil, true); err != nil {
			b.Fatal(err)
		}
	}
	total := resources.MustParse("cpus:24;mem:4096;disk:4096;ports:[31000-32000]")
	for i := range nAgents {
		used := resources.NewScalar(resources.CPUs, 16)
		for p := range 16 {
			port := uint64(31000 + 2*p)
			used = used.Add(resources.NewRanges(resources.Ports, resources.Range{Begin: port, End: port}))
		}
		fw := fmt.Sprintf("framework-%04d", i%nFrameworks)
		alloc := map[string]map[string]resources.Resources{fw: {"*": used}}
		if err := a.AddAgent(fmt.Sprintf("agent-%05d", i), total, alloc); err != nil {
			b.Fatal(err)
		}
	}
	return a
}

func benchmarkDecline(b *testing.B, nAgents, nFrameworks int, steady bool) {
	const forever = 365 * 24 * time.Hour
	b.ReportAllocs()
	var steadyTotal time.Duration
	var work cycleWork
	for b.Loop() {
		b.StopTimer()
		a := declineCluster(b, nAgents, nFrameworks)
		if !steady {
			b.StartTimer()
			offers := a.Allocate(t0)
			b.StopTimer()
			if len(offers) != nAgents {
				b.Fatalf("first round made %d offers, want %d", len(offers), nAgents)
			}
			work.add(a)
			b.StartTimer()
			continue
		}
		// Decline every offer with a filter that never expires, round
		// after round; the round that finds nothing left to offer (every
		// framework filtered on every agent, every agent looked at again)
		// is the steady-state round, timed by hand.
		for rounds := 0; ; rounds++ {
			start := time.Now()
			offers := a.Allocate(t0)
			if len(offers) == 0 {
				steadyTotal += time.Since(start)
				work.add(a)
				break
			}
			if rounds > nFrameworks+1 {
				b.Fatalf("still %d offers after %d rounds", len(offers), rounds)
			}
			for _, o := range offers {
				if err := a.RecoverResources(o.FrameworkID, o.AgentID, o.Role, o.Resources, forever, t0); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.StartTimer()
	}
	if steady {
		b.ReportMetric(float64(steadyTotal.Nanoseconds())/float64(work.cycles), "steady-ns/round")
		work.report(b, steadyTotal)
		return
	}
	work.report(b, b.Elapsed())
}
