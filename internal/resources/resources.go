package resources

import (
	"cmp"
	"errors"
	"iter"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Unreserved is the role of resources that are not reserved for any role.
const Unreserved = "*"

// Well-known resource names.
const (
	CPUs  = "cpus"
	Mem   = "mem"
	Disk  = "disk"
	Ports = "ports"
	GPUs  = "gpus"
)

// ErrUnsupported is wrapped by errors about resource features Agora does not
// support yet (dynamic reservations, disk info, revocable, shared, providers).
var ErrUnsupported = errors.New("resources: unsupported")

// Kind is the value type of a resource entry.
type Kind uint8

// The kinds of resource values. TEXT is not a valid resource type in Mesos.
const (
	KindScalar Kind = iota
	KindRanges
	KindSet
)

// String returns the Mesos name of the kind (SCALAR, RANGES, SET).
func (k Kind) String() string {
	switch k {
	case KindScalar:
		return "SCALAR"
	case KindRanges:
		return "RANGES"
	case KindSet:
		return "SET"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Range is an inclusive interval [Begin, End] of a ranges resource.
type Range struct {
	Begin, End uint64
}

// Resource is one entry of a Resources value. Values obtained from a
// Resources must be treated as read-only: their slices are shared.
type Resource struct {
	Name   string
	Role   string // Unreserved ("*") or the role of a static reservation
	Kind   Kind
	Milli  int64    // KindScalar: thousandths
	Ranges []Range  // KindRanges: sorted, coalesced, non-empty
	Set    []string // KindSet: sorted, distinct, non-empty
}

// Value returns the scalar value as a float64 (Milli/1000).
func (e Resource) Value() float64 { return float64(e.Milli) / 1000 }

func (e Resource) empty() bool {
	switch e.Kind {
	case KindScalar:
		return e.Milli <= 0
	case KindRanges:
		return len(e.Ranges) == 0
	default:
		return len(e.Set) == 0
	}
}

func compareKey(a, b *Resource) int {
	if c := strings.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	if c := strings.Compare(a.Role, b.Role); c != 0 {
		return c
	}
	return cmp.Compare(a.Kind, b.Kind)
}

// Resources is an immutable collection of resources, normalised: entries are
// sorted by (name, role, kind), keys are unique, and no entry is empty. The
// zero value is empty and ready to use.
type Resources struct {
	items []Resource
}

// ToMilli converts a scalar to fixed-point thousandths the way Mesos does
// (llround(v*1000)), saturating at the int64 limits.
func ToMilli(v float64) int64 {
	m := math.Round(v * 1000)
	if m >= math.MaxInt64 {
		return math.MaxInt64
	}
	if m <= math.MinInt64 {
		return math.MinInt64
	}
	return int64(m)
}

// AddMilli adds two quantities in thousandths as Resources do, saturating
// at the int64 limit.
func AddMilli(a, b int64) int64 { return satAdd(a, b) }

func satAdd(a, b int64) int64 {
	s := a + b
	if b > 0 && s < a {
		return math.MaxInt64
	}
	return s
}

// NewScalar returns the unreserved scalar resource name:v (v ≤ 0 gives the
// empty value).
func NewScalar(name string, v float64) Resources {
	return build(Resource{Name: name, Role: Unreserved, Kind: KindScalar, Milli: ToMilli(v)})
}

// NewRanges returns the unreserved ranges resource name:[ranges]. Ranges with
// Begin > End are dropped; the rest are sorted and coalesced.
func NewRanges(name string, rs ...Range) Resources {
	return build(Resource{Name: name, Role: Unreserved, Kind: KindRanges, Ranges: normaliseRanges(slices.Clone(rs))})
}

// NewSet returns the unreserved set resource name:{items}.
func NewSet(name string, items ...string) Resources {
	return build(Resource{Name: name, Role: Unreserved, Kind: KindSet, Set: normaliseSet(slices.Clone(items))})
}

func build(e Resource) Resources {
	if e.empty() {
		return Resources{}
	}
	return Resources{items: []Resource{e}}
}

// Reserve returns r with every entry reserved for role (Unreserved or "" makes
// them unreserved). Entries that become equal in key are merged.
func (r Resources) Reserve(role string) Resources {
	if role == "" {
		role = Unreserved
	}
	out := Resources{}
	for _, e := range r.items {
		e.Role = role
		out = out.Add(Resources{items: []Resource{e}})
	}
	return out
}

// Items returns the entries in (name, role, kind) order. The returned slice is
// a copy; the entries' Ranges and Set slices must not be modified.
func (r Resources) Items() []Resource { return slices.Clone(r.items) }

// All iterates over the entries in (name, role, kind) order without
// copying the list. The entries' Ranges and Set slices must not be modified.
func (r Resources) All() iter.Seq[Resource] {
	return func(yield func(Resource) bool) {
		for i := range r.items {
			if !yield(r.items[i]) {
				return
			}
		}
	}
}

// Len returns the number of entries.
func (r Resources) Len() int { return len(r.items) }

// IsEmpty reports whether r holds nothing.
func (r Resources) IsEmpty() bool { return len(r.items) == 0 }

// Equal reports whether r and o hold exactly the same resources.
func (r Resources) Equal(o Resources) bool {
	if len(r.items) != len(o.items) {
		return false
	}
	for i := range r.items {
		a, b := &r.items[i], &o.items[i]
		if compareKey(a, b) != 0 || a.Milli != b.Milli || !slices.Equal(a.Ranges, b.Ranges) || !slices.Equal(a.Set, b.Set) {
			return false
		}
	}
	return true
}

// Add returns the union of r and o: scalars are summed (saturating), ranges
// and sets are united.
func (r Resources) Add(o Resources) Resources {
	if len(o.items) == 0 {
		return r
	}
	if len(r.items) == 0 {
		return o
	}
	out := make([]Resource, 0, len(r.items)+len(o.items))
	i, j := 0, 0
	for i < len(r.items) || j < len(o.items) {
		switch {
		case j == len(o.items):
			out = append(out, r.items[i])
			i++
		case i == len(r.items):
			out = append(out, o.items[j])
			j++
		default:
			a, b := &r.items[i], &o.items[j]
			switch c := compareKey(a, b); {
			case c < 0:
				out = append(out, *a)
				i++
			case c > 0:
				out = append(out, *b)
				j++
			default:
				e := *a
				switch a.Kind {
				case KindScalar:
					e.Milli = satAdd(a.Milli, b.Milli)
				case KindRanges:
					e.Ranges = unionRanges(a.Ranges, b.Ranges)
				case KindSet:
					e.Set = unionSets(a.Set, b.Set)
				}
				out = append(out, e)
				i++
				j++
			}
		}
	}
	return Resources{items: out}
}

// Sum adds up many Resources, as repeated Add would, without a new slice
// for each: while the next operand has the same scalar names as the sum
// so far (the common case of many tasks' resources), it is added in
// place. The zero Sum is empty.
type Sum struct {
	acc   Resources
	owned bool // acc.items is this Sum's own slice
}

// Add adds o.
func (s *Sum) Add(o Resources) {
	if len(o.items) == 0 {
		return
	}
	if !s.owned {
		if len(s.acc.items) == 0 {
			s.acc, s.owned = Resources{items: slices.Clone(o.items)}, true
			return
		}
		s.acc, s.owned = s.acc.Add(o), true
		return
	}
	if len(s.acc.items) == len(o.items) {
		same := true
		for i := range o.items {
			a, b := &s.acc.items[i], &o.items[i]
			if a.Kind != KindScalar || b.Kind != KindScalar || compareKey(a, b) != 0 {
				same = false
				break
			}
		}
		if same {
			for i := range o.items {
				s.acc.items[i].Milli = satAdd(s.acc.items[i].Milli, o.items[i].Milli)
			}
			return
		}
	}
	s.acc = s.acc.Add(o) // a new slice, owned
}

// Resources is the sum so far; it must not be changed while the Sum is
// used.
func (s *Sum) Resources() Resources { return s.acc }

// Subtract returns r minus o. It never goes negative: scalars are clamped at
// zero, and only the ranges and set items present in r are removed. Use
// Contains first where an over-subtraction must be reported.
func (r Resources) Subtract(o Resources) Resources {
	if len(o.items) == 0 || len(r.items) == 0 {
		return r
	}
	out := make([]Resource, 0, len(r.items))
	j := 0
	for i := range r.items {
		a := &r.items[i]
		for j < len(o.items) && compareKey(&o.items[j], a) < 0 {
			j++
		}
		if j == len(o.items) || compareKey(&o.items[j], a) != 0 {
			out = append(out, *a)
			continue
		}
		b := &o.items[j]
		e := *a
		switch a.Kind {
		case KindScalar:
			e.Milli = max(a.Milli-b.Milli, 0)
		case KindRanges:
			e.Ranges = subtractRanges(a.Ranges, b.Ranges)
		case KindSet:
			e.Set = subtractSets(a.Set, b.Set)
		}
		if !e.empty() {
			out = append(out, e)
		}
	}
	return Resources{items: out}
}

// Contains reports whether o is a subset of r: every entry of o is matched by
// an entry of r with the same name, role and kind and at least its value.
func (r Resources) Contains(o Resources) bool {
	i := 0
	for j := range o.items {
		b := &o.items[j]
		for i < len(r.items) && compareKey(&r.items[i], b) < 0 {
			i++
		}
		if i == len(r.items) || compareKey(&r.items[i], b) != 0 {
			return false
		}
		a := &r.items[i]
		switch a.Kind {
		case KindScalar:
			if a.Milli < b.Milli {
				return false
			}
		case KindRanges:
			if !containsRanges(a.Ranges, b.Ranges) {
				return false
			}
		case KindSet:
			if !containsSet(a.Set, b.Set) {
				return false
			}
		}
	}
	return true
}

// Filter returns the entries for which keep returns true.
func (r Resources) Filter(keep func(Resource) bool) Resources {
	var out []Resource
	for _, e := range r.items {
		if keep(e) {
			out = append(out, e)
		}
	}
	return Resources{items: out}
}

// Unreserved returns the unreserved entries.
func (r Resources) Unreserved() Resources {
	return r.Filter(func(e Resource) bool { return e.Role == Unreserved })
}

// Reserved returns the entries reserved for any role.
func (r Resources) Reserved() Resources {
	return r.Filter(func(e Resource) bool { return e.Role != Unreserved })
}

// ReservedFor returns the entries statically reserved for role.
func (r Resources) ReservedFor(role string) Resources {
	return r.Filter(func(e Resource) bool { return e.Role == role && role != Unreserved })
}

// AllocatableTo returns what a framework in role may be offered: unreserved
// entries plus entries reserved for role.
func (r Resources) AllocatableTo(role string) Resources {
	a, _ := r.SplitAllocatable(role)
	return a
}

// SplitAllocatable partitions r into the entries allocatable to role
// (unreserved or reserved for role) and the rest, in one pass.
func (r Resources) SplitAllocatable(role string) (allocatable, rest Resources) {
	n := 0
	for i := range r.items {
		if rl := r.items[i].Role; rl == Unreserved || rl == role {
			n++
		}
	}
	switch n {
	case 0:
		return Resources{}, r
	case len(r.items):
		return r, Resources{}
	}
	a := make([]Resource, 0, n)
	b := make([]Resource, 0, len(r.items)-n)
	for _, e := range r.items {
		if e.Role == Unreserved || e.Role == role {
			a = append(a, e)
		} else {
			b = append(b, e)
		}
	}
	return Resources{items: a}, Resources{items: b}
}

// Roles returns the distinct reservation roles in r (not "*"), sorted.
func (r Resources) Roles() []string {
	var out []string
	for _, e := range r.items {
		if e.Role != Unreserved {
			out = append(out, e.Role)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Names returns the distinct resource names in r, sorted.
func (r Resources) Names() []string {
	var out []string
	for _, e := range r.items {
		if len(out) == 0 || out[len(out)-1] != e.Name {
			out = append(out, e.Name)
		}
	}
	return out
}

// Has reports whether r holds any entry named name, in any role.
func (r Resources) Has(name string) bool {
	for i := range r.items {
		if r.items[i].Name == name {
			return true
		}
	}
	return false
}

// ScalarMilli returns the total of the scalar entries named name, all roles,
// in thousandths.
func (r Resources) ScalarMilli(name string) int64 {
	var t int64
	for i := range r.items {
		if e := &r.items[i]; e.Name == name && e.Kind == KindScalar {
			t = satAdd(t, e.Milli)
		}
	}
	return t
}

// Scalar returns the total of the scalar entries named name, all roles.
func (r Resources) Scalar(name string) float64 {
	return float64(r.ScalarMilli(name)) / 1000
}

// Ranges returns the union of the ranges entries named name, all roles.
func (r Resources) Ranges(name string) []Range {
	var out []Range
	for i := range r.items {
		if e := &r.items[i]; e.Name == name && e.Kind == KindRanges {
			out = unionRanges(out, e.Ranges)
		}
	}
	return slices.Clone(out)
}

// Set returns the union of the set entries named name, all roles.
func (r Resources) Set(name string) []string {
	var out []string
	for i := range r.items {
		if e := &r.items[i]; e.Name == name && e.Kind == KindSet {
			out = unionSets(out, e.Set)
		}
	}
	return slices.Clone(out)
}

// Quantities returns the total scalar value per name, all roles together, in
// thousandths: the input of DRF share computations.
func (r Resources) Quantities() map[string]int64 {
	q := make(map[string]int64)
	for i := range r.items {
		if e := &r.items[i]; e.Kind == KindScalar {
			q[e.Name] = satAdd(q[e.Name], e.Milli)
		}
	}
	return q
}

// String formats r in the Mesos text syntax accepted by Parse, for example
// "cpus:2; mem:1024; ports:[31000-32000, 33000-33005]; cpus(web):1".
// The empty value formats as "".
func (r Resources) String() string {
	var b strings.Builder
	for i := range r.items {
		if i > 0 {
			b.WriteString("; ")
		}
		writeEntry(&b, &r.items[i])
	}
	return b.String()
}

func writeEntry(b *strings.Builder, e *Resource) {
	b.WriteString(e.Name)
	if e.Role != Unreserved {
		b.WriteByte('(')
		b.WriteString(e.Role)
		b.WriteByte(')')
	}
	b.WriteByte(':')
	switch e.Kind {
	case KindScalar:
		b.WriteString(FormatMilli(e.Milli))
	case KindRanges:
		b.WriteByte('[')
		for i, rg := range e.Ranges {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strconv.FormatUint(rg.Begin, 10))
			b.WriteByte('-')
			b.WriteString(strconv.FormatUint(rg.End, 10))
		}
		b.WriteByte(']')
	case KindSet:
		b.WriteByte('{')
		for i, s := range e.Set {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(s)
		}
		b.WriteByte('}')
	}
}

// FormatMilli formats a fixed-point value exactly, without exponent and
// without trailing zeros: 2000 → "2", 1500 → "1.5", 1 → "0.001".
func FormatMilli(m int64) string {
	neg := m < 0
	u := uint64(m)
	if neg {
		u = -u
	}
	s := strconv.FormatUint(u/1000, 10)
	if f := u % 1000; f != 0 {
		frac := strconv.FormatUint(f+1000, 10)[1:]
		s += "." + strings.TrimRight(frac, "0")
	}
	if neg {
		s = "-" + s
	}
	return s
}
