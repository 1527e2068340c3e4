// Package allocator is Agora's offer engine: a pure, single-threaded model of
// Mesos's hierarchical DRF allocator. Events go in (frameworks and agents
// come and go, resources are recovered, offers are suppressed and revived),
// offers come out of Allocate. It starts no goroutines, reads no clock and
// does no I/O: the master's event loop owns it and passes the time in.
//
// # Bookkeeping
//
// Resources on an agent are either free or allocated to a (framework, role)
// client. Allocate moves free resources to a client and reports them as an
// Offer; from then on they stay allocated whether the framework declines,
// launches tasks on them or ignores the offer. Only RecoverResources (offer
// declined or rescinded, unused part of an ACCEPT, task finished),
// RemoveFramework and RemoveAgent give them back. So an offered resource is
// never offered twice.
//
// # An allocation cycle
//
//	Allocate(now)
//	  expire filters whose time has come
//	  candidates = dirty agents (or all, after framework-wide events), shuffled
//	  for each candidate agent that is active and has allocatable resources:
//	    for each role in DRF order (dominant share / weight, then name):
//	      available = free resources unreserved or reserved for the role
//	      skip if below the minimum (Config.MinCPUs or Config.MinMemMB)
//	      first client of the role in DRF order that is active, subscribed,
//	      not suppressed and not filtered on this agent gets all of
//	      available as one offer; shares are updated incrementally
//
// Dominant shares are max over cpus, mem, disk and gpus of allocated/total,
// with the cluster's totals; roles are flat (no hierarchical "a/b"
// nesting in the sort, although such names are accepted), quota is not
// implemented, and offers are whole-agent offers as in Mesos's default.
//
// # Filters
//
// RecoverResources with refuse > 0 installs a filter: the agent is not
// offered to that framework in that role until now+refuse, unless Revive
// clears it first (deactivating the framework clears its filters too, as
// Mesos does). This is coarser than Mesos's "resources contained in the
// refused ones" rule, which only differs when an agent gains resources
// during the filter.
//
// # Batching
//
// Events mark agents dirty (resources recovered, agent added or activated)
// or the whole cluster (framework added, activated, revived or updated;
// weights changed; a filter expired). Pending reports whether a cycle could
// produce anything, so the master may run Allocate once per allocation
// interval and only when needed. Agent order is shuffled with a seeded
// generator (Config.Seed) so runs are reproducible.
//
// # Errors
//
// Calls naming unknown frameworks or agents, or adding a duplicate, return
// errors wrapping the Err* sentinels and change nothing. Calls that report an
// inconsistency in the master's bookkeeping (recovering more than was
// allocated, an agent whose used resources exceed its total) wrap
// ErrInconsistent and have nevertheless taken effect as far as possible, so
// the allocator's state stays self-consistent.
package allocator
