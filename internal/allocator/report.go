package allocator

import (
	"fmt"
	"maps"
	"slices"

	"github.com/agora-dev/agora/internal/resources"
)

// Stats summarises the allocator's state for metrics and operators.
type Stats struct {
	Agents, ActiveAgents         int
	Frameworks, ActiveFrameworks int // placeholders (known only from agents) not counted
	Roles                        int
	Filters                      int // (framework, role, agent) filters in force
	// Total and Allocated are scalar totals per resource name over all
	// agents; Allocated counts both outstanding offers and resources in use.
	Total, Allocated map[string]float64
	Cycles           uint64 // Allocate calls so far
	LastCycleAgents  int    // agents considered by the last cycle
	LastCycleOffers  int    // offers made by the last cycle
	// LastCyclePairs counts the (agent, framework) pairs the last cycle
	// examined: each eligible framework it checked for an agent, whether
	// the check found a filter or made an offer. With no filters it is
	// about one per agent and role, not agents × frameworks.
	LastCyclePairs int
}

// Stats returns a snapshot of counters and totals. It walks every agent.
func (a *Allocator) Stats() Stats {
	s := Stats{
		Agents:          len(a.agentList),
		Roles:           len(a.roles),
		Filters:         a.filterCount,
		Total:           make(map[string]float64),
		Allocated:       make(map[string]float64),
		Cycles:          a.cycles,
		LastCycleAgents: a.lastAgents,
		LastCycleOffers: a.lastOffers,
		LastCyclePairs:  a.lastPairs,
	}
	for _, fw := range a.frameworks {
		if fw.placeholder {
			continue
		}
		s.Frameworks++
		if fw.active {
			s.ActiveFrameworks++
		}
	}
	for _, ag := range a.agentList {
		if ag.active {
			s.ActiveAgents++
		}
		for name, m := range ag.total.Quantities() {
			s.Total[name] += float64(m) / 1000
		}
		for _, al := range ag.allocs {
			for name, m := range al.r.Quantities() {
				s.Allocated[name] += float64(m) / 1000
			}
		}
	}
	return s
}

// Reason says why a framework got no offers in a role.
type Reason int

// Reasons, most specific first. ReasonOffered means it did get offers in the
// last cycle.
const (
	ReasonOffered       Reason = iota
	ReasonInactive             // framework deactivated (disconnected)
	ReasonNotSubscribed        // role left, resources still allocated in it
	ReasonSuppressed           // the framework suppressed offers for the role
	ReasonFiltered             // it declined agents with a refuse filter
	ReasonNoResources          // no free resources reached it in DRF order
	ReasonNoCycle              // no allocation cycle has considered it yet
)

var reasonNames = [...]string{"OFFERED", "INACTIVE", "NOT_SUBSCRIBED", "SUPPRESSED", "FILTERED", "NO_RESOURCES", "NO_CYCLE"}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", int(r))
}

// RoleReport describes a framework in one role.
type RoleReport struct {
	Role       string
	Subscribed bool
	Suppressed bool
	// Share is the dominant share of the cluster allocated to the framework
	// in this role (offers and tasks).
	Share float64
	// Allocated are scalar totals by name (offers and tasks).
	Allocated map[string]float64
	// FilteredAgents is the number of agents the framework has declined in
	// this role with a filter still in force.
	FilteredAgents int
	// LastOffers and LastFilteredSkips are from the last cycle that
	// considered the framework: offers made, and times its turn on an agent
	// was skipped because of a filter.
	LastOffers, LastFilteredSkips int
	Reason                        Reason
	// Explanation is a sentence for humans ("why is my task not running").
	Explanation string
}

// FrameworkReport describes a framework, one entry per role, sorted.
type FrameworkReport struct {
	ID     string
	Active bool
	Roles  []RoleReport
}

// Framework reports on a framework's allocation and why it is or is not
// getting offers.
func (a *Allocator) Framework(id string) (FrameworkReport, bool) {
	fw := a.frameworks[id]
	if fw == nil {
		return FrameworkReport{}, false
	}
	if a.stale {
		a.resort()
	}
	rep := FrameworkReport{ID: id, Active: fw.active && !fw.placeholder}
	for _, name := range slices.Sorted(maps.Keys(fw.clients)) {
		c := fw.clients[name]
		rr := RoleReport{
			Role:              name,
			Subscribed:        c.subscribed,
			Suppressed:        c.suppressed,
			Share:             c.share,
			Allocated:         make(map[string]float64),
			FilteredAgents:    len(c.filtered),
			LastOffers:        c.lastOffered,
			LastFilteredSkips: c.lastFiltered,
		}
		names := [nq]string{resources.CPUs, resources.Mem, resources.Disk, resources.GPUs}
		for k, m := range c.alloc {
			if m != 0 {
				rr.Allocated[names[k]] = float64(m) / 1000
			}
		}
		rr.Reason, rr.Explanation = a.explain(c)
		rep.Roles = append(rep.Roles, rr)
	}
	return rep, true
}

func (a *Allocator) explain(c *client) (Reason, string) {
	role := c.role.name
	switch {
	case c.fw.placeholder || !c.fw.active:
		return ReasonInactive, "the framework is not connected (inactive): inactive frameworks get no offers"
	case !c.subscribed:
		return ReasonNotSubscribed, fmt.Sprintf("the framework is no longer subscribed to role %q", role)
	case c.suppressed:
		return ReasonSuppressed, fmt.Sprintf("the framework suppressed offers for role %q; a REVIVE call resumes them", role)
	case c.lastCycle == 0:
		return ReasonNoCycle, "no allocation cycle has run since the framework subscribed"
	case c.lastOffered > 0:
		return ReasonOffered, fmt.Sprintf("%d offer(s) in role %q in the last allocation cycle", c.lastOffered, role)
	case len(c.filtered) > 0:
		return ReasonFiltered, fmt.Sprintf("the framework declined %d agent(s) with a refuse filter still in force (skipped %d time(s) in the last cycle); a REVIVE call clears filters", len(c.filtered), c.lastFiltered)
	}
	ahead := 0
	for _, o := range c.role.clients {
		if o == c {
			break
		}
		if o.eligible {
			ahead++
		}
	}
	return ReasonNoResources, fmt.Sprintf("no agent had free resources for role %q when its turn came (%d agent(s), %d framework(s) ahead in role %q, %d role(s) ahead)",
		role, len(a.agentList), ahead, role, slices.Index(a.roleList, c.role))
}

// AgentReport describes one agent's bookkeeping.
type AgentReport struct {
	ID          string
	Active      bool
	Total, Free resources.Resources
	// Allocated maps framework ID → role → resources (offers and tasks).
	Allocated map[string]map[string]resources.Resources
	Filters   int
}

// Agent reports on an agent.
func (a *Allocator) Agent(id string) (AgentReport, bool) {
	ag := a.agents[id]
	if ag == nil {
		return AgentReport{}, false
	}
	rep := AgentReport{ID: id, Active: ag.active, Total: ag.total, Free: ag.free,
		Allocated: make(map[string]map[string]resources.Resources), Filters: len(ag.filters)}
	for _, al := range ag.allocs {
		m := rep.Allocated[al.c.fw.id]
		if m == nil {
			m = make(map[string]resources.Resources)
			rep.Allocated[al.c.fw.id] = m
		}
		m[al.c.role.name] = m[al.c.role.name].Add(al.r)
	}
	return rep, true
}
