package resources

import (
	"cmp"
	"math"
	"slices"
)

// normaliseRanges sorts rs in place, drops invalid ranges (Begin > End) and
// coalesces overlapping and adjacent ones. It returns nil for no ranges.
func normaliseRanges(rs []Range) []Range {
	rs = slices.DeleteFunc(rs, func(r Range) bool { return r.Begin > r.End })
	if len(rs) == 0 {
		return nil
	}
	slices.SortFunc(rs, func(a, b Range) int { return cmp.Compare(a.Begin, b.Begin) })
	out := rs[:1]
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		if last.End == math.MaxUint64 || r.Begin <= last.End+1 {
			last.End = max(last.End, r.End)
			continue
		}
		out = append(out, r)
	}
	return out
}

// unionRanges returns the union of two normalised range lists as a new slice
// (or one of the inputs when the other is empty).
func unionRanges(a, b []Range) []Range {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	out := make([]Range, 0, len(a)+len(b))
	out = append(out, a...)
	out = append(out, b...)
	return normaliseRanges(out)
}

// subtractRanges returns a minus b for normalised lists.
func subtractRanges(a, b []Range) []Range {
	if len(b) == 0 {
		return a
	}
	var out []Range
	j := 0
	for _, r := range a {
		cur := r
		alive := true
		// Skip b ranges entirely before cur.
		for j < len(b) && b[j].End < cur.Begin {
			j++
		}
		for k := j; k < len(b) && b[k].Begin <= cur.End; k++ {
			s := b[k]
			if s.Begin > cur.Begin {
				out = append(out, Range{cur.Begin, s.Begin - 1})
			}
			if s.End >= cur.End {
				alive = false
				break
			}
			cur.Begin = s.End + 1
		}
		if alive {
			out = append(out, cur)
		}
	}
	return out
}

// containsRanges reports whether every range of b lies within a range of a
// (both normalised).
func containsRanges(a, b []Range) bool {
	i := 0
	for _, r := range b {
		for i < len(a) && a[i].End < r.Begin {
			i++
		}
		if i == len(a) || a[i].Begin > r.Begin || a[i].End < r.End {
			return false
		}
	}
	return true
}

// normaliseSet sorts and de-duplicates items in place; nil for none.
func normaliseSet(items []string) []string {
	if len(items) == 0 {
		return nil
	}
	slices.Sort(items)
	return slices.Compact(items)
}

func unionSets(a, b []string) []string {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	out := make([]string, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i] < b[j]):
			out = append(out, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

func subtractSets(a, b []string) []string {
	var out []string
	j := 0
	for _, s := range a {
		for j < len(b) && b[j] < s {
			j++
		}
		if j < len(b) && b[j] == s {
			continue
		}
		out = append(out, s)
	}
	return out
}

func containsSet(a, b []string) bool {
	i := 0
	for _, s := range b {
		for i < len(a) && a[i] < s {
			i++
		}
		if i == len(a) || a[i] != s {
			return false
		}
	}
	return true
}
