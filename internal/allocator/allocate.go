package allocator

import (
	"cmp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/agora-dev/agora/internal/resources"
)

// Allocate runs one allocation cycle at now and returns the offers made, in
// the order they were made. Offered resources are allocated to the
// offer's framework and role until recovered. See the package
// documentation for the algorithm.
func (a *Allocator) Allocate(now time.Time) []Offer {
	a.expireFilters(now)
	if a.stale {
		a.resort()
	}
	a.cycles++
	var cands []*agent
	if a.dirtyAll {
		cands = append(a.scratchAgents[:0], a.agentList...)
	} else {
		cands = a.scratchAgents[:0]
		for _, ag := range a.candidates {
			if !ag.removed {
				cands = append(cands, ag)
			}
		}
	}
	for _, ag := range a.candidates {
		ag.candidate = false
	}
	clear(a.candidates)
	a.candidates = a.candidates[:0]
	a.dirtyAll = false
	a.lastOffers, a.lastAgents, a.lastPairs = 0, len(cands), 0

	eligible := false
	for _, r := range a.roleList {
		r.eligible = 0
		for _, c := range r.clients {
			c.eligible = c.subscribed && c.fw.active && !c.suppressed
			if c.eligible {
				r.eligible++
				c.lastCycle, c.lastOffered, c.lastFiltered = a.cycles, 0, 0
			}
		}
		eligible = eligible || r.eligible > 0
	}
	if !eligible || len(cands) == 0 {
		a.scratchAgents = cands
		clear(cands)
		return nil
	}
	a.rng.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })

	var offers []Offer
	for _, ag := range cands {
		if !ag.active || !a.allocatable(ag.free) {
			continue
		}
		a.stamp++
		for _, f := range ag.filters {
			f.c.mark = a.stamp
		}
		roles := a.roleList
		if len(roles) > 1 {
			// Offers re-sort roleList; iterate over this agent's snapshot.
			a.scratchRoles = append(a.scratchRoles[:0], a.roleList...)
			roles = a.scratchRoles
		}
		for _, r := range roles {
			if r.eligible == 0 {
				continue
			}
			avail, rest := ag.free.SplitAllocatable(r.name)
			if !a.allocatable(avail) {
				continue
			}
			for _, c := range r.clients {
				if !c.eligible {
					continue
				}
				a.lastPairs++
				if c.mark == a.stamp {
					c.lastFiltered++
					continue
				}
				ag.free = rest
				a.addAllocation(ag, c, avail)
				c.lastOffered++
				offers = append(offers, Offer{FrameworkID: c.fw.id, AgentID: ag.id, Role: r.name, Resources: avail})
				break
			}
			if !a.allocatable(ag.free) {
				break
			}
		}
	}
	clear(a.scratchRoles)
	clear(cands)
	a.scratchAgents = cands
	a.lastOffers = len(offers)
	return offers
}

// allocatable applies the minimum: at least MinCPUs cpus or MinMemMB mem.
func (a *Allocator) allocatable(r resources.Resources) bool {
	if r.IsEmpty() {
		return false
	}
	var cpus, mem int64
	for e := range r.All() {
		if e.Kind != resources.KindScalar {
			continue
		}
		switch e.Name {
		case resources.CPUs:
			cpus += e.Milli
		case resources.Mem:
			mem += e.Milli
		}
	}
	return (cpus > 0 && cpus >= a.minCPUs) || (mem > 0 && mem >= a.minMem)
}

func (a *Allocator) addAllocation(ag *agent, c *client, r resources.Resources) {
	i := slices.IndexFunc(ag.allocs, func(al allocation) bool { return al.c == c })
	if i < 0 {
		ag.allocs = append(ag.allocs, allocation{c: c, r: r})
		c.nAllocs++
	} else {
		ag.allocs[i].r = ag.allocs[i].r.Add(r)
	}
	a.account(c, quantitiesOf(r))
}

func (a *Allocator) account(c *client, q quantities) {
	c.alloc.add(q)
	c.role.alloc.add(q)
	a.fixClient(c)
	a.fixRole(c.role)
}

func (a *Allocator) unaccount(c *client, q quantities) {
	c.alloc.sub(q)
	c.role.alloc.sub(q)
	a.fixClient(c)
	a.fixRole(c.role)
}

// share is the dominant share of q in the cluster.
func (a *Allocator) share(q quantities) float64 {
	s := 0.0
	for k, t := range a.total {
		if t > 0 && q[k] > 0 {
			s = max(s, float64(q[k])/float64(t))
		}
	}
	return s
}

func (a *Allocator) weight(role string) float64 {
	if w, ok := a.weights[role]; ok {
		return w
	}
	return 1
}

// Sorted orders: clients by (share, framework id); roles by (share/weight,
// name). Each element's key is stored in it and changed only together with
// its position, so the slices stay sorted by their stored keys.

func cmpClient(share float64, id string, c *client) int {
	if x := cmp.Compare(share, c.share); x != 0 {
		return x
	}
	return strings.Compare(id, c.fw.id)
}

func cmpRole(key float64, name string, r *role) int {
	if x := cmp.Compare(key, r.key); x != 0 {
		return x
	}
	return strings.Compare(name, r.name)
}

// reposition moves s[i], whose key changed, to its sorted place. cmpTo
// compares the moved element with another.
func reposition[T any](s []T, i int, cmpTo func(T) int) {
	x := s[i]
	switch {
	case i > 0 && cmpTo(s[i-1]) < 0:
		j := sort.Search(i, func(k int) bool { return cmpTo(s[k]) < 0 })
		copy(s[j+1:i+1], s[j:i])
		s[j] = x
	case i+1 < len(s) && cmpTo(s[i+1]) > 0:
		n := len(s) - i - 1
		k := i + 1 + sort.Search(n, func(m int) bool { return cmpTo(s[i+1+m]) < 0 })
		copy(s[i:k-1], s[i+1:k])
		s[k-1] = x
	}
}

func (a *Allocator) clientIndex(c *client) int {
	i, found := slices.BinarySearchFunc(c.role.clients, c, func(x, t *client) int { return cmpClient(x.share, x.fw.id, t) })
	if !found {
		panic("allocator: client missing from its role's order")
	}
	return i
}

func (a *Allocator) roleIndex(r *role) int {
	i, found := slices.BinarySearchFunc(a.roleList, r, func(x, t *role) int { return cmpRole(x.key, x.name, t) })
	if !found {
		panic("allocator: role missing from the role order")
	}
	return i
}

func (a *Allocator) fixClient(c *client) {
	s := a.share(c.alloc)
	if s == c.share {
		return
	}
	i := a.clientIndex(c)
	c.share = s
	reposition(c.role.clients, i, func(o *client) int { return cmpClient(s, c.fw.id, o) })
}

func (a *Allocator) fixRole(r *role) {
	k := a.share(r.alloc) / a.weight(r.name)
	if k == r.key {
		return
	}
	i := a.roleIndex(r)
	r.key = k
	reposition(a.roleList, i, func(o *role) int { return cmpRole(k, r.name, o) })
}

func (a *Allocator) insertClient(c *client) {
	c.share = a.share(c.alloc)
	i, _ := slices.BinarySearchFunc(c.role.clients, c, func(x, t *client) int { return cmpClient(x.share, x.fw.id, t) })
	c.role.clients = slices.Insert(c.role.clients, i, c)
}

func (a *Allocator) removeClient(c *client) {
	i := a.clientIndex(c)
	c.role.clients = slices.Delete(c.role.clients, i, i+1)
}

func (a *Allocator) insertRole(r *role) {
	r.key = a.share(r.alloc) / a.weight(r.name)
	i, _ := slices.BinarySearchFunc(a.roleList, r, func(x, t *role) int { return cmpRole(x.key, x.name, t) })
	a.roleList = slices.Insert(a.roleList, i, r)
}

func (a *Allocator) removeRole(r *role) {
	i := a.roleIndex(r)
	a.roleList = slices.Delete(a.roleList, i, i+1)
}

// resort recomputes every share after the cluster totals or the weights
// changed.
func (a *Allocator) resort() {
	for _, r := range a.roleList {
		for _, c := range r.clients {
			c.share = a.share(c.alloc)
		}
		slices.SortFunc(r.clients, func(x, y *client) int { return cmpClient(x.share, x.fw.id, y) })
		r.key = a.share(r.alloc) / a.weight(r.name)
	}
	slices.SortFunc(a.roleList, func(x, y *role) int { return cmpRole(x.key, x.name, y) })
	a.stale = false
}
