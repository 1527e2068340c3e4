package resources

import (
	"fmt"
	"slices"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
)

// FromProto converts and validates Mesos resources. Each resource must have a
// non-empty name and a type of SCALAR, RANGES or SET with exactly the matching
// value field set; scalars must be finite, non-negative and at most MaxScalar;
// ranges must have begin ≤ end; set items must be distinct. Reservations are
// read in both formats (see the package documentation); unsupported features
// give an error wrapping ErrUnsupported. allocation_info is ignored. Errors
// say which resource (by index and name) is wrong.
func FromProto(pbs []*mesos.Resource) (Resources, error) {
	var out Resources
	for i, pb := range pbs {
		e, err := fromProto(pb)
		if err != nil {
			return Resources{}, fmt.Errorf("resources: resource %d (%q): %w", i, pb.GetName(), err)
		}
		out = out.Add(build(e))
	}
	if err := checkKinds(out); err != nil {
		return Resources{}, err
	}
	return out, nil
}

func fromProto(pb *mesos.Resource) (Resource, error) {
	if pb == nil {
		return Resource{}, fmt.Errorf("nil resource")
	}
	if err := validateName(pb.GetName()); err != nil {
		return Resource{}, err
	}
	switch {
	case pb.Disk != nil:
		return Resource{}, fmt.Errorf("%w: disk info (persistent volumes, disk sources)", ErrUnsupported)
	case pb.Reservation != nil:
		return Resource{}, fmt.Errorf("%w: dynamic reservation (pre-refinement reservation field)", ErrUnsupported)
	case pb.Revocable != nil:
		return Resource{}, fmt.Errorf("%w: revocable resources", ErrUnsupported)
	case pb.Shared != nil:
		return Resource{}, fmt.Errorf("%w: shared resources", ErrUnsupported)
	case pb.ProviderId != nil:
		return Resource{}, fmt.Errorf("%w: resource providers", ErrUnsupported)
	}
	role, err := roleFromProto(pb)
	if err != nil {
		return Resource{}, err
	}
	e := Resource{Name: pb.GetName(), Role: role}
	if pb.Type == nil {
		return Resource{}, fmt.Errorf("missing type")
	}
	setFields := 0
	for _, set := range []bool{pb.Scalar != nil, pb.Ranges != nil, pb.Set != nil} {
		if set {
			setFields++
		}
	}
	switch t := pb.GetType(); t {
	case mesos.Value_SCALAR:
		if pb.Scalar == nil || setFields != 1 {
			return Resource{}, fmt.Errorf("type SCALAR needs the scalar field and only it")
		}
		if pb.Scalar.Value == nil {
			return Resource{}, fmt.Errorf("scalar without value")
		}
		v := pb.Scalar.GetValue()
		if err := checkScalar(v); err != nil {
			return Resource{}, err
		}
		e.Kind, e.Milli = KindScalar, ToMilli(v)
	case mesos.Value_RANGES:
		if pb.Ranges == nil || setFields != 1 {
			return Resource{}, fmt.Errorf("type RANGES needs the ranges field and only it")
		}
		rs := make([]Range, 0, len(pb.Ranges.Range))
		for _, r := range pb.Ranges.Range {
			if r == nil || r.Begin == nil || r.End == nil {
				return Resource{}, fmt.Errorf("range without begin or end")
			}
			if r.GetBegin() > r.GetEnd() {
				return Resource{}, fmt.Errorf("range [%d-%d] has begin greater than end", r.GetBegin(), r.GetEnd())
			}
			rs = append(rs, Range{r.GetBegin(), r.GetEnd()})
		}
		e.Kind, e.Ranges = KindRanges, normaliseRanges(rs)
	case mesos.Value_SET:
		if pb.Set == nil || setFields != 1 {
			return Resource{}, fmt.Errorf("type SET needs the set field and only it")
		}
		items := slices.Clone(pb.Set.Item)
		for _, it := range items {
			if err := validateItem(it); err != nil {
				return Resource{}, err
			}
		}
		if dup := firstDuplicate(items); dup != "" {
			return Resource{}, fmt.Errorf("duplicate set item %q", dup)
		}
		e.Kind, e.Set = KindSet, normaliseSet(items)
	default:
		return Resource{}, fmt.Errorf("type %v is not valid for a resource", t)
	}
	return e, nil
}

// roleFromProto reads the reservation role in either format.
func roleFromProto(pb *mesos.Resource) (string, error) {
	//lint:ignore SA1019 the pre-refinement format is still on the wire
	legacy := pb.GetRole() // "*" when unset
	if err := ValidateRole(legacy); err != nil {
		return "", err
	}
	switch len(pb.Reservations) {
	case 0:
		return legacy, nil
	case 1:
	default:
		return "", fmt.Errorf("%w: reservation refinement (%d reservations)", ErrUnsupported, len(pb.Reservations))
	}
	ri := pb.Reservations[0]
	if ri.GetType() != mesos.Resource_ReservationInfo_STATIC {
		return "", fmt.Errorf("%w: reservation of type %v (only STATIC)", ErrUnsupported, ri.GetType())
	}
	role := ri.GetRole()
	if role == "" || role == Unreserved {
		return "", fmt.Errorf("static reservation without a role")
	}
	if err := ValidateRole(role); err != nil {
		return "", err
	}
	if legacy != Unreserved && legacy != role {
		return "", fmt.Errorf("role %q contradicts reservation role %q", legacy, role)
	}
	return role, nil
}

// ToProto returns r in the post-refinement format, one mesos.Resource per
// entry in (name, role) order: unreserved entries carry neither role nor
// reservations, statically reserved ones one STATIC reservation. When
// allocationRole is not empty every resource carries allocation_info{role}
// (for MULTI_ROLE frameworks). Scalars are emitted as Milli/1000.
func (r Resources) ToProto(allocationRole string) []*mesos.Resource {
	out := make([]*mesos.Resource, 0, len(r.items))
	for i := range r.items {
		e := &r.items[i]
		pb := &mesos.Resource{Name: new(e.Name)}
		switch e.Kind {
		case KindScalar:
			pb.Type = mesos.Value_SCALAR.Enum()
			pb.Scalar = &mesos.Value_Scalar{Value: new(e.Value())}
		case KindRanges:
			pb.Type = mesos.Value_RANGES.Enum()
			pb.Ranges = rangesProto(e.Ranges)
		case KindSet:
			pb.Type = mesos.Value_SET.Enum()
			pb.Set = &mesos.Value_Set{Item: slices.Clone(e.Set)}
		}
		if e.Role != Unreserved {
			pb.Reservations = []*mesos.Resource_ReservationInfo{{
				Type: mesos.Resource_ReservationInfo_STATIC.Enum(),
				Role: new(e.Role),
			}}
		}
		if allocationRole != "" {
			pb.AllocationInfo = &mesos.Resource_AllocationInfo{Role: new(allocationRole)}
		}
		out = append(out, pb)
	}
	return out
}

func rangesProto(rs []Range) *mesos.Value_Ranges {
	out := &mesos.Value_Ranges{Range: make([]*mesos.Value_Range, 0, len(rs))}
	for _, r := range rs {
		out.Range = append(out.Range, &mesos.Value_Range{Begin: new(r.Begin), End: new(r.End)})
	}
	return out
}
