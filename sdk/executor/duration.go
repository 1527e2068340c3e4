package executor

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Stout (Mesos's utility library) writes durations as a number followed by
// a unit; these are the units it knows, smallest first.
var stoutUnits = []struct {
	name string
	d    time.Duration
}{
	{"ns", time.Nanosecond},
	{"us", time.Microsecond},
	{"ms", time.Millisecond},
	{"secs", time.Second},
	{"mins", time.Minute},
	{"hrs", time.Hour},
	{"days", 24 * time.Hour},
	{"weeks", 7 * 24 * time.Hour},
}

// ParseDuration parses a duration written the way Mesos writes them in the
// MESOS_* environment of an executor: a non-negative decimal number
// followed by one of the units ns, us, ms, secs, mins, hrs, days or weeks,
// e.g. "5secs", "15mins", "1.5secs". Go-style "5s" is rejected, as Mesos
// rejects it.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], s[i:]
	if num == "" {
		return 0, fmt.Errorf("invalid duration %q: missing number", s)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: bad number %q", s, num)
	}
	if unit == "" {
		return 0, fmt.Errorf("invalid duration %q: missing unit", s)
	}
	for _, u := range stoutUnits {
		if u.name == unit {
			ns := v * float64(u.d)
			if ns >= math.MaxInt64 {
				return 0, fmt.Errorf("invalid duration %q: out of range", s)
			}
			return time.Duration(math.Round(ns)), nil
		}
	}
	return 0, fmt.Errorf("invalid duration %q: unknown duration unit %q", s, unit)
}

// FormatDuration writes d the way Mesos's stout library does, so that
// ParseDuration (and Mesos executors, and mesos-go) read it back: in the
// largest unit not greater than d, or in the next smaller unit when that
// one gives a whole number and the larger does not ("5secs", "15mins",
// "1500ms", "0ns").
func FormatDuration(d time.Duration) string {
	var sign string
	if d < 0 {
		sign = "-"
		if d == math.MinInt64 {
			d = math.MaxInt64
		} else {
			d = -d
		}
	}
	// The bucket is the largest unit that is not greater than d.
	b := 0
	for b+1 < len(stoutUnits) && d >= stoutUnits[b+1].d {
		b++
	}
	u := stoutUnits[b]
	if b > 0 && d%u.d != 0 {
		if lower := stoutUnits[b-1]; d%lower.d == 0 {
			return sign + strconv.FormatInt(int64(d/lower.d), 10) + lower.name
		}
	}
	if d%u.d == 0 {
		return sign + strconv.FormatInt(int64(d/u.d), 10) + u.name
	}
	v := float64(d) / float64(u.d)
	return sign + strconv.FormatFloat(v, 'g', 15, 64) + u.name
}

// errMissing is wrapped by the errors of ConfigFromEnv for a variable that
// is required but unset.
var errMissing = errors.New("missing environment variable")
