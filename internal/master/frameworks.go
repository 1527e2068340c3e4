package master

import (
	"fmt"
	"math"
	"slices"
	"time"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	schedpb "github.com/agora-dev/agora/api/mesos/v1/scheduler"
	"github.com/agora-dev/agora/internal/registry"
	"github.com/agora-dev/agora/internal/resources"
	"google.golang.org/protobuf/proto"
)

// subscribe handles SUBSCRIBE on the loop. It queues SUBSCRIBED (or ERROR)
// on st and returns the framework's id, or "" when it refused.
func (m *Master) subscribe(call *schedpb.Call, st *stream) string {
	info := proto.Clone(call.GetSubscribe().GetFrameworkInfo()).(*mesos.FrameworkInfo)
	suppressed := call.GetSubscribe().GetSuppressedRoles()
	refuse := func(msg string) string {
		st.send(errorEvent(msg))
		st.close()
		return ""
	}
	if err := validateFrameworkInfo(info, suppressed); err != nil {
		return refuse(err.Error())
	}
	if msg := m.frameworkRolesDenied(info); msg != "" {
		m.log.Info("framework refused by the ACLs", "framework", info.GetId().GetValue(), "principal", info.GetPrincipal(), "why", msg)
		return refuse(msg)
	}
	now := time.Now()
	id := info.GetId().GetValue()
	var f *framework
	if id != "" {
		if err := validateID("framework id", id); err != nil {
			return refuse(err.Error())
		}
		if m.frameworkRemoved(id) {
			return refuse("Framework has been removed")
		}
		f = m.frameworks[id]
	}
	if f != nil {
		// Failover: the new subscription replaces the old one.
		if f.info.Principal != nil && !f.recovered && f.info.GetPrincipal() != info.GetPrincipal() {
			return refuse(fmt.Sprintf("Changing framework's principal is not allowed (from %q to %q)",
				f.info.GetPrincipal(), info.GetPrincipal()))
		}
		if f.stream != nil {
			f.stream.send(errorEvent("Framework failed over"))
			f.stream.close()
		}
		if f.failover != nil {
			f.failover.Stop()
			f.failover = nil
		}
		m.removeFrameworkOffers(f, false)
		if !f.recovered {
			// user and checkpoint cannot change on resubscription.
			info.User = f.info.User
			info.Checkpoint = f.info.Checkpoint
		}
		f.info = info
		f.stream = st
		f.active = true
		f.recovered = false
		f.reregisteredTime = now
		m.alloc.UpdateFramework(id, f.roles(), suppressed)
		m.alloc.ActivateFramework(id)
		m.countMessage("reregister_framework")
		m.log.Info("framework resubscribed", "framework", id, "name", info.GetName())
		m.opFrameworkUpdated(f)
	} else {
		if id == "" {
			id = fmt.Sprintf("%s-%04d", m.ID(), m.nextFrameworkID)
			m.nextFrameworkID++
			info.Id = frameworkIDProto(id)
		}
		f = m.newFramework(id, info)
		f.stream = st
		f.active = true
		f.registeredTime = now
		m.frameworks[id] = f
		m.alloc.AddFramework(id, f.roles(), suppressed, true)
		m.countMessage("register_framework")
		m.log.Info("framework subscribed", "framework", id, "name", info.GetName(), "roles", f.roles())
		m.opFrameworkAdded(f)
	}
	st.send(&schedpb.Event{
		Type: schedpb.Event_SUBSCRIBED.Enum(),
		Subscribed: &schedpb.Event_Subscribed{
			FrameworkId:              frameworkIDProto(id),
			HeartbeatIntervalSeconds: proto.Float64(m.cfg.HeartbeatInterval.Seconds()),
			MasterInfo:               m.info,
		},
	})
	st.send(&schedpb.Event{Type: schedpb.Event_HEARTBEAT.Enum()})
	m.scheduleAllocation()
	return id
}

func (m *Master) newFramework(id string, info *mesos.FrameworkInfo) *framework {
	f := &framework{
		id:        id,
		info:      info,
		tasks:     make(map[string]*task),
		offers:    make(map[string]*offer),
		executors: make(map[string]map[string]*mesos.ExecutorInfo),
	}
	m.loadLost(f)
	return f
}

func (m *Master) completedFramework(id string) *framework {
	for _, f := range m.completedFrameworks {
		if f.id == id {
			return f
		}
	}
	return nil
}

// validateFrameworkInfo checks what Mesos checks before accepting a
// subscription; failures are sent as an ERROR event.
func validateFrameworkInfo(info *mesos.FrameworkInfo, suppressed []string) error {
	multi := false
	for _, c := range info.GetCapabilities() {
		if c.GetType() == mesos.FrameworkInfo_Capability_MULTI_ROLE {
			multi = true
		}
	}
	var roles []string
	if multi {
		if hasLegacyRole(info) {
			return wireErrorf("'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE")
		}
		roles = info.GetRoles()
	} else {
		if len(info.GetRoles()) > 0 {
			return wireErrorf("'FrameworkInfo.roles' must be empty when the framework is not MULTI_ROLE")
		}
		roles = []string{legacyRole(info)}
	}
	seen := make(map[string]bool)
	for _, r := range roles {
		if err := resources.ValidateRole(r); err != nil {
			return wireErrorf("Invalid role: %v", err)
		}
		if seen[r] {
			return wireErrorf("'FrameworkInfo.roles' contains duplicate role '%s'", r)
		}
		seen[r] = true
	}
	for _, r := range suppressed {
		if !seen[r] {
			return wireErrorf("Suppressed role '%s' is not contained in the list of roles", r)
		}
	}
	ft := info.GetFailoverTimeout()
	if math.IsNaN(ft) || math.IsInf(ft, 0) || ft < 0 || ft > float64(math.MaxInt64/int64(time.Second)) {
		return wireErrorf("Invalid failover_timeout: %v", ft)
	}
	return nil
}

// frameworkDisconnected handles the end of a framework's stream.
func (m *Master) frameworkDisconnected(id string, st *stream) {
	f := m.frameworks[id]
	if f == nil || f.stream != st {
		return // already failed over or removed
	}
	f.stream = nil
	f.active = false
	m.alloc.DeactivateFramework(id)
	m.removeFrameworkOffers(f, false)
	timeout := time.Duration(f.info.GetFailoverTimeout() * float64(time.Second))
	m.log.Info("framework disconnected", "framework", id, "failover_timeout", timeout)
	m.opFrameworkUpdated(f)
	if timeout <= 0 {
		m.removeFramework(f, "its stream closed and its failover_timeout is 0")
		return
	}
	f.failover = m.after(timeout, func() {
		if m.frameworks[id] == f && f.stream == nil {
			m.removeFramework(f, fmt.Sprintf("it did not resubscribe within its failover_timeout of %s", timeout))
		}
	})
}

// startRecoveredFailover gives a framework known only from agents'
// reports its failover_timeout, counted from this master's election
// (Mesos gives such frameworks none, so their tasks run on forever:
// MESOS-4659). A timeout of 0 means none.
func (m *Master) startRecoveredFailover(f *framework) {
	timeout := time.Duration(f.info.GetFailoverTimeout() * float64(time.Second))
	if timeout <= 0 || f.failover != nil {
		return
	}
	left := max(time.Until(m.electedTime.Add(timeout)), 0)
	id := f.id
	f.failover = m.after(left, func() {
		if m.frameworks[id] == f && f.stream == nil {
			m.removeFramework(f, fmt.Sprintf("it did not resubscribe within its failover_timeout of %s after the master failover", timeout))
		}
	})
}

// removeFramework tears a framework down: its offers go back to the
// allocator, its executors and tasks are shut down on their agents, and
// it moves to the completed frameworks.
func (m *Master) removeFramework(f *framework, why string) {
	m.log.Info("removing framework", "framework", f.id, "name", f.info.GetName(), "why", why)
	if f.failover != nil {
		f.failover.Stop()
		f.failover = nil
	}
	m.removeFrameworkOffers(f, false)
	now := time.Now()
	agentIDs := make(map[string]bool)
	for _, t := range f.tasks {
		agentIDs[t.agentID] = true
		if !mesos.IsTerminal(t.state) {
			t.state = mesos.TaskState_TASK_KILLED
			t.statuses = append(t.statuses, &mesos.TaskStatus{
				TaskId:    t.info.TaskId,
				State:     mesos.TaskState_TASK_KILLED.Enum(),
				Source:    mesos.TaskStatus_SOURCE_MASTER.Enum(),
				Reason:    mesos.TaskStatus_REASON_FRAMEWORK_REMOVED.Enum(),
				Message:   proto.String("Framework " + f.id + " removed"),
				Timestamp: proto.Float64(float64(now.UnixNano()) / 1e9),
			})
			m.metrics.tasksByState[mesos.TaskState_TASK_KILLED]++
			m.opTaskUpdated(f.id, t, t.statuses[len(t.statuses)-1])
		}
		m.freeTaskResources(t)
		if a := m.agents[t.agentID]; a != nil {
			delete(a.tasks[f.id], t.id())
		}
		m.completeTask(f, t)
	}
	f.tasks = map[string]*task{}
	for agentID := range f.executors {
		agentIDs[agentID] = true
		if a := m.agents[agentID]; a != nil {
			for _, e := range a.executors[f.id] {
				m.alloc.RecoverResources(f.id, agentID, e.role, e.resources, 0, now)
			}
			delete(a.executors, f.id)
		}
	}
	f.executors = map[string]map[string]*mesos.ExecutorInfo{}
	for agentID := range agentIDs {
		if a := m.agents[agentID]; a != nil {
			m.sendToAgent(a, &agentpb.Event{
				Type:              agentpb.Event_SHUTDOWN_FRAMEWORK.Enum(),
				ShutdownFramework: &agentpb.Event_ShutdownFramework{FrameworkId: frameworkIDProto(f.id)},
			})
		}
	}
	if f.stream != nil {
		f.stream.close()
		f.stream = nil
	}
	f.active = false
	f.unregisteredTime = now
	m.alloc.RemoveFramework(f.id)
	delete(m.frameworks, f.id)
	m.completedFrameworks = append(m.completedFrameworks, f)
	if n := len(m.completedFrameworks) - m.cfg.MaxCompletedFrameworks; n > 0 {
		m.completedFrameworks = slices.Delete(m.completedFrameworks, 0, n)
	}
	m.opFrameworkRemoved(f)
	m.proposeAsync(registry.RemoveFramework{ID: f.id, Time: now.UnixNano()})
	m.scheduleAllocation()
}

// heartbeat sends HEARTBEAT to every subscribed framework.
func (m *Master) heartbeat() {
	ev := &schedpb.Event{Type: schedpb.Event_HEARTBEAT.Enum()}
	for _, f := range m.frameworks {
		if f.stream != nil {
			m.sendToFramework(f, ev)
		}
	}
	m.opHeartbeat()
}

// sendToFramework queues an event for a framework; a framework whose
// stream is too slow is disconnected.
func (m *Master) sendToFramework(f *framework, ev *schedpb.Event) {
	if f.stream == nil {
		return
	}
	if !f.stream.send(ev) {
		st := f.stream
		m.log.Warn("framework stream closed: the scheduler is not reading its events", "framework", f.id)
		m.frameworkDisconnected(f.id, st)
	}
}

// updateFramework handles UPDATE_FRAMEWORK.
func (m *Master) updateFramework(f *framework, call *schedpb.Call_UpdateFramework) (int, string) {
	info := proto.Clone(call.GetFrameworkInfo()).(*mesos.FrameworkInfo)
	if err := validateFrameworkInfo(info, call.GetSuppressedRoles()); err != nil {
		return 400, err.Error()
	}
	if info.GetPrincipal() != f.info.GetPrincipal() {
		return 400, "Changing framework's principal is not allowed"
	}
	if info.GetUser() != f.info.GetUser() || info.GetCheckpoint() != f.info.GetCheckpoint() {
		return 400, "Updating 'FrameworkInfo.user' or 'FrameworkInfo.checkpoint' is unsupported"
	}
	if info.Id == nil {
		info.Id = frameworkIDProto(f.id)
	}
	if msg := m.frameworkRolesDenied(info); msg != "" {
		return 403, msg
	}
	f.info = info
	m.alloc.UpdateFramework(f.id, f.roles(), call.GetSuppressedRoles())
	m.removeFrameworkOffers(f, true)
	m.opFrameworkUpdated(f)
	m.scheduleAllocation()
	return 200, ""
}
