package resources

import (
	"math"
	"strconv"
	"strings"
	"testing"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"google.golang.org/protobuf/proto"
)

// FuzzParseAttributes: ParseAttributes never panics; its errors say
// "attributes:"; what it accepts is well formed (a valid name, one value of
// the type it says, finite scalars, ordered ranges) and, written back in the
// flag syntax, parses to the same attributes.
func FuzzParseAttributes(f *testing.F) {
	for _, s := range []string{
		"", "rack:r1;zone:us;cores:8;ports:[1-10];tags:{a,b}", "rack:r1", "os:ubuntu-22.04; cores : 8 ;",
		"gpu:0.5", "n:1e3", "n:inf", "n:NaN", "n:0x10", "p:[3-1]", "p:[1-2,4-9]", "s:{}", "s:{a, b ,c}",
		"rack", "rack:", ":x", "a:b:c", "a:[1-2", "a:{x", "a(role):1", "big:179769313486231570000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		attrs, err := ParseAttributes(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "attributes: ") {
				t.Fatalf("ParseAttributes(%q): error without prefix: %v", s, err)
			}
			return
		}
		parts := make([]string, len(attrs))
		for i, a := range attrs {
			if validateName(a.GetName()) != nil {
				t.Fatalf("ParseAttributes(%q): bad name %q", s, a.GetName())
			}
			values := 0
			for _, set := range []bool{a.Scalar != nil, a.Ranges != nil, a.Set != nil, a.Text != nil} {
				if set {
					values++
				}
			}
			if values != 1 {
				t.Fatalf("ParseAttributes(%q): %v has %d values", s, a, values)
			}
			var v string
			switch a.GetType() {
			case mesos.Value_SCALAR:
				x := a.GetScalar().GetValue()
				if a.Scalar == nil || math.IsNaN(x) || math.IsInf(x, 0) {
					t.Fatalf("ParseAttributes(%q): scalar %v", s, a)
				}
				v = strconv.FormatFloat(x, 'f', -1, 64)
			case mesos.Value_RANGES:
				if a.Ranges == nil {
					t.Fatalf("ParseAttributes(%q): ranges %v", s, a)
				}
				var rs []string
				for _, r := range a.GetRanges().GetRange() {
					if r.GetBegin() > r.GetEnd() {
						t.Fatalf("ParseAttributes(%q): range %v", s, r)
					}
					rs = append(rs, strconv.FormatUint(r.GetBegin(), 10)+"-"+strconv.FormatUint(r.GetEnd(), 10))
				}
				v = "[" + strings.Join(rs, ",") + "]"
			case mesos.Value_SET:
				if a.Set == nil {
					t.Fatalf("ParseAttributes(%q): set %v", s, a)
				}
				v = "{" + strings.Join(a.GetSet().GetItem(), ",") + "}"
			case mesos.Value_TEXT:
				v = a.GetText().GetValue()
				if a.Text == nil || v == "" || strings.ContainsAny(v, ";") {
					t.Fatalf("ParseAttributes(%q): text %v", s, a)
				}
			default:
				t.Fatalf("ParseAttributes(%q): type %v", s, a.GetType())
			}
			parts[i] = a.GetName() + ":" + v
		}
		back := strings.Join(parts, ";")
		again, err := ParseAttributes(back)
		if err != nil {
			t.Fatalf("ParseAttributes(%q) written back as %q does not parse: %v", s, back, err)
		}
		if len(again) != len(attrs) {
			t.Fatalf("round trip of %q via %q: %d attributes, then %d", s, back, len(attrs), len(again))
		}
		for i := range attrs {
			if !proto.Equal(attrs[i], again[i]) {
				t.Fatalf("round trip of %q via %q: %v became %v", s, back, attrs[i], again[i])
			}
		}
	})
}
