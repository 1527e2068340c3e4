package allocator

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/agora-dev/agora/internal/resources"
)

// TestRandomEvents drives the allocator with random event sequences and
// checks after every event that the bookkeeping is consistent (see
// checkInvariants): in particular sum(allocated) ⊆ total on every agent, so
// nothing is ever offered twice. It also checks each offer against the
// agent's free resources just before the cycle.
func TestRandomEvents(t *testing.T) {
	seeds, steps := 40, 400
	if testing.Short() {
		seeds = 10
	}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { randomRun(t, seed, steps) })
	}
}

func randomRun(t *testing.T, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, 7))
	cfg := DefaultConfig()
	cfg.Seed = seed
	a := New(cfg)
	now := t0
	roles := []string{"a", "b", "c", "*"}
	shapes := []string{
		"cpus:4;mem:1024;ports:[1000-1010]",
		"cpus:2;mem:512;cpus(a):1;mem(a):256;ports(a):[80-80];disk:100",
		"cpus:1;mem:100;gpus:1;foo:{x,y}",
		"mem:32",
	}
	var agents, fws []string
	offers, recoveries := 0, 0
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	for step := range steps {
		var err error
		op := rng.IntN(14)
		switch {
		case op == 0 || len(agents) == 0:
			id := fmt.Sprintf("ag%d", step)
			err = a.AddAgent(id, resources.MustParse(pick(shapes)), nil)
			agents = append(agents, id)
		case op == 1 || len(fws) == 0:
			id := fmt.Sprintf("fw%d", step)
			rs := []string{pick(roles)}
			if rng.IntN(2) == 0 {
				rs = append(rs, pick(roles))
			}
			err = a.AddFramework(id, dedupe(rs), nil, rng.IntN(4) > 0)
			fws = append(fws, id)
		case op == 2 && len(agents) > 1:
			i := rng.IntN(len(agents))
			err = a.RemoveAgent(agents[i])
			agents = append(agents[:i], agents[i+1:]...)
		case op == 3 && len(fws) > 1:
			i := rng.IntN(len(fws))
			err = a.RemoveFramework(fws[i])
			fws = append(fws[:i], fws[i+1:]...)
		case op == 4:
			err = a.Suppress(pick(fws), []string{pick(roles)})
		case op == 5:
			err = a.Revive(pick(fws), nil)
		case op == 6:
			if rng.IntN(2) == 0 {
				err = a.DeactivateFramework(pick(fws))
			} else {
				err = a.ActivateFramework(pick(fws))
			}
		case op == 7:
			if rng.IntN(2) == 0 {
				err = a.DeactivateAgent(pick(agents))
			} else {
				err = a.ActivateAgent(pick(agents))
			}
		case op == 8:
			err = a.UpdateFramework(pick(fws), dedupe([]string{pick(roles), pick(roles)}), []string{pick(roles)})
		case op == 9:
			err = a.SetWeight(pick(roles[:3]), float64(rng.IntN(3)+1))
		case op <= 11:
			// Recover all or half of something allocated, maybe with a filter.
			rep, _ := a.Agent(pick(agents))
			for fw, m := range rep.Allocated {
				for role, r := range m {
					if rng.IntN(2) == 0 {
						r = half(r)
					}
					refuse := time.Duration(rng.IntN(3)) * time.Second
					recoveries++
					if err := a.RecoverResources(fw, rep.ID, role, r, refuse, now); err != nil {
						t.Fatalf("step %d: recover %v: %v", step, r, err)
					}
					break
				}
				break
			}
		default:
			now = now.Add(time.Duration(rng.IntN(1500)) * time.Millisecond)
			free := map[string]resources.Resources{}
			for _, id := range agents {
				rep, _ := a.Agent(id)
				free[id] = rep.Free
			}
			for _, o := range a.Allocate(now) {
				offers++
				if !free[o.AgentID].Contains(o.Resources) {
					t.Fatalf("step %d: offer %v of %v not within free %v", step, o.AgentID, o.Resources, free[o.AgentID])
				}
				free[o.AgentID] = free[o.AgentID].Subtract(o.Resources)
			}
		}
		if err != nil {
			t.Fatalf("step %d (op %d): %v", step, op, err)
		}
		checkInvariants(t, a)
	}
	if offers == 0 || recoveries == 0 {
		t.Fatalf("a run with %d offers and %d recoveries tests little", offers, recoveries)
	}
}

func dedupe(s []string) []string {
	var out []string
	for _, x := range s {
		found := false
		for _, y := range out {
			found = found || x == y
		}
		if !found {
			out = append(out, x)
		}
	}
	return out
}

// half keeps every other entry, and half of each scalar.
func half(r resources.Resources) resources.Resources {
	var out resources.Resources
	for e := range r.All() {
		switch e.Kind {
		case resources.KindScalar:
			out = out.Add(resources.NewScalar(e.Name, float64(e.Milli/2)/1000).Reserve(e.Role))
		case resources.KindRanges:
			out = out.Add(resources.NewRanges(e.Name, e.Ranges[0]).Reserve(e.Role))
		case resources.KindSet:
			out = out.Add(resources.NewSet(e.Name, e.Set[0]).Reserve(e.Role))
		}
	}
	return out
}
