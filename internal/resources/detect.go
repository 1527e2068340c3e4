package resources

import (
	"errors"
	"fmt"
	"runtime"
)

const (
	mib = 1 << 20
	gib = 1 << 30

	fallbackMemMB  = 1024
	fallbackDiskMB = 10240
)

// DefaultPorts is the ports range an agent offers when --resources names no
// ports: [31000-32000].
var DefaultPorts = Range{31000, 32000}

// Detect returns the default resources of an agent whose sandboxes live in
// workDir (docs/mesos-api.md §6.3), all unreserved:
//
//   - cpus: runtime.NumCPU() (fallback 1);
//   - mem: total RAM minus 1 GiB if RAM is at least 2 GiB, else half, in MB
//     (fallback 1024);
//   - disk: size of workDir's filesystem minus 5 GiB if it is at least
//     10 GiB, else half, in MB (fallback 10240);
//   - ports: [31000-32000].
//
// When memory or disk cannot be measured the fallback is put in its place and
// the error, one *DetectError per resource that could not be measured, says
// which and why. The caller decides whether a fallback is acceptable: the
// agent refuses to start on one unless --resources names that resource.
func Detect(workDir string) (Resources, error) {
	var errs []error
	cpus := runtime.NumCPU()
	if cpus < 1 {
		cpus = 1
	}
	memMB := int64(fallbackMemMB)
	if total, err := totalMemory(); err != nil {
		errs = append(errs, &DetectError{Name: Mem, Err: err})
	} else if total > 0 {
		memMB = defaultSize(total, 2*gib, gib) / mib
	}
	diskMB := int64(fallbackDiskMB)
	if total, err := filesystemSize(workDir); err != nil {
		errs = append(errs, &DetectError{Name: Disk, Err: err})
	} else if total > 0 {
		diskMB = defaultSize(total, 10*gib, 5*gib) / mib
	}
	r := NewScalar(CPUs, float64(cpus)).
		Add(NewScalar(Mem, float64(memMB))).
		Add(NewScalar(Disk, float64(diskMB))).
		Add(NewRanges(Ports, DefaultPorts))
	return r, errors.Join(errs...)
}

// DetectError says that Detect could not measure one resource and used its
// fallback instead.
type DetectError struct {
	Name string // the resource: "mem" or "disk"
	Err  error
}

func (e *DetectError) Error() string {
	return fmt.Sprintf("cannot detect %s: %v", e.Name, e.Err)
}

func (e *DetectError) Unwrap() error { return e.Err }

// DetectErrors returns the *DetectError values inside err (as Detect returns
// it), in order.
func DetectErrors(err error) []*DetectError {
	if err == nil {
		return nil
	}
	var out []*DetectError
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, DetectErrors(e)...)
		}
		return out
	}
	var de *DetectError
	if errors.As(err, &de) {
		out = append(out, de)
	}
	return out
}

// defaultSize keeps total minus reserve when total ≥ threshold, else half.
func defaultSize(total, threshold, reserve int64) int64 {
	if total >= threshold {
		return total - reserve
	}
	return total / 2
}

// MergeDefaults returns given plus every entry of detected whose name does not
// appear in given in any role: a name given on the command line replaces the
// detected value entirely (as Mesos does with --resources).
func MergeDefaults(given, detected Resources) Resources {
	return given.Add(detected.Filter(func(e Resource) bool { return !given.Has(e.Name) }))
}
