// Package isolation confines the processes of an executor run (a
// container) on Linux. New picks an Isolator when the agent starts:
//
//   - cgroups: one cgroup per container, under the agent's own cgroup
//     (<hierarchy>/<agent's path>/agora/<container_id>), with the memory
//     limit and CPU shares of the container's resources. Destroying the
//     container freezes the cgroup, SIGKILLs every process in it and removes
//     it, so no process of the container survives it. The memory controller
//     counts OOM kills, which the agent reports as a memory limitation.
//     Both the v2 unified hierarchy and separate v1 hierarchies are
//     supported.
//   - posix: no cgroups; the executor process gets resource limits
//     (setrlimit) and the agent falls back to its /proc sweep to find the
//     container's processes.
//
// Processes are in their container before they run anything: Launch
// creates them in the cgroup (v2, CLONE_INTO_CGROUP) or holds them before
// exec until the agent has added them to every cgroup (v1) or set their
// rlimits (posix). Everything they fork inherits the cgroups; with cgroups
// no process of a container ever runs outside them.
package isolation

import (
	"errors"
	"fmt"
	"syscall"
	"unsafe"
)

// Mode selects an isolator.
type Mode string

// Modes accepted by New.
const (
	Auto    Mode = "auto"    // cgroups when writable, else posix
	Cgroups Mode = "cgroups" // cgroups or fail
	Posix   Mode = "posix"   // rlimits only
)

// ParseMode validates a --isolation value.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Auto, Cgroups, Posix:
		return m, nil
	case "":
		return Auto, nil
	}
	return "", fmt.Errorf("isolation: unknown mode %q (want auto, cgroups or posix)", s)
}

// Limits are the resources of a container: its executor's plus its live
// tasks'.
type Limits struct {
	MemBytes uint64  // 0: no memory limit
	CPUs     float64 // 0: default shares
}

// Isolator creates containers.
type Isolator interface {
	// Name is "cgroups/v1", "cgroups/v2" or "posix".
	Name() string
	// Create prepares an empty container.
	Create(containerID string, l Limits) (Container, error)
	// Recover reopens a container left by an earlier run of the agent; nil
	// when there is none.
	Recover(containerID string) Container
}

// Container is one executor run's isolation.
type Container interface {
	// Add puts a started process (and so its future children) in the
	// container and applies per-process limits.
	Add(pid int) error
	// Update changes the limits of a running container.
	Update(l Limits) error
	// OOMKills is how many processes the kernel's OOM killer has killed in
	// the container for exceeding its memory limit.
	OOMKills() int
	// Memory returns the memory limit and the peak usage, in bytes.
	Memory() (limit, peak uint64)
	// KillAll SIGKILLs every process of the container and returns the
	// number signalled. It does not wait for them to exit.
	KillAll() int
	// Destroy kills every process, waits for them to exit and removes the
	// container. It returns the number of processes it killed.
	Destroy() (int, error)
	// Exact reports whether the container knows all its processes; when
	// false the agent must find them some other way.
	Exact() bool
}

// New picks the isolator for mode.
func New(mode Mode) (Isolator, error) {
	switch mode {
	case Posix:
		return posix{}, nil
	case Cgroups, Auto, "":
		cg, err := detectCgroups()
		if err == nil {
			return cg, nil
		}
		if mode == Cgroups {
			return nil, err
		}
		return posixFallback{reason: err}, nil
	}
	return nil, fmt.Errorf("isolation: unknown mode %q", mode)
}

// FallbackReason tells why Auto chose posix; nil otherwise.
func FallbackReason(iso Isolator) error {
	if p, ok := iso.(posixFallback); ok {
		return p.reason
	}
	return nil
}

// posix confines an executor with rlimits only.
//
// RLIMIT_NOFILE is set to 65536 (or the agent's hard limit when lower), for
// both soft and hard limits: generous for a task, but a leaking task cannot
// exhaust the machine's file table. RLIMIT_CORE is 0 so crashing tasks do
// not fill the sandbox with core files. RLIMIT_AS and RLIMIT_DATA are not
// set: Go and Java programs reserve far more address space than they use,
// so a limit derived from the task's mem would kill healthy executors.
type posix struct{}

type posixFallback struct {
	posix
	reason error
}

func (posix) Name() string { return "posix" }

func (posix) Create(string, Limits) (Container, error) { return posixContainer{}, nil }

func (posix) Recover(string) Container { return nil }

type posixContainer struct{}

// NoFile is the RLIMIT_NOFILE the posix isolator gives executors.
const NoFile = 65536

func (posixContainer) Add(pid int) error {
	var cur syscall.Rlimit
	if err := prlimit(pid, syscall.RLIMIT_NOFILE, nil, &cur); err != nil {
		return err
	}
	n := min(uint64(NoFile), cur.Max)
	errNofile := prlimit(pid, syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: n, Max: n}, nil)
	errCore := prlimit(pid, syscall.RLIMIT_CORE, &syscall.Rlimit{Cur: 0, Max: 0}, nil)
	return errors.Join(errNofile, errCore)
}

func (posixContainer) Update(Limits) error      { return nil }
func (posixContainer) OOMKills() int            { return 0 }
func (posixContainer) Memory() (uint64, uint64) { return 0, 0 }
func (posixContainer) KillAll() int             { return 0 }
func (posixContainer) Destroy() (int, error)    { return 0, nil }
func (posixContainer) Exact() bool              { return false }

// prlimit gets and/or sets a resource limit of another process.
func prlimit(pid, resource int, newLim, old *syscall.Rlimit) error {
	_, _, e := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), uintptr(resource),
		uintptr(unsafe.Pointer(newLim)), uintptr(unsafe.Pointer(old)), 0, 0)
	if e != 0 {
		return fmt.Errorf("isolation: prlimit(%d, %d): %w", pid, resource, e)
	}
	return nil
}
