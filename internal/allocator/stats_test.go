package allocator

import (
	"fmt"
	"testing"
	"time"
)

// TestCycleCountsPairs: Stats.LastCyclePairs counts the (agent, framework)
// checks a cycle actually makes. With no filters each agent goes to the first
// eligible framework, one check per agent; only when every framework has
// filtered every agent does a cycle look at agents × frameworks pairs. The
// benchmarks divide by these counts, not by agents × frameworks.
func TestCycleCountsPairs(t *testing.T) {
	const agents, frameworks = 20, 5
	a := New(DefaultConfig())
	for i := range agents {
		must(t, a.AddAgent(fmt.Sprintf("a%02d", i), res("cpus:4;mem:4096"), nil))
	}
	for i := range frameworks {
		must(t, a.AddFramework(fmt.Sprintf("f%d", i), []string{"r"}, nil, true))
	}
	offers := a.Allocate(t0)
	s := a.Stats()
	if len(offers) != agents || s.LastCycleOffers != agents || s.LastCycleAgents != agents || s.LastCyclePairs != agents {
		t.Fatalf("first cycle: %d offers, stats %+v; want %d offers, agents and pairs", len(offers), s, agents)
	}
	// Decline everything forever, cycle after cycle, until no offer is
	// made: that cycle checks every framework on every agent.
	for round := 0; len(offers) > 0; round++ {
		if round > frameworks {
			t.Fatalf("still %d offers after %d rounds", len(offers), round)
		}
		for _, o := range offers {
			must(t, a.RecoverResources(o.FrameworkID, o.AgentID, o.Role, o.Resources, time.Hour, t0))
		}
		offers = a.Allocate(t0)
	}
	if s := a.Stats(); s.LastCycleOffers != 0 || s.LastCyclePairs != agents*frameworks {
		t.Fatalf("all-filtered cycle: stats %+v; want 0 offers and %d pairs", s, agents*frameworks)
	}
}
