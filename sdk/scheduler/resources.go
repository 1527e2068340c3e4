package scheduler

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
)

// Scalars are compared and added as integer thousandths, as Mesos does, so
// 0.1+0.2 is exactly 0.3 and anything below 0.001 is zero.
func milli(v float64) int64            { return int64(math.Round(v * 1000)) }
func fromMilli(m int64) float64        { return float64(m) / 1000 }
func scalarOf(r *mesos.Resource) int64 { return milli(r.GetScalar().GetValue()) }

// Scalar returns an unreserved scalar resource such as Scalar("cpus", 0.5).
func Scalar(name string, value float64) *mesos.Resource {
	return &mesos.Resource{
		Name:   proto.String(name),
		Type:   mesos.Value_SCALAR.Enum(),
		Scalar: &mesos.Value_Scalar{Value: proto.Float64(value)},
	}
}

// Ranges returns an unreserved ranges resource, such as
// Ranges("ports", [][2]uint64{{31000, 31009}}); each pair is an inclusive
// [begin, end].
func Ranges(name string, ranges [][2]uint64) *mesos.Resource {
	r := &mesos.Resource{
		Name:   proto.String(name),
		Type:   mesos.Value_RANGES.Enum(),
		Ranges: &mesos.Value_Ranges{},
	}
	for _, rg := range ranges {
		r.Ranges.Range = append(r.Ranges.Range, &mesos.Value_Range{Begin: proto.Uint64(rg[0]), End: proto.Uint64(rg[1])})
	}
	return r
}

// ScalarSum adds up the scalar resources of the given name, whatever their
// role or reservation: ScalarSum(offer.GetResources(), "cpus").
func ScalarSum(resources []*mesos.Resource, name string) float64 {
	var sum int64
	for _, r := range resources {
		if r.GetName() == name && r.GetType() == mesos.Value_SCALAR {
			sum += scalarOf(r)
		}
	}
	return fromMilli(sum)
}

// RangesOf returns the union of the ranges resources of the given name
// (e.g. "ports"), sorted and merged.
func RangesOf(resources []*mesos.Resource, name string) [][2]uint64 {
	var all [][2]uint64
	for _, r := range resources {
		if r.GetName() == name && r.GetType() == mesos.Value_RANGES {
			all = append(all, rangesOf(r)...)
		}
	}
	return normalize(all)
}

// Resources is the common shape of what a task needs. Ports is a number of
// ports to pick from an offer, not a port number.
type Resources struct {
	Cpus, Mem, Disk, Gpus float64
	Ports                 int
}

// List returns the scalar resources (cpus, mem in MB, disk in MB, gpus),
// omitting zeros. Ports are not included: they must be picked from an
// offer (see Packer.Reserve).
func (r Resources) List() []*mesos.Resource {
	var out []*mesos.Resource
	for _, s := range r.scalars() {
		if milli(s.v) > 0 {
			out = append(out, Scalar(s.name, s.v))
		}
	}
	return out
}

type namedScalar struct {
	name string
	v    float64
}

func (r Resources) scalars() []namedScalar {
	return []namedScalar{{"cpus", r.Cpus}, {"mem", r.Mem}, {"disk", r.Disk}, {"gpus", r.Gpus}}
}

// String renders the resources the way Mesos flags do: "cpus:0.1;mem:32".
func (r Resources) String() string {
	var parts []string
	for _, s := range r.scalars() {
		if milli(s.v) > 0 {
			parts = append(parts, s.name+":"+formatScalar(s.v))
		}
	}
	if r.Ports > 0 {
		parts = append(parts, "ports:"+strconv.Itoa(r.Ports))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ";")
}

func formatScalar(v float64) string {
	return strconv.FormatFloat(fromMilli(milli(v)), 'f', -1, 64)
}

// Describe summarises resources by name, in Mesos's text form:
// "cpus:2;mem:2048;disk:10000;ports:[31000-32000]".
func Describe(resources []*mesos.Resource) string {
	var names []string
	seen := map[string]bool{}
	for _, r := range resources {
		if !seen[r.GetName()] {
			seen[r.GetName()] = true
			names = append(names, r.GetName())
		}
	}
	var parts []string
	for _, n := range names {
		var typ mesos.Value_Type
		var items []string
		for _, r := range resources {
			if r.GetName() == n {
				typ = r.GetType()
				items = append(items, r.GetSet().GetItem()...)
			}
		}
		switch typ {
		case mesos.Value_SCALAR:
			parts = append(parts, n+":"+formatScalar(ScalarSum(resources, n)))
		case mesos.Value_RANGES:
			var rs []string
			for _, rg := range RangesOf(resources, n) {
				rs = append(rs, fmt.Sprintf("%d-%d", rg[0], rg[1]))
			}
			parts = append(parts, n+":["+strings.Join(rs, ", ")+"]")
		case mesos.Value_SET:
			parts = append(parts, n+":{"+strings.Join(items, ", ")+"}")
		}
	}
	return strings.Join(parts, ";")
}

// A Packer tracks what is left of one offer while a framework packs tasks
// into it, so that several tasks can be launched from a single offer
// without asking for more than it holds. Resources it hands out keep the
// role, reservation and allocation_info of the offered resources they come
// from; when the offer has an allocation_info (MULTI_ROLE frameworks) it is
// set on every resource handed out or fitted.
type Packer struct {
	offer *mesos.Offer
	avail []*mesos.Resource
}

// NewPacker starts packing the given offer.
func NewPacker(offer *mesos.Offer) *Packer {
	avail := make([]*mesos.Resource, 0, len(offer.GetResources()))
	for _, r := range offer.GetResources() {
		avail = append(avail, proto.Clone(r).(*mesos.Resource))
	}
	return &Packer{offer: offer, avail: avail}
}

// Remaining returns (a copy of) the resources not yet handed out.
func (p *Packer) Remaining() []*mesos.Resource {
	out := make([]*mesos.Resource, 0, len(p.avail))
	for _, r := range p.avail {
		if !isEmpty(r) {
			out = append(out, proto.Clone(r).(*mesos.Resource))
		}
	}
	return out
}

// Reserve takes want from the remaining resources — the lowest free ports
// for want.Ports — and returns the resources to put in a TaskInfo. If the
// offer cannot cover all of want, nothing is taken and ok is false.
func (p *Packer) Reserve(want Resources) (taken []*mesos.Resource, ok bool) {
	avail := cloneAll(p.avail)
	for _, s := range want.scalars() {
		need := milli(s.v)
		for _, r := range avail {
			if need <= 0 {
				break
			}
			if r.GetName() != s.name || r.GetType() != mesos.Value_SCALAR || scalarOf(r) <= 0 {
				continue
			}
			n := min(need, scalarOf(r))
			part := proto.Clone(r).(*mesos.Resource)
			part.Scalar = &mesos.Value_Scalar{Value: proto.Float64(fromMilli(n))}
			taken = append(taken, part)
			r.Scalar = &mesos.Value_Scalar{Value: proto.Float64(fromMilli(scalarOf(r) - n))}
			need -= n
		}
		if need > 0 {
			return nil, false
		}
	}
	if need := uint64(max(want.Ports, 0)); need > 0 {
		for _, r := range avail {
			if need == 0 {
				break
			}
			if r.GetName() != "ports" || r.GetType() != mesos.Value_RANGES {
				continue
			}
			var got [][2]uint64
			for _, rg := range rangesOf(r) {
				if need == 0 {
					break
				}
				n := min(need, rg[1]-rg[0]+1)
				got = append(got, [2]uint64{rg[0], rg[0] + n - 1})
				need -= n
			}
			if len(got) == 0 {
				continue
			}
			part := proto.Clone(r).(*mesos.Resource)
			setRanges(part, got)
			taken = append(taken, part)
			rest, _ := subtractRanges(rangesOf(r), got)
			setRanges(r, rest)
		}
		if need > 0 {
			return nil, false
		}
	}
	p.avail = avail
	for _, r := range taken {
		p.allocate(r)
	}
	return taken, true
}

// Fit subtracts a task's resources from the remaining ones if they are all
// there, fills in the task's agent_id when it is unset and the offer's
// allocation_info on its resources, and reports whether it fitted. A task
// that does not fit is left untouched.
func (p *Packer) Fit(task *mesos.TaskInfo) bool {
	avail := cloneAll(p.avail)
	for _, want := range task.GetResources() {
		if !subtract(avail, want) {
			return false
		}
	}
	p.avail = avail
	for _, r := range task.GetResources() {
		p.allocate(r)
	}
	if task.AgentId == nil && p.offer.GetAgentId() != nil {
		task.AgentId = proto.Clone(p.offer.GetAgentId()).(*mesos.AgentID)
	}
	return true
}

// FitTasks packs tasks into one offer in order, with Packer.Fit: fitted
// can be passed to Driver.LaunchTasks with the offer's id, rest did not
// fit.
func FitTasks(offer *mesos.Offer, tasks []*mesos.TaskInfo) (fitted, rest []*mesos.TaskInfo) {
	p := NewPacker(offer)
	for _, t := range tasks {
		if p.Fit(t) {
			fitted = append(fitted, t)
		} else {
			rest = append(rest, t)
		}
	}
	return fitted, rest
}

// allocate copies the offer's allocation_info onto r if r has none.
func (p *Packer) allocate(r *mesos.Resource) {
	if ai := p.offer.GetAllocationInfo(); ai != nil && r.AllocationInfo == nil {
		r.AllocationInfo = proto.Clone(ai).(*mesos.Resource_AllocationInfo)
	}
}

// subtract removes want from the matching entries of avail, in place;
// false if they do not hold it all.
func subtract(avail []*mesos.Resource, want *mesos.Resource) bool {
	switch want.GetType() {
	case mesos.Value_SCALAR:
		need := scalarOf(want)
		for _, r := range avail {
			if need <= 0 {
				break
			}
			if !sameKind(r, want) {
				continue
			}
			n := min(need, scalarOf(r))
			r.Scalar = &mesos.Value_Scalar{Value: proto.Float64(fromMilli(scalarOf(r) - n))}
			need -= n
		}
		return need <= 0
	case mesos.Value_RANGES:
		need := rangesOf(want)
		for _, r := range avail {
			if len(need) == 0 {
				break
			}
			if !sameKind(r, want) {
				continue
			}
			have := rangesOf(r)
			overlap := intersect(have, need)
			rest, _ := subtractRanges(have, overlap)
			setRanges(r, rest)
			need, _ = subtractRanges(need, overlap)
		}
		return len(need) == 0
	case mesos.Value_SET:
		need := slices.Clone(want.GetSet().GetItem())
		for _, r := range avail {
			if !sameKind(r, want) {
				continue
			}
			var keep []string
			for _, it := range r.GetSet().GetItem() {
				if i := slices.Index(need, it); i >= 0 {
					need = slices.Delete(need, i, i+1)
				} else {
					keep = append(keep, it)
				}
			}
			r.Set = &mesos.Value_Set{Item: keep}
		}
		return len(need) == 0
	}
	return false
}

// sameKind reports whether two resources are interchangeable: same name,
// type, role, reservations, disk, revocable/shared and provider. The
// allocation_info is ignored, since the master fills it in.
func sameKind(a, b *mesos.Resource) bool {
	if a.GetName() != b.GetName() || a.GetType() != b.GetType() {
		return false
	}
	//lint:ignore SA1019 offers to frameworks without RESERVATION_REFINEMENT still use the role field
	if a.GetRole() != b.GetRole() {
		return false
	}
	if len(a.GetReservations()) != len(b.GetReservations()) {
		return false
	}
	for i := range a.GetReservations() {
		if !proto.Equal(a.GetReservations()[i], b.GetReservations()[i]) {
			return false
		}
	}
	return proto.Equal(a.GetReservation(), b.GetReservation()) &&
		proto.Equal(a.GetDisk(), b.GetDisk()) &&
		(a.GetRevocable() == nil) == (b.GetRevocable() == nil) &&
		(a.GetShared() == nil) == (b.GetShared() == nil) &&
		proto.Equal(a.GetProviderId(), b.GetProviderId())
}

func cloneAll(rs []*mesos.Resource) []*mesos.Resource {
	out := make([]*mesos.Resource, len(rs))
	for i, r := range rs {
		out[i] = proto.Clone(r).(*mesos.Resource)
	}
	return out
}

func isEmpty(r *mesos.Resource) bool {
	switch r.GetType() {
	case mesos.Value_SCALAR:
		return scalarOf(r) <= 0
	case mesos.Value_RANGES:
		return len(r.GetRanges().GetRange()) == 0
	case mesos.Value_SET:
		return len(r.GetSet().GetItem()) == 0
	}
	return false
}

func rangesOf(r *mesos.Resource) [][2]uint64 {
	var out [][2]uint64
	for _, rg := range r.GetRanges().GetRange() {
		if rg.GetBegin() <= rg.GetEnd() {
			out = append(out, [2]uint64{rg.GetBegin(), rg.GetEnd()})
		}
	}
	return normalize(out)
}

func setRanges(r *mesos.Resource, rs [][2]uint64) {
	r.Ranges = &mesos.Value_Ranges{}
	for _, rg := range rs {
		r.Ranges.Range = append(r.Ranges.Range, &mesos.Value_Range{Begin: proto.Uint64(rg[0]), End: proto.Uint64(rg[1])})
	}
}

// normalize sorts ranges and merges overlapping or adjacent ones.
func normalize(rs [][2]uint64) [][2]uint64 {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b [2]uint64) int {
		if a[0] != b[0] {
			if a[0] < b[0] {
				return -1
			}
			return 1
		}
		return 0
	})
	var out [][2]uint64
	for _, rg := range rs {
		if n := len(out); n > 0 && (rg[0] <= out[n-1][1] || rg[0] == out[n-1][1]+1) {
			out[n-1][1] = max(out[n-1][1], rg[1])
			continue
		}
		out = append(out, rg)
	}
	return out
}

// intersect returns the ranges in both a and b (both normalized).
func intersect(a, b [][2]uint64) [][2]uint64 {
	var out [][2]uint64
	for _, x := range a {
		for _, y := range b {
			lo, hi := max(x[0], y[0]), min(x[1], y[1])
			if lo <= hi {
				out = append(out, [2]uint64{lo, hi})
			}
		}
	}
	return normalize(out)
}

// subtractRanges returns have minus take, and whether take was entirely
// inside have.
func subtractRanges(have, take [][2]uint64) ([][2]uint64, bool) {
	have, take = normalize(have), normalize(take)
	contained := true
	for _, t := range take {
		inside := false
		var next [][2]uint64
		for _, h := range have {
			if t[1] < h[0] || t[0] > h[1] {
				next = append(next, h)
				continue
			}
			if t[0] >= h[0] && t[1] <= h[1] {
				inside = true
			}
			if t[0] > h[0] {
				next = append(next, [2]uint64{h[0], t[0] - 1})
			}
			if t[1] < h[1] {
				next = append(next, [2]uint64{t[1] + 1, h[1]})
			}
		}
		contained = contained && inside
		have = next
	}
	return have, contained
}
