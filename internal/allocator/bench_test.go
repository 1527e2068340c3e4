package allocator

import (
	"fmt"
	"testing"

	"github.com/agora-dev/agora/internal/resources"
)

// BenchmarkAllocate measures one full allocation cycle: every agent
// (cpus:16;mem:65536;disk:1000000;ports:[31000-32000]) is free and offered
// to frameworks spread over four roles. Between iterations, outside the
// timer, every offer is recovered without a filter, so each timed Allocate
// considers all agents again.
//
//	GOMAXPROCS=1 go test -run '^$' -bench Allocate -benchtime 3x ./internal/allocator/
func BenchmarkAllocate(b *testing.B) {
	shapes := []struct{ agents, frameworks int }{
		{5000, 1000}, {10000, 1000}, {20000, 1000}, {10000, 500}, {10000, 2000},
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
		if len(offers) != nAgents {
			b.Fatalf("%d offers, want %d", len(offers), nAgents)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(nAgents*nFrameworks), "ns/pair")
}
