package resources

import (
	"errors"
	"io/fs"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"google.golang.org/protobuf/proto"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in, want string // want is String() of the result
		err      string // substring of the error, if any
	}{
		{in: "", want: ""},
		{in: "cpus:2;mem:1024;disk:4096;ports:[31000-32000,33000-33005]", want: "cpus:2; disk:4096; mem:1024; ports:[31000-32000, 33000-33005]"},
		{in: " cpus : 2 ; mem:1024 ;", want: "cpus:2; mem:1024"},
		{in: "gpus:0", want: ""},
		{in: "cpus:0.0001", want: ""}, // below a thousandth: zero, as in Mesos
		{in: "cpus:0.0005", want: "cpus:0.001"},
		{in: "cpus:0.1;cpus:0.2", want: "cpus:0.3"},
		{in: "foo:{b,a}", want: "foo:{a, b}"},
		{in: "ports:[5-10,1-4,20-20]", want: "ports:[1-10, 20-20]"},
		{in: "ports:[7]", want: "ports:[7-7]"},
		{in: "ports:[]", want: ""},
		{in: "cpus(web):2;cpus:1;cpus(*):1", want: "cpus:2; cpus(web):2"},
		{in: "cpus(a/b):1", want: "cpus(a/b):1"},
		{in: "cpus", err: "missing ':'"},
		{in: "cpus:-1", err: "negative"},
		{in: "cpus:nan", err: "not a number"},
		{in: "cpus:inf", err: "not a number"},
		{in: "cpus:1e300", err: "exceeds"},
		{in: "cpus:abc", err: `"cpus:abc"`},
		{in: ":2", err: "empty resource name"},
		{in: "cpus():2", err: "empty role"},
		{in: "cpus(a:2", err: "name(role)"},
		{in: "cpus(-a):2", err: "starts with '-'"},
		{in: "cpus(a b):2", err: "contains"},
		{in: "cpus(a//b):2", err: "invalid component"},
		{in: "ports:[10-1]", err: "begin is greater"},
		{in: "ports:[a-b]", err: "unsigned"},
		{in: "ports:[1-2", err: "end with ']'"},
		{in: "foo:{a,a}", err: "duplicate set item"},
		{in: "foo:{a,}", err: "empty set item"},
		{in: "cpus:1;cpus:[1-2]", err: "both as SCALAR and RANGES"},
		{in: `[{"name":"cpus","type":"SCALAR","scalar":{"value":2}},{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":1,"end":3}]}}]`, want: "cpus:2; ports:[1-3]"},
		{in: `[{"name":"cpus","type":"SCALAR","scalar":{"value":2},"role":"web"}]`, want: "cpus(web):2"},
		{in: `[{"name":"cpus","type":"SCALAR","scalar":{"value":2},"reservations":[{"type":"STATIC","role":"r"}]}]`, want: "cpus(r):2"},
		{in: `[{"name":"cpus","type":"SCALAR","scalar":{"value":2},"reservations":[{"type":"DYNAMIC","role":"r"}]}]`, err: "unsupported"},
		{in: `[{"name":"disk","type":"SCALAR","scalar":{"value":2},"disk":{}}]`, err: "unsupported: disk"},
		{in: `[{"name":"cpus","type":"BOGUS"}]`, err: "unknown type"},
		{in: `[{"name":"cpus"`, err: "bad JSON"},
	}
	for _, tt := range tests {
		r, err := Parse(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Parse(%q) error = %v, want it to contain %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if got := r.String(); got != tt.want {
			t.Errorf("Parse(%q) = %q, want %q", tt.in, got, tt.want)
		}
		// String is Parse's inverse.
		back, err := Parse(r.String())
		if err != nil || !back.Equal(r) {
			t.Errorf("Parse(String(%q)) = %v, %v; want the same value", tt.in, back, err)
		}
	}
}

func TestUnsupportedIsSentinel(t *testing.T) {
	_, err := FromProto([]*mesos.Resource{{Name: new("cpus"), Type: mesos.Value_SCALAR.Enum(),
		Scalar: &mesos.Value_Scalar{Value: new(1.0)}, Revocable: &mesos.Resource_RevocableInfo{}}})
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("revocable: err = %v, want ErrUnsupported", err)
	}
}

func TestArithmetic(t *testing.T) {
	p := MustParse
	tests := []struct {
		a, b          string
		sum, diff     string
		aContainsB    bool
		bContainsA    bool
		diffIsClamped bool
	}{
		{a: "cpus:2;mem:1024", b: "cpus:1", sum: "cpus:3; mem:1024", diff: "cpus:1; mem:1024", aContainsB: true},
		{a: "cpus:1", b: "cpus:2", sum: "cpus:3", diff: "", bContainsA: true, diffIsClamped: true},
		{a: "cpus:0.1", b: "cpus:0.1", sum: "cpus:0.2", diff: "", aContainsB: true, bContainsA: true},
		{a: "ports:[1-10]", b: "ports:[3-4,8-12]", sum: "ports:[1-12]", diff: "ports:[1-2, 5-7]", diffIsClamped: true},
		{a: "ports:[1-10]", b: "ports:[1-10]", sum: "ports:[1-10]", diff: "", aContainsB: true, bContainsA: true},
		{a: "ports:[1-10,20-30]", b: "ports:[5-5,25-30]", sum: "ports:[1-10, 20-30]", diff: "ports:[1-4, 6-10, 20-24]", aContainsB: true},
		{a: "ports:[1-5]", b: "ports:[6-9]", sum: "ports:[1-9]", diff: "ports:[1-5]", diffIsClamped: true},
		{a: "foo:{a,b,c}", b: "foo:{b}", sum: "foo:{a, b, c}", diff: "foo:{a, c}", aContainsB: true},
		{a: "foo:{a}", b: "foo:{z}", sum: "foo:{a, z}", diff: "foo:{a}", diffIsClamped: true},
		{a: "cpus(r):2", b: "cpus:1", sum: "cpus:1; cpus(r):2", diff: "cpus(r):2", diffIsClamped: true},
		{a: "cpus:1;mem:10", b: "", sum: "cpus:1; mem:10", diff: "cpus:1; mem:10", aContainsB: true},
	}
	for _, tt := range tests {
		a, b := p(tt.a), p(tt.b)
		if got := a.Add(b).String(); got != tt.sum {
			t.Errorf("%q + %q = %q, want %q", tt.a, tt.b, got, tt.sum)
		}
		if got := b.Add(a).String(); got != tt.sum {
			t.Errorf("%q + %q = %q, want %q (commutativity)", tt.b, tt.a, got, tt.sum)
		}
		if got := a.Subtract(b).String(); got != tt.diff {
			t.Errorf("%q - %q = %q, want %q", tt.a, tt.b, got, tt.diff)
		}
		if got := a.Contains(b); got != tt.aContainsB {
			t.Errorf("%q contains %q = %v, want %v", tt.a, tt.b, got, tt.aContainsB)
		}
		if got := b.Contains(a); got != tt.bContainsA {
			t.Errorf("%q contains %q = %v, want %v", tt.b, tt.a, got, tt.bContainsA)
		}
		if clamped := !a.Contains(b); clamped != tt.diffIsClamped {
			t.Errorf("%q - %q clamped = %v, want %v", tt.a, tt.b, clamped, tt.diffIsClamped)
		}
	}
}

func TestQueries(t *testing.T) {
	r := MustParse("cpus:2;cpus(web):1.5;mem:1024;mem(db):512;ports:[1-10];ports(web):[20-30];gpus:1;zone:{a,b}")
	if got := r.Scalar("cpus"); got != 3.5 {
		t.Errorf("Scalar(cpus) = %v, want 3.5", got)
	}
	if got := r.ScalarMilli("mem"); got != 1536000 {
		t.Errorf("ScalarMilli(mem) = %v, want 1536000", got)
	}
	if got := r.Ranges("ports"); !slices.Equal(got, []Range{{1, 10}, {20, 30}}) {
		t.Errorf("Ranges(ports) = %v", got)
	}
	if got := r.Set("zone"); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("Set(zone) = %v", got)
	}
	if got := r.Unreserved().String(); got != "cpus:2; gpus:1; mem:1024; ports:[1-10]; zone:{a, b}" {
		t.Errorf("Unreserved = %q", got)
	}
	if got := r.ReservedFor("web").String(); got != "cpus(web):1.5; ports(web):[20-30]" {
		t.Errorf("ReservedFor(web) = %q", got)
	}
	if got := r.ReservedFor("*").String(); got != "" {
		t.Errorf("ReservedFor(*) = %q, want empty", got)
	}
	if got := r.AllocatableTo("db").String(); got != "cpus:2; gpus:1; mem:1024; mem(db):512; ports:[1-10]; zone:{a, b}" {
		t.Errorf("AllocatableTo(db) = %q", got)
	}
	a, rest := r.SplitAllocatable("web")
	if !a.Add(rest).Equal(r) || !a.Equal(r.AllocatableTo("web")) {
		t.Errorf("SplitAllocatable(web) = %v | %v", a, rest)
	}
	if got := r.Roles(); !slices.Equal(got, []string{"db", "web"}) {
		t.Errorf("Roles = %v", got)
	}
	if got := r.Names(); !slices.Equal(got, []string{"cpus", "gpus", "mem", "ports", "zone"}) {
		t.Errorf("Names = %v", got)
	}
	q := r.Quantities()
	if q["cpus"] != 3500 || q["mem"] != 1536000 || q["gpus"] != 1000 || len(q) != 3 {
		t.Errorf("Quantities = %v", q)
	}
	if got := r.Reserve("x").String(); got != "cpus(x):3.5; gpus(x):1; mem(x):1536; ports(x):[1-10, 20-30]; zone(x):{a, b}" {
		t.Errorf("Reserve(x) = %q", got)
	}
	var zero Resources
	if !zero.IsEmpty() || zero.String() != "" || !zero.Equal(MustParse("")) || !r.Contains(zero) {
		t.Errorf("zero value misbehaves")
	}
}

func TestProtoRoundTrip(t *testing.T) {
	r := MustParse("cpus:2.5;mem(web):1024;ports:[31000-32000,1-2];foo:{x,y}")
	pbs := r.ToProto("")
	if len(pbs) != 4 {
		t.Fatalf("ToProto gave %d resources, want 4", len(pbs))
	}
	want := []string{"cpus", "foo", "mem", "ports"}
	for i, pb := range pbs {
		if pb.GetName() != want[i] {
			t.Errorf("resource %d is %q, want %q (name order)", i, pb.GetName(), want[i])
		}
		//lint:ignore SA1019 checking that the deprecated field stays unset
		if legacy := pb.Role; legacy != nil || pb.AllocationInfo != nil {
			t.Errorf("resource %q: role %v allocation_info %v; want both unset", pb.GetName(), legacy, pb.AllocationInfo)
		}
	}
	if pbs[0].GetScalar().GetValue() != 2.5 {
		t.Errorf("cpus = %v", pbs[0].GetScalar().GetValue())
	}
	mem := pbs[2]
	if len(mem.Reservations) != 1 || mem.Reservations[0].GetType() != mesos.Resource_ReservationInfo_STATIC || mem.Reservations[0].GetRole() != "web" {
		t.Errorf("mem reservations = %v", mem.Reservations)
	}
	back, err := FromProto(pbs)
	if err != nil || !back.Equal(r) {
		t.Fatalf("FromProto(ToProto(r)) = %v, %v; want %v", back, err, r)
	}
	for _, pb := range r.ToProto("analytics") {
		if pb.GetAllocationInfo().GetRole() != "analytics" {
			t.Errorf("%q: allocation_info = %v", pb.GetName(), pb.AllocationInfo)
		}
	}
	// Survives a wire round trip, including required proto2 fields.
	for _, pb := range pbs {
		b, err := proto.Marshal(pb)
		if err != nil {
			t.Fatalf("marshal %v: %v", pb, err)
		}
		if err := proto.Unmarshal(b, new(mesos.Resource)); err != nil {
			t.Fatalf("unmarshal: %v", err)
		}
	}
}

func TestFromProtoValidation(t *testing.T) {
	scalar := func(v float64) *mesos.Value_Scalar { return &mesos.Value_Scalar{Value: &v} }
	rng := func(b, e uint64) *mesos.Value_Ranges {
		return &mesos.Value_Ranges{Range: []*mesos.Value_Range{{Begin: &b, End: &e}}}
	}
	static := func(role string) []*mesos.Resource_ReservationInfo {
		return []*mesos.Resource_ReservationInfo{{Type: mesos.Resource_ReservationInfo_STATIC.Enum(), Role: &role}}
	}
	S, R, SET, TEXT := mesos.Value_SCALAR.Enum(), mesos.Value_RANGES.Enum(), mesos.Value_SET.Enum(), mesos.Value_TEXT.Enum()
	tests := []struct {
		name string
		pb   *mesos.Resource
		want string // String() of the result, or
		err  string // error substring
	}{
		{"scalar", &mesos.Resource{Name: new("cpus"), Type: S, Scalar: scalar(1)}, "cpus:1", ""},
		{"legacy role", &mesos.Resource{Name: new("cpus"), Type: S, Scalar: scalar(1), Role: new("web")}, "cpus(web):1", ""},
		{"legacy star", &mesos.Resource{Name: new("cpus"), Type: S, Scalar: scalar(1), Role: new("*")}, "cpus:1", ""},
		{"static", &mesos.Resource{Name: new("cpus"), Type: S, Scalar: scalar(1), Reservations: static("web")}, "cpus(web):1", ""},
		{"allocation info ignored", &mesos.Resource{Name: new("cpus"), Type: S, Scalar: scalar(1), AllocationInfo: &mesos.Resource_AllocationInfo{Role: new("x")}}, "cpus:1", ""},
		{"no name", &mesos.Resource{Type: S, Scalar: scalar(1)}, "", "empty resource name"},
		{"no type", &mesos.Resource{Name: new("cpus"), Scalar: scalar(1)}, "", "missing type"},
		{"text", &mesos.Resource{Name: new("cpus"), Type: TEXT}, "", "not valid for a resource"},
		{"type mismatch", &mesos.Resource{Name: new("cpus"), Type: R, Scalar: scalar(1)}, "", "needs the ranges field"},
		{"two values", &mesos.Resource{Name: new("cpus"), Type: S, Scalar: scalar(1), Ranges: rng(1, 2)}, "", "only it"},
		{"negative", &mesos.Resource{Name: new("cpus"), Type: S, Scalar: scalar(-1)}, "", "negative"},
		{"nan", &mesos.Resource{Name: new("cpus"), Type: S, Scalar: scalar(nan())}, "", "not finite"},
		{"bad range", &mesos.Resource{Name: new("ports"), Type: R, Ranges: rng(5, 1)}, "", "begin greater than end"},
		{"dup set", &mesos.Resource{Name: new("f"), Type: SET, Set: &mesos.Value_Set{Item: []string{"a", "a"}}}, "", "duplicate set item"},
		{"dynamic", &mesos.Resource{Name: new("cpus"), Type: S, Scalar: scalar(1), Reservations: []*mesos.Resource_ReservationInfo{{Type: mesos.Resource_ReservationInfo_DYNAMIC.Enum(), Role: new("r")}}}, "", "unsupported"},
		{"refined", &mesos.Resource{Name: new("cpus"), Type: S, Scalar: scalar(1), Reservations: append(static("a"), static("a/b")...)}, "", "refinement"},
		{"conflicting roles", &mesos.Resource{Name: new("cpus"), Type: S, Scalar: scalar(1), Role: new("x"), Reservations: static("y")}, "", "contradicts"},
		{"shared", &mesos.Resource{Name: new("cpus"), Type: S, Scalar: scalar(1), Shared: &mesos.Resource_SharedInfo{}}, "", "unsupported: shared"},
	}
	for _, tt := range tests {
		r, err := FromProto([]*mesos.Resource{tt.pb})
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: error = %v, want it to contain %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil || r.String() != tt.want {
			t.Errorf("%s: got %q, %v; want %q", tt.name, r, err, tt.want)
		}
	}
}

func nan() float64 { var z float64; return z / z }

func TestParseAttributes(t *testing.T) {
	attrs, err := ParseAttributes("rack:r1;zone:us-east;cores:8;ports:[1-10];tags:{a,b};ver:1.5")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name string
		typ  mesos.Value_Type
	}{{"rack", mesos.Value_TEXT}, {"zone", mesos.Value_TEXT}, {"cores", mesos.Value_SCALAR}, {"ports", mesos.Value_RANGES}, {"tags", mesos.Value_SET}, {"ver", mesos.Value_SCALAR}}
	if len(attrs) != len(want) {
		t.Fatalf("got %d attributes, want %d", len(attrs), len(want))
	}
	for i, w := range want {
		if attrs[i].GetName() != w.name || attrs[i].GetType() != w.typ {
			t.Errorf("attribute %d = %s %v, want %s %v", i, attrs[i].GetName(), attrs[i].GetType(), w.name, w.typ)
		}
	}
	if attrs[0].GetText().GetValue() != "r1" || attrs[2].GetScalar().GetValue() != 8 || attrs[3].GetRanges().GetRange()[0].GetEnd() != 10 {
		t.Errorf("attribute values wrong: %v", attrs)
	}
	for _, bad := range []string{"rack", "rack:", ":x", "p:[3-1]"} {
		if _, err := ParseAttributes(bad); err == nil {
			t.Errorf("ParseAttributes(%q) succeeded, want an error", bad)
		}
	}
}

func TestDetectAndMerge(t *testing.T) {
	d, err := Detect(t.TempDir())
	if err != nil {
		t.Logf("Detect fell back: %v", err)
	}
	if d.Scalar(CPUs) < 1 || d.Scalar(Mem) <= 0 || d.Scalar(Disk) <= 0 || !slices.Equal(d.Ranges(Ports), []Range{DefaultPorts}) {
		t.Fatalf("Detect = %v", d)
	}
	given := MustParse("cpus(web):2;mem:100")
	m := MergeDefaults(given, d)
	if m.Scalar(CPUs) != 2 || m.Scalar(Mem) != 100 || m.Scalar(Disk) != d.Scalar(Disk) || !m.Has(Ports) {
		t.Errorf("MergeDefaults = %v", m)
	}
	if got := defaultSize(3*gib, 2*gib, gib); got != 2*gib {
		t.Errorf("defaultSize(3GiB) = %d", got)
	}
	if got := defaultSize(gib, 2*gib, gib); got != gib/2 {
		t.Errorf("defaultSize(1GiB) = %d", got)
	}
}

func TestDetectSaysWhichResource(t *testing.T) {
	d, err := Detect(filepath.Join(t.TempDir(), "absent"))
	des := DetectErrors(err)
	if len(des) == 0 || des[len(des)-1].Name != Disk {
		t.Fatalf("Detect(absent dir) error = %v; want a DetectError for disk", err)
	}
	if !strings.Contains(err.Error(), "cannot detect disk") || (runtime.GOOS == "linux" && !errors.Is(err, fs.ErrNotExist)) {
		t.Errorf("error %q does not say disk and ENOENT", err)
	}
	if d.Scalar(Disk) != fallbackDiskMB {
		t.Errorf("disk = %v, want the fallback %d in its place", d.Scalar(Disk), fallbackDiskMB)
	}
	if DetectErrors(nil) != nil {
		t.Error("DetectErrors(nil) != nil")
	}
}

func TestFormatMilli(t *testing.T) {
	for m, want := range map[int64]string{0: "0", 1: "0.001", 10: "0.01", 1500: "1.5", 2000: "2", -2500: "-2.5", 123456789: "123456.789"} {
		if got := FormatMilli(m); got != want {
			t.Errorf("FormatMilli(%d) = %q, want %q", m, got, want)
		}
	}
}

// TestSum: Sum gives what repeated Add gives, and never changes its
// operands, for scalars (added in place) and mixed kinds alike.
func TestSum(t *testing.T) {
	parse := func(s string) Resources {
		r, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	list := []Resources{parse("cpus:1;mem:10"), parse("cpus:0.5;mem:5"), parse("cpus:2;mem:1"),
		parse("cpus:1;disk:3"), parse("ports:[1-2]"), parse("cpus:1;mem:1"), {}, parse("ports:[5-6];cpus:1")}
	before := make([]string, len(list))
	for i, r := range list {
		before[i] = r.String()
	}
	var want Resources
	var s Sum
	for _, r := range list {
		want = want.Add(r)
		s.Add(r)
	}
	if !s.Resources().Equal(want) {
		t.Errorf("Sum %s, Add %s", s.Resources(), want)
	}
	for i, r := range list {
		if r.String() != before[i] {
			t.Errorf("operand %d changed: %s, was %s", i, r, before[i])
		}
	}
}
