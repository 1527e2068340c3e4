package master

import (
	"fmt"
	"net/http"
	"time"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	schedpb "github.com/agora-dev/agora/api/mesos/v1/scheduler"
	"github.com/agora-dev/agora/internal/registry"
	"github.com/agora-dev/agora/internal/resources"
	"github.com/agora-dev/agora/internal/version"
	"google.golang.org/protobuf/proto"
)

// agentSubscribe admits an agent (new, or re-subscribing with the id it
// was given) and reconciles the executors and tasks it reports with the
// master's books. It runs on the loop and returns the agent's id, or ""
// when it refused. A new agent is told SUBSCRIBED once the registry has
// admitted it; until then its stream stays open and silent.
func (m *Master) agentSubscribe(sub *agentpb.Call_Subscribe, st *stream) string {
	refuse := func(msg string) string {
		st.send(&agentpb.Event{Type: agentpb.Event_ERROR.Enum(), Error: &agentpb.Event_Error{Message: proto.String(msg)}})
		st.close()
		return ""
	}
	if v := sub.GetProtocolVersion(); v < 1 || v > version.AgentProtocol {
		return refuse(fmt.Sprintf("agent protocol version %d is not supported (this master speaks 1 to %d: upgrade the masters first)",
			v, version.AgentProtocol))
	}
	total, err := resources.FromProto(sub.GetAgentInfo().GetResources())
	if err != nil {
		return refuse("invalid agent resources: " + err.Error())
	}
	info := proto.Clone(sub.GetAgentInfo()).(*mesos.AgentInfo)
	id := info.GetId().GetValue()
	if id == "" {
		// A new agent: as in Mesos, it is admitted in the registry before
		// it is told it subscribed, so that a leader elected after the
		// SUBSCRIBED event knows it (and marks it unreachable, or counts
		// it against --recovery_agent_removal_limit, if it does not come
		// back).
		id = fmt.Sprintf("%s-S%d", m.ID(), m.nextAgentID)
		m.nextAgentID++
		m.proposeThenOr(registry.AdmitAgent{Agent: registry.Agent{ID: id, Hostname: info.GetHostname(), Endpoint: sub.GetEndpoint()}},
			func(err error) {
				if err != nil {
					refuse("Failed to admit agent " + id + " in the registry: " + err.Error() + "; subscribe again")
					return
				}
				m.metrics.agentRegistrations++
				m.countMessage("register_slave")
				m.log.Info("agent subscribed", "agent", id, "endpoint", sub.GetEndpoint(), "resources", total.String())
				m.attachAgent(id, info, sub, total, st, true)
				if st.closed() {
					// It went away while it was admitted: it is a
					// disconnected agent now, like one whose stream broke.
					m.agentDisconnected(id, st)
				}
			}, st.close)
		return id
	}
	if err := validateID("agent id", id); err != nil {
		return refuse(err.Error())
	}
	if m.agentGone(id) {
		return refuse("Agent " + id + " was marked gone by the operator and may not subscribe again")
	}
	if a := m.agents[id]; a != nil && a.removing {
		return refuse("Agent " + id + " is being marked unreachable; subscribe again")
	}
	return m.attachAgent(id, info, sub, total, st, false)
}

// attachAgent makes st the stream of agent id: a new agent (admitted in
// the registry just now), one the master knows (a broken stream, an
// agent restart), one the registry recovered after a failover, or one it
// had marked unreachable or never heard of.
func (m *Master) attachAgent(id string, info *mesos.AgentInfo, sub *agentpb.Call_Subscribe, total resources.Resources,
	st *stream, admitted bool) string {
	now := time.Now()
	a := m.agents[id]
	added := a == nil
	inRegistry := false // a recovered agent the registry holds as it is
	var unreachableSince time.Time
	if a != nil {
		if a.stream != nil {
			a.stream.close()
		}
		m.removeAgentOffers(a)
		m.alloc.RemoveAgent(a.id)
		a.reregisteredTime = now
		m.metrics.agentReregistrations++
		m.countMessage("reregister_slave")
		m.log.Info("agent re-subscribed", "agent", id, "endpoint", sub.GetEndpoint())
	} else {
		if !admitted {
			m.metrics.agentReregistrations++
			m.countMessage("reregister_slave")
			rec, recovered := m.recoveredAgents[id]
			since, unreachable := m.removedAgents[id]
			switch {
			case recovered:
				// Admitted in the registry already: proposing it again
				// (10,000 Raft writes after a failover of 10,000 agents)
				// is needed only if what the registry keeps changed.
				inRegistry = rec.Hostname == sub.GetAgentInfo().GetHostname() && rec.Endpoint == sub.GetEndpoint()
				delete(m.recoveredAgents, id)
				m.log.Info("agent recovered from the registry re-subscribed", "agent", id, "endpoint", sub.GetEndpoint(),
					"still_recovering", len(m.recoveredAgents))
			case unreachable:
				unreachableSince = since
				m.log.Info("unreachable agent re-subscribed", "agent", id, "endpoint", sub.GetEndpoint(),
					"unreachable_since", since)
			default:
				m.log.Info("allowing an unknown agent to re-subscribe", "agent", id, "endpoint", sub.GetEndpoint())
			}
		}
		a = &agent{
			id:             id,
			registeredTime: now,
			tasks:          make(map[string]map[string]*task),
			offers:         make(map[string]*offer),
			executors:      make(map[string]map[string]*executor),
		}
		if _, was := m.removedAgents[id]; was {
			a.reregisteredTime = now
			delete(m.removedAgents, id)
		}
		m.agents[id] = a
	}
	info.Id = agentIDProto(id)
	a.info = info
	a.endpoint = sub.GetEndpoint()
	a.total = total
	a.version = sub.GetVersion()
	a.stream = st
	a.active = true
	a.missedPings = 0

	st.send(&agentpb.Event{
		Type: agentpb.Event_SUBSCRIBED.Enum(),
		Subscribed: &agentpb.Event_Subscribed{
			AgentId:             agentIDProto(id),
			MasterInfo:          m.info,
			PingIntervalSeconds: proto.Float64(m.cfg.AgentPingTimeout.Seconds()),
		},
	})
	if !unreachableSince.IsZero() {
		a.cameBack = true
	}
	m.reconcileAgent(a, sub.GetExecutors(), now, unreachableSince)

	allocated := make(map[string]map[string]resources.Resources)
	add := func(fw, role string, r resources.Resources) {
		if allocated[fw] == nil {
			allocated[fw] = make(map[string]resources.Resources)
		}
		allocated[fw][role] = allocated[fw][role].Add(r)
	}
	for fw, tasks := range a.tasks {
		for _, t := range tasks {
			if !t.resourcesFreed {
				add(fw, t.role, t.resources)
			}
		}
	}
	for fw, execs := range a.executors {
		for _, e := range execs {
			add(fw, e.role, e.resources)
		}
	}
	m.alloc.AddAgent(id, total, allocated)
	if added {
		if len(a.pendingKills) == 0 && !inRegistry && !admitted {
			m.admitAgent(a)
		}
		m.opAgentAdded(a)
	}
	m.scheduleAllocation()
	return id
}

// admitAgent records the agent in the registry (and so takes it off the
// unreachable list).
func (m *Master) admitAgent(a *agent) {
	m.proposeAsync(registry.AdmitAgent{Agent: registry.Agent{ID: a.id, Hostname: a.info.GetHostname(), Endpoint: a.endpoint}})
}

// reconcileAgent merges what a (re-)subscribing agent reports with what
// the master knows about it. unreachableSince is set when the agent comes
// back from unreachable to a leader that does not know its tasks (it was
// marked unreachable before a failover): the tasks of frameworks that are
// not partition-aware were reported lost and are killed, never revived.
func (m *Master) reconcileAgent(a *agent, reported []*agentpb.ExecutorState, now time.Time, unreachableSince time.Time) {
	seen := make(map[string]map[string]bool) // framework → task ids reported
	for _, es := range reported {
		fid := es.GetFrameworkInfo().GetId().GetValue()
		if fid == "" {
			continue
		}
		if m.completedFramework(fid) != nil {
			m.sendToAgent(a, &agentpb.Event{
				Type:              agentpb.Event_SHUTDOWN_FRAMEWORK.Enum(),
				ShutdownFramework: &agentpb.Event_ShutdownFramework{FrameworkId: frameworkIDProto(fid)},
			})
			continue
		}
		f := m.frameworks[fid]
		if f == nil {
			// Known only from the agent (the master restarted): keep it,
			// inactive, until its scheduler resubscribes.
			f = m.newFramework(fid, proto.Clone(es.GetFrameworkInfo()).(*mesos.FrameworkInfo))
			f.recovered = true
			f.registeredTime = now
			m.frameworks[fid] = f
			m.alloc.AddFramework(fid, f.roles(), nil, false)
			m.log.Info("framework recovered from an agent's report", "framework", fid, "agent", a.id)
			m.startRecoveredFailover(f)
		}
		role := f.roles()[0]
		if !es.GetCommandExecutor() {
			eid := es.GetExecutorInfo().GetExecutorId().GetValue()
			if a.executors[fid] == nil {
				a.executors[fid] = make(map[string]*executor)
			}
			if a.executors[fid][eid] == nil {
				res, _ := resources.FromProto(es.GetExecutorInfo().GetResources())
				a.executors[fid][eid] = &executor{info: es.GetExecutorInfo(), resources: res, role: role}
			}
			if f.executors[a.id] == nil {
				f.executors[a.id] = make(map[string]*mesos.ExecutorInfo)
			}
			f.executors[a.id][eid] = es.GetExecutorInfo()
		}
		for _, rt := range es.GetTasks() {
			tid := rt.GetTaskId().GetValue()
			if seen[fid] == nil {
				seen[fid] = make(map[string]bool)
			}
			seen[fid][tid] = true
			t := f.tasks[tid]
			if t == nil {
				if ct := m.completedTask(f, tid); ct != nil {
					// The master gave up on this task (e.g. the agent was
					// removed and the framework is not partition-aware):
					// it must not keep running.
					m.sendToAgent(a, killEvent(fid, ct))
					if ct.state == mesos.TaskState_TASK_LOST && !mesos.IsTerminal(rt.GetState()) {
						if a.pendingKills == nil {
							a.pendingKills = make(map[string]bool)
						}
						a.pendingKills[fid+"/"+tid] = true
					}
					continue
				}
				res, _ := resources.FromProto(rt.GetResources())
				lost := !unreachableSince.IsZero() && !f.partitionAware()
				t = &task{
					frameworkID: fid,
					agentID:     a.id,
					info: &mesos.TaskInfo{
						Name: rt.Name, TaskId: rt.TaskId, AgentId: agentIDProto(a.id),
						Resources: rt.Resources, Labels: rt.Labels, Container: rt.Container,
						HealthCheck: rt.HealthCheck, KillPolicy: rt.KillPolicy, Discovery: rt.Discovery,
					},
					role:      role,
					resources: res,
					state:     rt.GetState(),
					statuses:  rt.GetStatuses(),
				}
				if !es.GetCommandExecutor() {
					t.executorID = es.GetExecutorInfo().GetExecutorId().GetValue()
				}
				if lost {
					// No resurrection: the framework was told TASK_LOST.
					t.state = mesos.TaskState_TASK_LOST
					t.resourcesFreed = true
					m.completeTask(f, t)
					if a.pendingKills == nil {
						a.pendingKills = make(map[string]bool)
					}
					if !mesos.IsTerminal(rt.GetState()) {
						a.pendingKills[fid+"/"+tid] = true
					}
					m.log.Info("killing a task that was reported lost with its unreachable agent",
						"agent", a.id, "framework", fid, "task", tid)
					m.sendToAgent(a, killEvent(fid, t))
					continue
				}
				if !unreachableSince.IsZero() {
					t.unreachableTime = unreachableSince
				}
				f.tasks[tid] = t
			}
			if !t.unreachableTime.IsZero() {
				t.unreachableTime = time.Time{}
				t.state = rt.GetState()
				m.opTaskUpdated(fid, t, &mesos.TaskStatus{TaskId: rt.TaskId, State: rt.GetState().Enum(),
					Source: mesos.TaskStatus_SOURCE_MASTER.Enum(), Reason: mesos.TaskStatus_REASON_AGENT_REREGISTERED.Enum(),
					AgentId: agentIDProto(a.id), Timestamp: proto.Float64(float64(now.UnixNano()) / 1e9)})
				m.sendToFramework(f, &schedpb.Event{Type: schedpb.Event_UPDATE.Enum(), Update: &schedpb.Event_Update{
					Status: &mesos.TaskStatus{
						TaskId: rt.TaskId, State: rt.GetState().Enum(),
						Source:    mesos.TaskStatus_SOURCE_MASTER.Enum(),
						Reason:    mesos.TaskStatus_REASON_AGENT_REREGISTERED.Enum(),
						Message:   proto.String("Agent " + a.id + " re-subscribed"),
						AgentId:   agentIDProto(a.id),
						Timestamp: proto.Float64(float64(now.UnixNano()) / 1e9),
					},
				}})
			}
			t.agentID = a.id
			if a.tasks[fid] == nil {
				a.tasks[fid] = make(map[string]*task)
			}
			a.tasks[fid][tid] = t
			if t.killRequested {
				m.sendToAgent(a, killEvent(fid, t))
			}
		}
	}
	// Live tasks the agent no longer has were lost with it.
	for fid, tasks := range a.tasks {
		f := m.frameworks[fid]
		var lost []registry.LostTask
		for tid, t := range tasks {
			if seen[fid][tid] || mesos.IsTerminal(t.state) || f == nil {
				continue
			}
			state := mesos.TaskState_TASK_LOST
			if f.partitionAware() {
				state = mesos.TaskState_TASK_GONE
				if t.state == mesos.TaskState_TASK_STAGING {
					state = mesos.TaskState_TASK_DROPPED
				}
			} else {
				lost = append(lost, registry.LostTask{TaskID: tid, AgentID: a.id})
			}
			m.transitionTask(f, t, state, mesos.TaskStatus_REASON_AGENT_RESTARTED,
				"Task was not reported by agent "+a.id+" when it re-subscribed")
		}
		m.recordLost(fid, lost)
	}
}

// agentCall handles a non-SUBSCRIBE call from a subscribed agent.
func (m *Master) agentCall(a *agent, call *agentpb.Call) (int, string) {
	m.countMessage(agentMessage[call.GetType()])
	// Any call on the agent's stream shows it is alive, not only a PONG:
	// a busy agent's PONG may wait behind its updates.
	a.missedPings = 0
	switch call.GetType() {
	case agentpb.Call_UPDATE:
		// Version 1 sends one update in update; version 2 any number in
		// updates, applied in order.
		ups := call.AllUpdates()
		if len(ups) == 0 {
			return http.StatusBadRequest, "Expecting 'update' to be present"
		}
		for i, u := range ups {
			if u.GetStatus() == nil {
				return http.StatusBadRequest, fmt.Sprintf("Expecting 'status' to be present in update %d", i)
			}
		}
		for i, u := range ups {
			if i > 0 {
				m.countMessage(agentMessage[agentpb.Call_UPDATE])
			}
			m.agentStatusUpdate(a, u)
		}
	case agentpb.Call_EXECUTOR_EXITED:
		if call.ExecutorExited == nil {
			return http.StatusBadRequest, "Expecting 'executor_exited' to be present"
		}
		m.executorExited(a, call.GetExecutorExited())
	case agentpb.Call_MESSAGE:
		if call.Message == nil {
			return http.StatusBadRequest, "Expecting 'message' to be present"
		}
		msg := call.GetMessage()
		if f := m.frameworks[msg.GetFrameworkId().GetValue()]; f != nil {
			m.metrics.frameworkMessages++
			m.sendToFramework(f, &schedpb.Event{
				Type: schedpb.Event_MESSAGE.Enum(),
				Message: &schedpb.Event_Message{
					AgentId: agentIDProto(a.id), ExecutorId: msg.GetExecutorId(), Data: msg.GetData(),
				},
			})
		}
	case agentpb.Call_PONG:
	default:
		return http.StatusBadRequest, fmt.Sprintf("Unexpected call type %s", call.GetType())
	}
	return http.StatusAccepted, ""
}

// executorExited releases a custom executor's resources and tells its
// framework with a FAILURE event.
func (m *Master) executorExited(a *agent, ex *agentpb.Call_ExecutorExited) {
	fid := ex.GetFrameworkId().GetValue()
	eid := ex.GetExecutorId().GetValue()
	if e := a.executors[fid][eid]; e != nil {
		delete(a.executors[fid], eid)
		m.alloc.RecoverResources(fid, a.id, e.role, e.resources, 0, time.Now())
		m.scheduleAllocation()
	}
	f := m.frameworks[fid]
	if f == nil {
		return
	}
	delete(f.executors[a.id], eid)
	if ex.GetCommandExecutor() {
		return
	}
	m.sendToFramework(f, &schedpb.Event{
		Type: schedpb.Event_FAILURE.Enum(),
		Failure: &schedpb.Event_Failure{
			AgentId: agentIDProto(a.id), ExecutorId: ex.GetExecutorId(), Status: proto.Int32(ex.GetStatus()),
		},
	})
}

// agentDisconnected handles the end of an agent's stream: its offers are
// rescinded; it is removed if it does not come back within the ping budget.
func (m *Master) agentDisconnected(id string, st *stream) {
	a := m.agents[id]
	if a == nil || a.stream != st {
		return
	}
	m.log.Info("agent disconnected", "agent", id)
	a.stream = nil
	a.missedPings = 0
	m.removeAgentOffers(a)
	m.alloc.DeactivateAgent(id)
}

// pingAgents runs every ping interval: connected agents get a PING and
// count a miss until they answer; disconnected agents count a miss per
// interval. An agent at the limit is removed.
func (m *Master) pingAgents() {
	for _, a := range m.agents {
		if a.removing {
			continue
		}
		if a.missedPings >= m.cfg.MaxAgentPingTimeouts {
			why := fmt.Sprintf("no answer to %d pings", a.missedPings)
			if a.stream == nil {
				why = fmt.Sprintf("disconnected for %d ping intervals", a.missedPings)
			}
			m.markUnreachable(a, why)
			continue
		}
		a.missedPings++
		if a.stream != nil {
			a.pingSeq++
			m.sendToAgent(a, &agentpb.Event{Type: agentpb.Event_PING.Enum(), Ping: &agentpb.Event_Ping{Sequence: proto.Uint64(a.pingSeq)}})
		}
	}
}

// markUnreachable records in the registry that the agent is unreachable,
// and then removes it: the registry learns it before any framework hears
// TASK_LOST, so that no later leader can let those tasks come back.
func (m *Master) markUnreachable(a *agent, why string) {
	a.removing = true
	now := time.Now()
	m.proposeThen(registry.MarkAgentUnreachable{ID: a.id, Time: now.UnixNano()}, func(err error) {
		if m.agents[a.id] != a {
			return
		}
		a.removing = false
		if err != nil {
			a.missedPings = 0 // try again after another ping budget
			return
		}
		m.removeAgent(a, why, now)
	})
}

// removeAgent removes an unreachable agent: its tasks become TASK_LOST
// (TASK_UNREACHABLE for partition-aware frameworks), its offers are
// rescinded and every framework gets a FAILURE event.
func (m *Master) removeAgent(a *agent, why string, now time.Time) {
	m.log.Warn("removing agent", "agent", a.id, "hostname", a.info.GetHostname(), "why", why)
	m.metrics.agentsRemoved++
	m.removeAgentOffers(a)
	if a.stream != nil {
		a.stream.close()
		a.stream = nil
	}
	msg := fmt.Sprintf("Agent %s removed: %s", a.id, why)
	for fid, tasks := range a.tasks {
		f := m.frameworks[fid]
		if f == nil {
			continue
		}
		for _, t := range tasks {
			if mesos.IsTerminal(t.state) {
				continue
			}
			if f.partitionAware() {
				t.unreachableTime = now
				m.transitionTask(f, t, mesos.TaskState_TASK_UNREACHABLE, mesos.TaskStatus_REASON_AGENT_REMOVED, msg)
			} else {
				m.transitionTask(f, t, mesos.TaskState_TASK_LOST, mesos.TaskStatus_REASON_AGENT_REMOVED, msg)
			}
		}
		delete(f.executors, a.id)
	}
	m.alloc.RemoveAgent(a.id)
	delete(m.agents, a.id)
	m.removedAgents[a.id] = now
	m.opAgentRemoved(a.id)
	for _, f := range m.frameworks {
		m.sendToFramework(f, &schedpb.Event{
			Type:    schedpb.Event_FAILURE.Enum(),
			Failure: &schedpb.Event_Failure{AgentId: agentIDProto(a.id)},
		})
	}
	m.scheduleAllocation()
}

// sendToAgent queues an event for an agent; an agent whose stream is too
// slow is disconnected.
func (m *Master) sendToAgent(a *agent, ev *agentpb.Event) {
	if a.stream == nil {
		return
	}
	if !a.stream.send(ev) {
		m.log.Warn("agent stream closed: the agent is not reading its events", "agent", a.id)
		m.agentDisconnected(a.id, a.stream)
	}
}
