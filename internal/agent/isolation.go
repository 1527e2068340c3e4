package agent

import (
	"fmt"
	"time"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/internal/isolation"
	"google.golang.org/protobuf/proto"
)

// This file connects executors to the isolator (internal/isolation): a
// container per executor run, sized by the executor's and its live tasks'
// resources, destroyed when the executor exits, and the memory limitation
// reported when the kernel's OOM killer struck inside it.

// oomPollInterval is how often a running container's OOM counter is read
// when the kernel cannot notify the agent of OOM events.
const oomPollInterval = 100 * time.Millisecond

// oomSettle is how long after a memory event the OOM counter is read again
// for the kill to show.
const oomSettle = 500 * time.Millisecond

// limitsOf sums the cpus and mem (MB) scalars of res.
func limitsOf(res []*mesos.Resource) isolation.Limits {
	var l isolation.Limits
	var memMB float64
	for _, r := range res {
		switch r.GetName() {
		case "mem":
			memMB += r.GetScalar().GetValue()
		case "cpus":
			l.CPUs += r.GetScalar().GetValue()
		}
	}
	l.MemBytes = uint64(memMB * (1 << 20))
	return l
}

// resizeContainer sets the container's limits to its executor's and live
// tasks' resources; on the loop.
func (s *state) resizeContainer(e *executor) {
	if e.container == nil {
		return
	}
	if err := e.container.Update(limitsOf(e.liveResources())); err != nil {
		// Lowering memory below the current usage fails; the old limit
		// stays, which is harmless.
		s.a.log.Debug("cannot resize container", "container_id", e.containerID, "err", err)
	}
}

// memoryLimitation describes a container whose processes the OOM killer
// has killed, as Mesos's memory isolator does: the message, and the
// resources exceeded (mem, the peak usage).
type memoryLimitation struct {
	message    string
	limitation *mesos.TaskResourceLimitation
}

// checkMemoryLimitation reports the container's memory limitation, nil
// when the OOM killer has not struck in it.
func checkMemoryLimitation(c isolation.Container) *memoryLimitation {
	if c == nil || c.OOMKills() == 0 {
		return nil
	}
	limit, peak := c.Memory()
	peakMB := float64(peak) / (1 << 20)
	return &memoryLimitation{
		message: fmt.Sprintf("Memory limit exceeded: Requested: %dMB Maximum Used: %dMB", limit>>20, peak>>20),
		limitation: &mesos.TaskResourceLimitation{Resources: []*mesos.Resource{{
			Name:   proto.String("mem"),
			Type:   mesos.Value_SCALAR.Enum(),
			Scalar: &mesos.Value_Scalar{Value: proto.Float64(peakMB)},
		}}},
	}
}

// apply turns a status into the agent's report of a memory
// limitation.
func (m *memoryLimitation) apply(st *mesos.TaskStatus) {
	st.State = mesos.TaskState_TASK_FAILED.Enum()
	st.Source = mesos.TaskStatus_SOURCE_AGENT.Enum()
	st.Reason = mesos.TaskStatus_REASON_CONTAINER_LIMITATION_MEMORY.Enum()
	st.Message = proto.String(m.message)
	st.Limitation = m.limitation
}

// applyLimitation makes a terminal update of a task whose container the
// OOM killer struck the container's end: TASK_FAILED with
// REASON_CONTAINER_LIMITATION_MEMORY and the limitation, whatever the
// executor said (a shell whose pipeline lost a process to the OOM killer
// can still exit 0). On the first such update the container is destroyed,
// as Mesos destroys a container that reached a limitation; its other tasks
// then end with the same limitation when the executor exits. The kernel
// counts an OOM kill before its victim dies, so before the executor can
// see the task end. On the loop.
func (s *state) applyLimitation(e *executor, st *mesos.TaskStatus) {
	lim := e.limitation
	if lim == nil {
		lim = checkMemoryLimitation(e.container)
	}
	if lim == nil {
		return
	}
	if st.GetState() != mesos.TaskState_TASK_FAILED || st.GetReason() != mesos.TaskStatus_REASON_CONTAINER_LIMITATION_MEMORY {
		s.a.log.Info("task hit its container's memory limit", "framework_id", e.fw.id, "executor_id", e.id,
			"task_id", st.GetTaskId().GetValue(), "reported", st.GetState().String())
	}
	lim.apply(st)
	if e.limitation == nil {
		e.limitation = lim
		c, cid := e.container, e.containerID
		s.a.log.Info("memory limit exceeded; destroying container", "container_id", cid)
		go c.KillAll() // freezing can take a moment: off the loop
	}
}

// watchContainer polls a running container for OOM kills until done is
// closed. On the first it kills the whole container, as Mesos destroys a
// container that reached a limitation; the executor's exit is then
// reported with the limitation.
func (a *Agent) watchContainer(c isolation.Container, cid string, done <-chan struct{}) {
	if !c.Exact() {
		return // no memory accounting
	}
	oomKilled := func() bool {
		if c.OOMKills() == 0 {
			return false
		}
		a.log.Info("memory limit exceeded; destroying container", "container_id", cid)
		c.KillAll()
		return true
	}
	if n, ok := c.(isolation.OOMNotifier); ok {
		events, stop, err := n.NotifyOOM()
		if err == nil {
			defer stop()
			a.waitOOM(events, done, oomKilled)
			return
		}
		a.log.Debug("no OOM notifications; polling the container's OOM counter", "container_id", cid, "err", err)
	}
	t := time.NewTicker(oomPollInterval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			if oomKilled() {
				return
			}
		}
	}
}

// waitOOM waits for the kernel's memory events of a container until done,
// and calls oomKilled after each; the kill may be counted a moment after
// the event, so the counter is read again for up to oomSettle.
func (a *Agent) waitOOM(events <-chan struct{}, done <-chan struct{}, oomKilled func() bool) {
	for {
		select {
		case <-done:
			return
		case _, ok := <-events:
			if !ok {
				return
			}
		}
		for deadline := time.Now().Add(oomSettle); ; {
			if oomKilled() {
				return
			}
			if time.Now().After(deadline) {
				break // an event other than a kill
			}
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
}

// destroyContainer ends every process of a container whose executor has
// exited: the isolator's exact destroy with cgroups, else the /proc sweep.
// a.sweep is sweepContainer; a fuzz test replaces it on its agent to
// check what recovery would sweep.

func (a *Agent) destroyContainer(c isolation.Container, cid, dir string) {
	if c != nil && c.Exact() {
		n, err := c.Destroy()
		if err != nil {
			a.log.Warn("cannot destroy container", "container_id", cid, "err", err)
		}
		if n > 0 {
			a.log.Info("killed processes left in container", "container_id", cid, "count", n)
		}
		if err == nil {
			return
		}
	}
	if n := a.sweep(cid, dir); n > 0 {
		a.log.Info("killed processes left in container", "container_id", cid, "count", n)
	}
}

// launcherFlag and isolationFlag are the agent's --launcher and
// --isolation as Mesos would show them in /flags and /state.
func launcherFlag(iso isolation.Isolator) string {
	if iso.Name() == "posix" {
		return "posix"
	}
	return "linux"
}

func isolationFlag(iso isolation.Isolator) string {
	if iso.Name() == "posix" {
		return "posix/cpu,posix/mem"
	}
	return "cgroups/cpu,cgroups/mem"
}
