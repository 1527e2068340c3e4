package resources

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
)

// MaxScalar is the largest scalar value accepted on input (a trillion, e.g.
// an exabyte of mem in MB). It keeps thousandths exact in float64 and far from
// int64 overflow.
const MaxScalar = 1e12

// Parse parses resources in the Mesos agent flag syntax,
//
//	cpus:2;mem:1024;disk:4096;ports:[31000-32000,33000-33005];gpus:0;foo:{a,b};cpus(web):1
//
// where name(role) statically reserves the entry for role and name(*) is the
// same as name. Values are a scalar, [begin-end,...] ranges or a {a,b} set.
// Repeated entries are added together; zero and empty values vanish. Like
// Mesos, a string that starts with '[' is read as a JSON array of Resource
// objects instead. Errors name the offending entry.
func Parse(s string) (Resources, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "[") {
		return parseJSON(s)
	}
	var out Resources
	for tok := range strings.SplitSeq(s, ";") {
		tok = strings.TrimSpace(tok)
		if tok == "" {
			continue
		}
		e, err := parseEntry(tok)
		if err != nil {
			return Resources{}, err
		}
		out = out.Add(build(e))
	}
	if err := checkKinds(out); err != nil {
		return Resources{}, err
	}
	return out, nil
}

// MustParse is Parse for literals in tests and defaults; it panics on error.
func MustParse(s string) Resources {
	r, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return r
}

func parseEntry(tok string) (Resource, error) {
	key, val, ok := strings.Cut(tok, ":")
	if !ok {
		return Resource{}, fmt.Errorf("resources: %q: missing ':' between name and value", tok)
	}
	key = strings.TrimSpace(key)
	val = strings.TrimSpace(val)
	name, role := key, Unreserved
	if i := strings.IndexByte(key, '('); i >= 0 {
		if !strings.HasSuffix(key, ")") {
			return Resource{}, fmt.Errorf("resources: %q: role must be written name(role)", tok)
		}
		name, role = strings.TrimSpace(key[:i]), strings.TrimSpace(key[i+1:len(key)-1])
		if err := ValidateRole(role); err != nil {
			return Resource{}, fmt.Errorf("resources: %q: %w", tok, err)
		}
	}
	if err := validateName(name); err != nil {
		return Resource{}, fmt.Errorf("resources: %q: %w", tok, err)
	}
	e := Resource{Name: name, Role: role}
	switch {
	case strings.HasPrefix(val, "["):
		rs, err := parseRanges(val)
		if err != nil {
			return Resource{}, fmt.Errorf("resources: %q: %w", tok, err)
		}
		e.Kind, e.Ranges = KindRanges, rs
	case strings.HasPrefix(val, "{"):
		set, err := parseSet(val)
		if err != nil {
			return Resource{}, fmt.Errorf("resources: %q: %w", tok, err)
		}
		if dup := firstDuplicate(set); dup != "" {
			return Resource{}, fmt.Errorf("resources: %q: duplicate set item %q", tok, dup)
		}
		e.Kind, e.Set = KindSet, normaliseSet(set)
	default:
		v, err := parseScalar(val)
		if err != nil {
			return Resource{}, fmt.Errorf("resources: %q: %w", tok, err)
		}
		e.Kind, e.Milli = KindScalar, ToMilli(v)
	}
	return e, nil
}

func isDecimal(s string) bool {
	if s == "" {
		return false
	}
	digits := false
	for _, c := range []byte(s) {
		switch {
		case c >= '0' && c <= '9':
			digits = true
		case c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-':
		default:
			return false
		}
	}
	return digits
}

func parseScalar(val string) (float64, error) {
	if !isDecimal(val) {
		return 0, fmt.Errorf("value %q is not a number, [ranges] or {set}", val)
	}
	v, err := strconv.ParseFloat(val, 64)
	if err != nil {
		return 0, fmt.Errorf("bad scalar %q", val)
	}
	return v, checkScalar(v)
}

func checkScalar(v float64) error {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return fmt.Errorf("scalar %v is not finite", v)
	case v < 0:
		return fmt.Errorf("scalar %v is negative", v)
	case v > MaxScalar:
		return fmt.Errorf("scalar %v exceeds the maximum %v", v, float64(MaxScalar))
	}
	return nil
}

func parseRanges(val string) ([]Range, error) {
	if !strings.HasSuffix(val, "]") {
		return nil, fmt.Errorf("ranges %q must end with ']'", val)
	}
	inner := strings.TrimSpace(val[1 : len(val)-1])
	if inner == "" {
		return nil, nil
	}
	var rs []Range
	for part := range strings.SplitSeq(inner, ",") {
		part = strings.TrimSpace(part)
		b, e, hasDash := strings.Cut(part, "-")
		if !hasDash {
			e = b
		}
		begin, err1 := strconv.ParseUint(strings.TrimSpace(b), 10, 64)
		end, err2 := strconv.ParseUint(strings.TrimSpace(e), 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("bad range %q: want begin-end with unsigned integers", part)
		}
		if begin > end {
			return nil, fmt.Errorf("bad range %q: begin is greater than end", part)
		}
		rs = append(rs, Range{begin, end})
	}
	return normaliseRanges(rs), nil
}

func parseSet(val string) ([]string, error) {
	if !strings.HasSuffix(val, "}") {
		return nil, fmt.Errorf("set %q must end with '}'", val)
	}
	inner := strings.TrimSpace(val[1 : len(val)-1])
	if inner == "" {
		return nil, nil
	}
	var items []string
	for it := range strings.SplitSeq(inner, ",") {
		it = strings.TrimSpace(it)
		if err := validateItem(it); err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, nil
}

func firstDuplicate(items []string) string {
	seen := make(map[string]bool, len(items))
	for _, it := range items {
		if seen[it] {
			return it
		}
		seen[it] = true
	}
	return ""
}

const reserved = ";:()[]{},"

func hasBadChar(s string) (rune, bool) {
	for _, c := range s {
		if c <= ' ' || c == 0x7f || strings.ContainsRune(reserved, c) {
			return c, true
		}
	}
	return 0, false
}

func validateName(name string) error {
	if name == "" {
		return errors.New("empty resource name")
	}
	if c, bad := hasBadChar(name); bad {
		return fmt.Errorf("resource name %q contains %q", name, c)
	}
	return nil
}

func validateItem(it string) error {
	if it == "" {
		return errors.New("empty set item")
	}
	if c, bad := hasBadChar(it); bad {
		return fmt.Errorf("set item %q contains %q", it, c)
	}
	return nil
}

// ValidateRole checks a role name the way Mesos does (roles::validate): not
// empty, not "." or "..", no leading '-', no whitespace, control characters
// or the separators of the text syntax, and for hierarchical roles ("a/b")
// no empty, "." or ".." component. "*" is valid and means unreserved.
func ValidateRole(role string) error {
	if role == Unreserved {
		return nil
	}
	if role == "" {
		return errors.New("empty role")
	}
	if strings.HasPrefix(role, "-") {
		return fmt.Errorf("role %q starts with '-'", role)
	}
	if c, bad := hasBadChar(role); bad {
		return fmt.Errorf("role %q contains %q", role, c)
	}
	for part := range strings.SplitSeq(role, "/") {
		switch part {
		case "", ".", "..", "*":
			return fmt.Errorf("role %q has an invalid component %q", role, part)
		}
	}
	return nil
}

// checkKinds rejects a name used with two kinds (cpus:1;cpus:[1-2]).
func checkKinds(r Resources) error {
	kinds := make(map[string]Kind, len(r.items))
	for _, e := range r.items {
		if k, ok := kinds[e.Name]; ok && k != e.Kind {
			return fmt.Errorf("resources: %q is used both as %v and %v", e.Name, k, e.Kind)
		}
		kinds[e.Name] = e.Kind
	}
	return nil
}

// ParseAttributes parses agent attributes in the Mesos flag syntax,
// rack:r1;zone:us;cores:8;ports:[1-10];tags:{a,b}: numbers become SCALAR,
// [..] RANGES, {..} SET, anything else TEXT. Order is preserved.
func ParseAttributes(s string) ([]*mesos.Attribute, error) {
	var out []*mesos.Attribute
	for tok := range strings.SplitSeq(strings.TrimSpace(s), ";") {
		tok = strings.TrimSpace(tok)
		if tok == "" {
			continue
		}
		name, val, ok := strings.Cut(tok, ":")
		name, val = strings.TrimSpace(name), strings.TrimSpace(val)
		if !ok {
			return nil, fmt.Errorf("attributes: %q: missing ':' between name and value", tok)
		}
		if err := validateName(name); err != nil {
			return nil, fmt.Errorf("attributes: %q: %w", tok, err)
		}
		if val == "" {
			return nil, fmt.Errorf("attributes: %q: empty value", tok)
		}
		a := &mesos.Attribute{Name: &name}
		switch {
		case strings.HasPrefix(val, "["):
			rs, err := parseRanges(val)
			if err != nil {
				return nil, fmt.Errorf("attributes: %q: %w", tok, err)
			}
			a.Type = mesos.Value_RANGES.Enum()
			a.Ranges = rangesProto(rs)
		case strings.HasPrefix(val, "{"):
			set, err := parseSet(val)
			if err != nil {
				return nil, fmt.Errorf("attributes: %q: %w", tok, err)
			}
			a.Type = mesos.Value_SET.Enum()
			a.Set = &mesos.Value_Set{Item: set}
		default:
			if v, err := strconv.ParseFloat(val, 64); err == nil && isDecimal(val) && !math.IsInf(v, 0) {
				a.Type = mesos.Value_SCALAR.Enum()
				a.Scalar = &mesos.Value_Scalar{Value: &v}
				break
			}
			a.Type = mesos.Value_TEXT.Enum()
			a.Text = &mesos.Value_Text{Value: &val}
		}
		out = append(out, a)
	}
	return out, nil
}

// jsonResource is the subset of Mesos's JSON Resource that Parse reads.
// Fields Agora does not support are kept as raw JSON to reject them.
type jsonResource struct {
	Name   *string `json:"name"`
	Type   *string `json:"type"`
	Scalar *struct {
		Value *float64 `json:"value"`
	} `json:"scalar"`
	Ranges *struct {
		Range []struct {
			Begin *uint64 `json:"begin"`
			End   *uint64 `json:"end"`
		} `json:"range"`
	} `json:"ranges"`
	Set *struct {
		Item []string `json:"item"`
	} `json:"set"`
	Role         *string `json:"role"`
	Reservations []struct {
		Type      *string `json:"type"`
		Role      *string `json:"role"`
		Principal *string `json:"principal"`
	} `json:"reservations"`
	Disk           json.RawMessage `json:"disk"`
	Reservation    json.RawMessage `json:"reservation"`
	Revocable      json.RawMessage `json:"revocable"`
	Shared         json.RawMessage `json:"shared"`
	ProviderID     json.RawMessage `json:"provider_id"`
	AllocationInfo json.RawMessage `json:"allocation_info"`
}

func parseJSON(s string) (Resources, error) {
	var in []jsonResource
	if err := json.Unmarshal([]byte(s), &in); err != nil {
		return Resources{}, fmt.Errorf("resources: bad JSON: %w", err)
	}
	pbs := make([]*mesos.Resource, 0, len(in))
	for i, j := range in {
		pb := &mesos.Resource{Name: j.Name, Role: j.Role}
		if j.Type != nil {
			v, ok := mesos.Value_Type_value[*j.Type]
			if !ok {
				return Resources{}, fmt.Errorf("resources: JSON resource %d: unknown type %q", i, *j.Type)
			}
			pb.Type = mesos.Value_Type(v).Enum()
		}
		if j.Scalar != nil {
			pb.Scalar = &mesos.Value_Scalar{Value: j.Scalar.Value}
		}
		if j.Ranges != nil {
			pb.Ranges = &mesos.Value_Ranges{}
			for _, r := range j.Ranges.Range {
				pb.Ranges.Range = append(pb.Ranges.Range, &mesos.Value_Range{Begin: r.Begin, End: r.End})
			}
		}
		if j.Set != nil {
			pb.Set = &mesos.Value_Set{Item: j.Set.Item}
		}
		for _, r := range j.Reservations {
			ri := &mesos.Resource_ReservationInfo{Role: r.Role, Principal: r.Principal}
			if r.Type != nil {
				v, ok := mesos.Resource_ReservationInfo_Type_value[*r.Type]
				if !ok {
					return Resources{}, fmt.Errorf("resources: JSON resource %d: unknown reservation type %q", i, *r.Type)
				}
				ri.Type = mesos.Resource_ReservationInfo_Type(v).Enum()
			}
			pb.Reservations = append(pb.Reservations, ri)
		}
		for _, f := range []struct {
			name string
			raw  json.RawMessage
		}{{"disk", j.Disk}, {"reservation", j.Reservation}, {"revocable", j.Revocable}, {"shared", j.Shared}, {"provider_id", j.ProviderID}} {
			if len(f.raw) > 0 && string(f.raw) != "null" {
				return Resources{}, fmt.Errorf("resources: JSON resource %d: %w: %s", i, ErrUnsupported, f.name)
			}
		}
		pbs = append(pbs, pb)
	}
	return FromProto(pbs)
}
