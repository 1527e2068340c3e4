package allocator

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/agora-dev/agora/internal/resources"
)

// Sentinel errors; returned errors wrap them with the offending IDs.
var (
	ErrUnknownFramework = errors.New("allocator: unknown framework")
	ErrUnknownAgent     = errors.New("allocator: unknown agent")
	ErrExists           = errors.New("allocator: already exists")
	ErrInvalid          = errors.New("allocator: invalid argument")
	ErrInconsistent     = errors.New("allocator: inconsistent bookkeeping")
)

// Config tunes the allocator. The zero value is not useful; start from
// DefaultConfig.
type Config struct {
	// Seed seeds the shuffling of agents in each cycle.
	Seed uint64
	// MinCPUs and MinMemMB are Mesos's minimum allocatable resources: an
	// agent's free resources for a role are offered only if they hold at
	// least MinCPUs cpus or at least MinMemMB mem, so crumbs are not offered.
	MinCPUs  float64
	MinMemMB float64
}

// DefaultConfig returns Mesos's defaults: at least 0.01 cpus or 32 MB mem.
func DefaultConfig() Config {
	return Config{Seed: 1, MinCPUs: 0.01, MinMemMB: 32}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.MinCPUs < 0 || c.MinMemMB < 0 {
		return fmt.Errorf("%w: negative minimum allocatable resources", ErrInvalid)
	}
	return nil
}

// Offer is what Allocate hands to the master: all of Resources on AgentID,
// allocated to FrameworkID in Role. The master assigns the offer ID.
type Offer struct {
	FrameworkID string
	AgentID     string
	Role        string
	Resources   resources.Resources
}

// Quantity indices of the scalars DRF looks at.
const (
	qCPUs = iota
	qMem
	qDisk
	qGPUs
	nq
)

type quantities [nq]int64

func quantitiesOf(r resources.Resources) quantities {
	var q quantities
	for e := range r.All() {
		if e.Kind != resources.KindScalar {
			continue
		}
		switch e.Name {
		case resources.CPUs:
			q[qCPUs] += e.Milli
		case resources.Mem:
			q[qMem] += e.Milli
		case resources.Disk:
			q[qDisk] += e.Milli
		case resources.GPUs:
			q[qGPUs] += e.Milli
		}
	}
	return q
}

func (q *quantities) add(o quantities) {
	for i := range q {
		q[i] += o[i]
	}
}

func (q *quantities) sub(o quantities) {
	for i := range q {
		q[i] -= o[i]
	}
}

// Allocator is the offer engine. It is not safe for concurrent use: one
// goroutine (the master's event loop) owns it.
type Allocator struct {
	cfg             Config
	minCPUs, minMem int64
	rng             *rand.Rand
	frameworks      map[string]*framework
	agents          map[string]*agent
	agentList       []*agent // insertion order (swap-remove); shuffled copies per cycle
	roles           map[string]*role
	roleList        []*role // sorted by DRF (share/weight, name)
	weights         map[string]float64
	total           quantities // cluster totals over all agents
	stale           bool       // totals or weights changed: shares must be recomputed and re-sorted
	dirtyAll        bool
	candidates      []*agent
	stamp           uint64
	nextExpiry      time.Time // earliest filter expiry; zero if no filters
	filterCount     int
	cycles          uint64
	lastOffers      int
	lastAgents      int
	lastPairs       int
	scratchAgents   []*agent
	scratchRoles    []*role
}

type framework struct {
	id          string
	active      bool
	placeholder bool // known only from an agent's allocation, not yet added
	clients     map[string]*client
}

// client is a framework in one of its roles: the unit DRF sorts.
type client struct {
	fw         *framework
	role       *role
	subscribed bool
	suppressed bool
	alloc      quantities
	share      float64 // the key of its current position in role.clients
	nAllocs    int     // agents holding an allocation for this client
	filtered   map[*agent]struct{}
	eligible   bool   // computed at the start of a cycle
	mark       uint64 // == Allocator.stamp when filtered on the agent being allocated
	// Outcome of the last cycle that considered this client.
	lastCycle    uint64
	lastOffered  int
	lastFiltered int
}

type role struct {
	name     string
	clients  []*client // sorted by (share, framework id)
	alloc    quantities
	key      float64 // share / weight: the key of its position in roleList
	eligible int
}

type allocation struct {
	c *client
	r resources.Resources
}

type filter struct {
	c      *client
	expiry time.Time
}

type agent struct {
	id        string
	idx       int // position in agentList
	active    bool
	removed   bool
	candidate bool
	total     resources.Resources
	free      resources.Resources
	totalQ    quantities
	allocs    []allocation
	filters   []filter
}

// New returns an empty allocator. It panics if cfg is invalid (a programming
// error); use Config.Validate to check user-supplied values first.
func New(cfg Config) *Allocator {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	return &Allocator{
		cfg:        cfg,
		minCPUs:    resources.ToMilli(cfg.MinCPUs),
		minMem:     resources.ToMilli(cfg.MinMemMB),
		rng:        rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		frameworks: make(map[string]*framework),
		agents:     make(map[string]*agent),
		roles:      make(map[string]*role),
		weights:    make(map[string]float64),
	}
}

func validateRoles(roles []string) error {
	for _, r := range roles {
		if err := resources.ValidateRole(r); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
	}
	return nil
}

// AddFramework adds a framework subscribed to roles, with suppressedRoles
// (a subset of roles) suppressed. Only active frameworks get offers.
func (a *Allocator) AddFramework(id string, roles, suppressedRoles []string, active bool) error {
	if err := validateRoles(roles); err != nil {
		return err
	}
	fw := a.frameworks[id]
	switch {
	case fw == nil:
		fw = &framework{id: id, clients: make(map[string]*client)}
		a.frameworks[id] = fw
	case !fw.placeholder:
		return fmt.Errorf("%w: framework %q", ErrExists, id)
	}
	fw.placeholder = false
	fw.active = active
	a.setRoles(fw, roles, suppressedRoles)
	a.dirtyAll = true
	return nil
}

// UpdateFramework replaces the framework's roles and suppressed roles
// (UPDATE_FRAMEWORK). Resources still allocated in a role it leaves stay
// accounted to it until recovered.
func (a *Allocator) UpdateFramework(id string, roles, suppressedRoles []string) error {
	if err := validateRoles(roles); err != nil {
		return err
	}
	fw, err := a.framework(id)
	if err != nil {
		return err
	}
	a.setRoles(fw, roles, suppressedRoles)
	a.dirtyAll = true
	return nil
}

func (a *Allocator) setRoles(fw *framework, roles, suppressedRoles []string) {
	for name, c := range fw.clients {
		if !slices.Contains(roles, name) {
			c.subscribed = false
			a.gcClient(c)
		}
	}
	for _, name := range roles {
		c := fw.clients[name]
		if c == nil {
			c = a.newClient(fw, name)
		}
		c.subscribed = true
		c.suppressed = slices.Contains(suppressedRoles, name)
	}
}

func (a *Allocator) framework(id string) (*framework, error) {
	fw := a.frameworks[id]
	if fw == nil || fw.placeholder {
		return nil, fmt.Errorf("%w: %q", ErrUnknownFramework, id)
	}
	return fw, nil
}

// ActivateFramework makes the framework eligible for offers again.
func (a *Allocator) ActivateFramework(id string) error {
	fw, err := a.framework(id)
	if err != nil {
		return err
	}
	if !fw.active {
		fw.active = true
		a.dirtyAll = true
	}
	return nil
}

// DeactivateFramework stops offers to the framework (disconnected) and, as
// Mesos does, clears its filters. Its allocations stay until recovered.
func (a *Allocator) DeactivateFramework(id string) error {
	fw, err := a.framework(id)
	if err != nil {
		return err
	}
	fw.active = false
	for _, c := range fw.clients {
		a.clearFilters(c)
	}
	return nil
}

// RemoveFramework forgets the framework. Whatever is still allocated to it
// on any agent returns to the agents' free pools.
func (a *Allocator) RemoveFramework(id string) error {
	fw := a.frameworks[id]
	if fw == nil {
		return fmt.Errorf("%w: %q", ErrUnknownFramework, id)
	}
	for _, ag := range a.agentList {
		for i := 0; i < len(ag.allocs); {
			al := ag.allocs[i]
			if al.c.fw != fw {
				i++
				continue
			}
			ag.free = ag.free.Add(al.r)
			a.unaccount(al.c, quantitiesOf(al.r))
			ag.allocs = slices.Delete(ag.allocs, i, i+1)
			al.c.nAllocs--
			a.markCandidate(ag)
		}
	}
	for _, c := range fw.clients {
		a.clearFilters(c)
		c.subscribed = false
		a.gcClient(c)
	}
	delete(a.frameworks, id)
	return nil
}

// Suppress stops offers to the framework in roles (empty: all its roles)
// until Revive. Filters are kept.
func (a *Allocator) Suppress(frameworkID string, roles []string) error {
	fw, err := a.framework(frameworkID)
	if err != nil {
		return err
	}
	for _, c := range a.clientsFor(fw, roles) {
		c.suppressed = true
	}
	return nil
}

// Revive unsuppresses the framework in roles (empty: all its roles) and
// clears its filters in those roles.
func (a *Allocator) Revive(frameworkID string, roles []string) error {
	fw, err := a.framework(frameworkID)
	if err != nil {
		return err
	}
	for _, c := range a.clientsFor(fw, roles) {
		c.suppressed = false
		a.clearFilters(c)
	}
	a.dirtyAll = true
	return nil
}

func (a *Allocator) clientsFor(fw *framework, roles []string) []*client {
	var out []*client
	for name, c := range fw.clients {
		if c.subscribed && (len(roles) == 0 || slices.Contains(roles, name)) {
			out = append(out, c)
		}
	}
	return out
}

// SetWeight sets a role's weight (default 1): its dominant share is divided
// by the weight when roles are sorted. weight ≤ 0 restores the default.
func (a *Allocator) SetWeight(role string, weight float64) error {
	if err := resources.ValidateRole(role); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if weight <= 0 || weight == 1 {
		delete(a.weights, role)
	} else {
		a.weights[role] = weight
	}
	a.stale = true
	a.dirtyAll = true
	return nil
}

// AddAgent adds an agent with its total resources and what running tasks
// and executors already use, per framework and role (after a master
// failover). Frameworks not yet known are tracked as placeholders until
// AddFramework. If the used resources do not fit in total the agent is
// still added, with the part that fits (in framework, role order) accounted
// as allocated, and the error wraps ErrInconsistent.
func (a *Allocator) AddAgent(id string, total resources.Resources, allocated map[string]map[string]resources.Resources) error {
	if _, ok := a.agents[id]; ok {
		return fmt.Errorf("%w: agent %q", ErrExists, id)
	}
	for _, m := range allocated {
		if err := validateRoles(slices.Collect(maps.Keys(m))); err != nil {
			return err
		}
	}
	ag := &agent{id: id, idx: len(a.agentList), active: true, total: total, free: total, totalQ: quantitiesOf(total)}
	a.agents[id] = ag
	a.agentList = append(a.agentList, ag)
	a.total.add(ag.totalQ)
	a.stale = true
	var overcommit resources.Resources
	for _, fwID := range slices.Sorted(maps.Keys(allocated)) {
		for _, roleName := range slices.Sorted(maps.Keys(allocated[fwID])) {
			want := allocated[fwID][roleName]
			// Keep what fits in the free resources (their intersection).
			r := ag.free.Subtract(ag.free.Subtract(want))
			overcommit = overcommit.Add(want.Subtract(r))
			if r.IsEmpty() {
				continue
			}
			ag.free = ag.free.Subtract(r)
			fw := a.frameworks[fwID]
			if fw == nil {
				fw = &framework{id: fwID, placeholder: true, clients: make(map[string]*client)}
				a.frameworks[fwID] = fw
			}
			c := fw.clients[roleName]
			if c == nil {
				c = a.newClient(fw, roleName)
			}
			ag.allocs = append(ag.allocs, allocation{c: c, r: r})
			c.nAllocs++
			a.account(c, quantitiesOf(r))
		}
	}
	a.markCandidate(ag)
	if !overcommit.IsEmpty() {
		return fmt.Errorf("%w: agent %q: used resources exceed its total %v by %v, which were left out", ErrInconsistent, id, total, overcommit)
	}
	return nil
}

// RemoveAgent forgets the agent and everything allocated on it.
func (a *Allocator) RemoveAgent(id string) error {
	ag := a.agents[id]
	if ag == nil {
		return fmt.Errorf("%w: %q", ErrUnknownAgent, id)
	}
	for _, al := range ag.allocs {
		a.unaccount(al.c, quantitiesOf(al.r))
		al.c.nAllocs--
		a.gcClient(al.c)
	}
	for _, f := range ag.filters {
		delete(f.c.filtered, ag)
		a.filterCount--
	}
	ag.allocs, ag.filters = nil, nil
	ag.removed = true
	last := a.agentList[len(a.agentList)-1]
	a.agentList[ag.idx] = last
	last.idx = ag.idx
	a.agentList = a.agentList[:len(a.agentList)-1]
	delete(a.agents, id)
	a.total.sub(ag.totalQ)
	a.stale = true
	return nil
}

// ActivateAgent makes the agent's resources offerable again.
func (a *Allocator) ActivateAgent(id string) error {
	ag := a.agents[id]
	if ag == nil {
		return fmt.Errorf("%w: %q", ErrUnknownAgent, id)
	}
	ag.active = true
	a.markCandidate(ag)
	return nil
}

// DeactivateAgent stops offers of the agent's resources (disconnected or
// draining); its allocations are kept.
func (a *Allocator) DeactivateAgent(id string) error {
	ag := a.agents[id]
	if ag == nil {
		return fmt.Errorf("%w: %q", ErrUnknownAgent, id)
	}
	ag.active = false
	return nil
}

// RecoverResources returns r, allocated on agentID to frameworkID in role,
// to the agent's free pool: an offer declined or rescinded, the unused part
// of an accepted offer, or the resources of a finished task. With refuse > 0
// the framework gets no offers from that agent in that role until
// now+refuse (or a Revive). Recovering from an agent or framework that is
// gone is a no-op: the resources went with it. Recovering more than is
// allocated recovers what is allocated and returns an error wrapping
// ErrInconsistent.
func (a *Allocator) RecoverResources(frameworkID, agentID, role string, r resources.Resources, refuse time.Duration, now time.Time) error {
	ag := a.agents[agentID]
	fw := a.frameworks[frameworkID]
	if ag == nil || fw == nil {
		return nil
	}
	c := fw.clients[role]
	var err error
	if !r.IsEmpty() {
		i := -1
		if c != nil {
			i = slices.IndexFunc(ag.allocs, func(al allocation) bool { return al.c == c })
		}
		if i < 0 {
			return fmt.Errorf("%w: nothing allocated to framework %q in role %q on agent %q", ErrInconsistent, frameworkID, role, agentID)
		}
		cur := ag.allocs[i].r
		left := cur.Subtract(r)
		recovered := cur.Subtract(left)
		if !cur.Contains(r) {
			err = fmt.Errorf("%w: recovering %v from framework %q role %q on agent %q, which holds only %v",
				ErrInconsistent, r, frameworkID, role, agentID, cur)
		}
		if left.IsEmpty() {
			ag.allocs = slices.Delete(ag.allocs, i, i+1)
			c.nAllocs--
		} else {
			ag.allocs[i].r = left
		}
		ag.free = ag.free.Add(recovered)
		a.unaccount(c, quantitiesOf(recovered))
		a.markCandidate(ag)
	}
	if c != nil && refuse > 0 && c.subscribed {
		a.addFilter(c, ag, now.Add(refuse))
	}
	if c != nil {
		a.gcClient(c)
	}
	return err
}

// Pending reports whether an allocation cycle at now could produce offers:
// some event dirtied agents or frameworks since the last cycle, or a filter
// has expired.
func (a *Allocator) Pending(now time.Time) bool {
	return a.dirtyAll || len(a.candidates) > 0 || (!a.nextExpiry.IsZero() && !now.Before(a.nextExpiry))
}

// NextFilterExpiry returns when the earliest filter expires, if any: the
// master may schedule a cycle then.
func (a *Allocator) NextFilterExpiry() (time.Time, bool) {
	return a.nextExpiry, !a.nextExpiry.IsZero()
}

func (a *Allocator) markCandidate(ag *agent) {
	if !ag.candidate && !ag.removed {
		ag.candidate = true
		a.candidates = append(a.candidates, ag)
	}
}

func (a *Allocator) newClient(fw *framework, roleName string) *client {
	r := a.roles[roleName]
	if r == nil {
		r = &role{name: roleName}
		a.roles[roleName] = r
		a.insertRole(r)
	}
	c := &client{fw: fw, role: r}
	fw.clients[roleName] = c
	a.insertClient(c)
	return c
}

// gcClient drops a client that is neither subscribed nor holding anything,
// and its role when that was the role's last client.
func (a *Allocator) gcClient(c *client) {
	if c.subscribed || c.nAllocs > 0 {
		return
	}
	a.clearFilters(c)
	r := c.role
	a.removeClient(c)
	delete(c.fw.clients, r.name)
	if len(r.clients) == 0 {
		a.removeRole(r)
		delete(a.roles, r.name)
	}
	if c.fw.placeholder && len(c.fw.clients) == 0 {
		delete(a.frameworks, c.fw.id)
	}
}

func (a *Allocator) addFilter(c *client, ag *agent, expiry time.Time) {
	if c.filtered == nil {
		c.filtered = make(map[*agent]struct{})
	}
	if _, ok := c.filtered[ag]; ok {
		for i := range ag.filters {
			if ag.filters[i].c == c && expiry.After(ag.filters[i].expiry) {
				ag.filters[i].expiry = expiry
			}
		}
	} else {
		c.filtered[ag] = struct{}{}
		ag.filters = append(ag.filters, filter{c: c, expiry: expiry})
		a.filterCount++
	}
	if a.nextExpiry.IsZero() || expiry.Before(a.nextExpiry) {
		a.nextExpiry = expiry
	}
}

func (a *Allocator) clearFilters(c *client) {
	for ag := range c.filtered {
		ag.filters = slices.DeleteFunc(ag.filters, func(f filter) bool { return f.c == c })
		a.filterCount--
		a.markCandidate(ag)
	}
	c.filtered = nil
}

// expireFilters drops filters that expired at or before now.
func (a *Allocator) expireFilters(now time.Time) {
	if a.nextExpiry.IsZero() || now.Before(a.nextExpiry) {
		return
	}
	var next time.Time
	for _, ag := range a.agentList {
		if len(ag.filters) == 0 {
			continue
		}
		ag.filters = slices.DeleteFunc(ag.filters, func(f filter) bool {
			if now.Before(f.expiry) {
				if next.IsZero() || f.expiry.Before(next) {
					next = f.expiry
				}
				return false
			}
			delete(f.c.filtered, ag)
			a.filterCount--
			return true
		})
	}
	a.nextExpiry = next
	a.dirtyAll = true
}
