package resources

import (
	"strings"
	"testing"
)

var fuzzSeeds = []string{
	"",
	"cpus:2;mem:1024;disk:4096;ports:[31000-32000,33000-33005];gpus:0;foo:{a,b}",
	"cpus(web):1.5;mem(web):512;ports(web):[1-5]",
	"cpus:0.001;cpus:0.0004;mem:0.5",
	"ports:[0-0,18446744073709551615-18446744073709551615]",
	"ports:[1-10,5-20,22-22];foo:{z,y,x}",
	"cpus:1e3;mem:1e-3",
	"cpus(a/b):3;cpus(a):1;cpus:1",
	`[{"name":"cpus","type":"SCALAR","scalar":{"value":2}}]`,
	"cpus:[1-2]",
	"foo:{a, b ,c}",
}

// FuzzParse checks that Parse never panics and that whatever it accepts
// formats back to itself: Parse(String(r)) == r, and String is stable.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "resources: ") {
				t.Fatalf("error without package prefix: %v", err)
			}
			return
		}
		back, err := Parse(r.String())
		if err != nil {
			t.Fatalf("Parse(%q) = %q, which does not parse: %v", s, r.String(), err)
		}
		if !back.Equal(r) {
			t.Fatalf("round trip of %q: %q became %q", s, r.String(), back.String())
		}
		pb, err := FromProto(r.ToProto(""))
		if err != nil || !pb.Equal(r) {
			t.Fatalf("proto round trip of %q: %v, %v", r, pb, err)
		}
		checkNormalised(t, r)
	})
}

// FuzzArithmetic checks the algebra on pairs of parsed values.
func FuzzArithmetic(f *testing.F) {
	for _, a := range fuzzSeeds {
		for _, b := range fuzzSeeds[:5] {
			f.Add(a, b)
		}
	}
	f.Fuzz(func(t *testing.T, sa, sb string) {
		a, err1 := Parse(sa)
		b, err2 := Parse(sb)
		if err1 != nil || err2 != nil {
			return
		}
		sum := a.Add(b)
		checkNormalised(t, sum)
		checkNormalised(t, a.Subtract(b))
		if !sum.Equal(b.Add(a)) {
			t.Fatalf("a+b != b+a: %v vs %v", sum, b.Add(a))
		}
		if !a.Contains(a) || !a.Contains(Resources{}) {
			t.Fatalf("%v does not contain itself or the empty value", a)
		}
		if !sum.Contains(a) || !sum.Contains(b) {
			t.Fatalf("a+b = %v does not contain a = %v and b = %v", sum, a, b)
		}
		// Ranges and sets are unions, so a+b-b == a holds only for disjoint
		// non-scalars; a+b-b ⊆ a always, and scalars come back exactly.
		back := sum.Subtract(b)
		if !a.Contains(back) {
			t.Fatalf("a+b-b = %v is not within a = %v", back, a)
		}
		if !a.Add(b).Subtract(b).Add(b).Equal(sum) {
			t.Fatalf("(a+b-b)+b != a+b for a=%v b=%v", a, b)
		}
		if a.Filter(func(e Resource) bool { return e.Kind == KindScalar }).Equal(a) &&
			b.Filter(func(e Resource) bool { return e.Kind == KindScalar }).Equal(b) && !back.Equal(a) {
			t.Fatalf("scalars: a+b-b = %v, want a = %v", back, a)
		}
		diff := a.Subtract(b)
		if !a.Contains(diff) {
			t.Fatalf("a-b = %v not within a = %v", diff, a)
		}
		if b.Contains(a) != diff.IsEmpty() {
			t.Fatalf("b ⊇ a is %v but a-b = %v", b.Contains(a), diff)
		}
		if a.Contains(b) && !diff.Add(b).Equal(a) {
			t.Fatalf("b ⊆ a but (a-b)+b = %v != a = %v", diff.Add(b), a)
		}
		if a.Contains(b) && b.Contains(a) && !a.Equal(b) {
			t.Fatalf("mutual containment without equality: %v, %v", a, b)
		}
		allocatable, rest := sum.SplitAllocatable("web")
		if !allocatable.Add(rest).Equal(sum) {
			t.Fatalf("split does not partition %v", sum)
		}
	})
}

func checkNormalised(t *testing.T, r Resources) {
	t.Helper()
	for i := range r.items {
		e := &r.items[i]
		if e.empty() {
			t.Fatalf("empty entry %+v in %v", e, r)
		}
		if i > 0 && compareKey(&r.items[i-1], e) >= 0 {
			t.Fatalf("entries out of order in %v", r)
		}
		for j, rg := range e.Ranges {
			if rg.Begin > rg.End || (j > 0 && e.Ranges[j-1].End+1 >= rg.Begin) {
				t.Fatalf("ranges not normalised: %v", e.Ranges)
			}
		}
		for j := 1; j < len(e.Set); j++ {
			if e.Set[j-1] >= e.Set[j] {
				t.Fatalf("set not normalised: %v", e.Set)
			}
		}
	}
}
