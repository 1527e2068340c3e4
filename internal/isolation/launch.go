package isolation

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/agora-dev/agora/internal/proc"
)

// LimitsError is returned by Launch, with the running process, when a
// container that is not exact (posix) could not apply its per-process
// limits: the process runs without them.
type LimitsError struct{ Err error }

func (e *LimitsError) Error() string { return "isolation: limits not applied: " + e.Err.Error() }
func (e *LimitsError) Unwrap() error { return e.Err }

// Launch starts the process of spec inside c. It is the one way a process
// enters a container: no instruction of the program runs before the
// process is in every cgroup of the container and has its limits, so
// nothing it forks can land outside.
//
//   - cgroup v2: the process is created in the container's cgroup
//     (clone3 with CLONE_INTO_CGROUP). Where the kernel lacks it, as below.
//   - cgroup v1 and posix: the process starts held (proc.Spec.Held: a
//     /bin/sh shim blocked on a pipe, before it execs the program), is
//     added to the container's cgroups (or given its rlimits), and only
//     then released.
//
// When an exact container cannot take the process, the process is killed
// before it ran anything and Launch fails. When a posix container cannot
// set its rlimits, Launch returns the running process and a *LimitsError.
func Launch(c Container, spec proc.Spec) (*proc.Process, error) {
	if cc, ok := c.(*cgContainer); ok && cc.c.v2 {
		p, err := cc.startInto(spec)
		if err == nil || !cloneIntoUnsupported(err) {
			return p, err
		}
	}
	spec.Held = true
	p, err := proc.Start(spec)
	if err != nil {
		return nil, err
	}
	if err := c.Add(p.Pid()); err != nil {
		if c.Exact() {
			p.Kill(0) // closes the gate: the program never runs
			<-p.Done()
			return nil, fmt.Errorf("isolation: put process in container: %w", err)
		}
		if rerr := p.Release(); rerr != nil {
			return nil, kill(p, rerr)
		}
		return p, &LimitsError{Err: err}
	}
	if err := p.Release(); err != nil {
		return nil, kill(p, err)
	}
	return p, nil
}

func kill(p *proc.Process, err error) error {
	p.Kill(0)
	<-p.Done()
	return err
}

// startInto starts spec's process directly in the container's v2 cgroup.
func (cc *cgContainer) startInto(spec proc.Spec) (*proc.Process, error) {
	f, err := os.Open(cc.dirs[""])
	if err != nil {
		return nil, fmt.Errorf("isolation: open cgroup: %w", err)
	}
	defer f.Close()
	spec.UseCgroupFD, spec.CgroupFD = true, int(f.Fd())
	return proc.Start(spec)
}

// cloneIntoUnsupported tells a kernel without clone3 or CLONE_INTO_CGROUP
// from a program that cannot start.
func cloneIntoUnsupported(err error) bool {
	return errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.EOPNOTSUPP)
}
