// Package resources is Agora's value type for the resources of agents,
// offers, tasks and executors: the Mesos resource model (docs/mesos-api.md §6)
// reduced to what Agora supports today.
//
// A Resources value is an immutable, normalised list of entries. Each entry is
// identified by its name (cpus, mem, disk, ports, gpus or any custom name),
// its reservation role ("*" for unreserved) and its kind:
//
//   - scalar: fixed point, int64 thousandths (llround(v*1000)), as Mesos does,
//     so 0.0001 cpus is zero and 0.1+0.2 is exactly 0.3;
//   - ranges: sorted, coalesced, inclusive [begin,end] uint64 intervals (ports);
//   - set: a sorted set of distinct strings.
//
// Empty entries (zero scalars, no ranges, no items) are never stored, so the
// zero Resources is the empty value and Equal compares meaningfully.
// Operations never modify their operands; they return new values that may
// share backing arrays with them, which is safe because nothing mutates them.
//
// # Supported reservations
//
// Only unreserved resources and static reservations to a single role are
// supported: the text syntax name(role):value, the post-refinement proto form
// reservations:[{type: STATIC, role: r}], and the pre-refinement proto form
// role: "r". Dynamic reservations (ReservationInfo of type DYNAMIC, the
// pre-refinement reservation field, or more than one reservation entry, i.e.
// refinement), disk info (persistent volumes, mount/path sources), revocable
// and shared resources, and resource providers are rejected with an error
// wrapping ErrUnsupported. allocation_info is ignored on input: which role
// resources are allocated to is the allocator's and the master's bookkeeping,
// and ToProto writes it back on output.
//
// # Arithmetic
//
// Add is a union (scalars sum, ranges and sets unite). Subtract never goes
// negative: it clamps scalars at zero and removes only the ranges and items
// that are present; callers that must not lose track check Contains first.
// Scalars saturate at the largest int64 instead of overflowing.
package resources
