package isolation

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// OOMNotifier is a Container that the kernel tells of OOM events, so that
// the agent waits for them instead of reading the OOM counter of every
// running container several times a second.
type OOMNotifier interface {
	// NotifyOOM returns a channel that receives a value after the kernel
	// signalled a memory event in the container (cgroup v1: an OOM, through
	// cgroup.event_control and an eventfd; v2: a change of memory.events,
	// through inotify), and stop, which ends the watch and closes the
	// channel. A value may come before OOMKills counts the kill: callers
	// check the counter again for a moment.
	NotifyOOM() (events <-chan struct{}, stop func(), err error)
}

func (cc *cgContainer) NotifyOOM() (<-chan struct{}, func(), error) {
	if cc.c.v2 {
		return cc.notifyV2()
	}
	return cc.notifyV1()
}

// notifyV1 registers an eventfd for the memory cgroup's OOM notifications
// (Documentation/admin-guide/cgroup-v1/memory.rst, "OOM Control").
func (cc *cgContainer) notifyV1() (<-chan struct{}, func(), error) {
	dir := cc.dir("memory")
	efd, _, errno := syscall.Syscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errno != 0 {
		return nil, nil, fmt.Errorf("isolation: eventfd: %w", errno)
	}
	ev := os.NewFile(efd, "oom-eventfd") // non-blocking: read through the runtime's poller
	ctl, err := os.Open(filepath.Join(dir, "memory.oom_control"))
	if err != nil {
		ev.Close()
		return nil, nil, err
	}
	defer ctl.Close() // the registration holds its own reference
	reg := strconv.Itoa(int(efd)) + " " + strconv.Itoa(int(ctl.Fd()))
	if err := writeFile(filepath.Join(dir, "cgroup.event_control"), reg); err != nil {
		ev.Close()
		return nil, nil, err
	}
	return watch(ev, 8)
}

// notifyV2 watches memory.events, which the kernel marks modified when one
// of its counters (oom_kill among them) changes.
func (cc *cgContainer) notifyV2() (<-chan struct{}, func(), error) {
	fd, err := syscall.InotifyInit1(syscall.IN_NONBLOCK | syscall.IN_CLOEXEC)
	if err != nil {
		return nil, nil, fmt.Errorf("isolation: inotify: %w", err)
	}
	in := os.NewFile(uintptr(fd), "oom-inotify")
	if _, err := syscall.InotifyAddWatch(fd, filepath.Join(cc.dir("memory"), "memory.events"), syscall.IN_MODIFY); err != nil {
		in.Close()
		return nil, nil, fmt.Errorf("isolation: watch memory.events: %w", err)
	}
	return watch(in, 4096)
}

// watch turns reads of f into values on a channel until stop closes f.
func watch(f *os.File, bufSize int) (<-chan struct{}, func(), error) {
	events := make(chan struct{}, 1)
	go func() {
		defer close(events)
		buf := make([]byte, max(bufSize, syscall.SizeofInotifyEvent+syscall.NAME_MAX+1))
		for {
			if _, err := f.Read(buf); err != nil {
				return // closed by stop
			}
			select {
			case events <- struct{}{}:
			default: // one pending value is enough
			}
		}
	}()
	return events, func() { f.Close() }, nil
}
