package master

import (
	"fmt"
	"github.com/agora-dev/agora/internal/auth"
	"github.com/agora-dev/agora/internal/authz"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/agora-dev/agora/internal/registry"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	masterpb "github.com/agora-dev/agora/api/mesos/v1/master"
	schedpb "github.com/agora-dev/agora/api/mesos/v1/scheduler"
	"google.golang.org/protobuf/proto"
)

// The v1 operator API of the master: POST /api/v1 (docs/mesos-api.md §5.1).

func (m *Master) operatorRoutes(mux *http.ServeMux) {
	for _, p := range []string{"/api/v1", "/master/api/v1"} {
		mux.HandleFunc(p, m.handleOperator)
	}
}

// handleOperator serves one operator call. The transport rules are the
// scheduler endpoint's; unlike it, Accept is checked for every call, as
// Mesos does.
func (m *Master) handleOperator(w http.ResponseWriter, r *http.Request) {
	call := &masterpb.Call{}
	if _, ok := decodeCall(w, r, call); !ok {
		return
	}
	c, ok := codec.ForAccept(r.Header.Values("Accept"))
	if !ok {
		textError(w, http.StatusNotAcceptable, "Expecting 'Accept' to allow application/json or application/x-protobuf")
		return
	}
	if call.Type == nil {
		textError(w, http.StatusBadRequest, "Failed to validate master::Call: Expecting 'type' to be present")
		return
	}
	t := call.GetType()
	switch t {
	case masterpb.Call_SUBSCRIBE:
		m.serveOperatorSubscribe(w, r, c, m.viewerOf(r))
		return
	case masterpb.Call_TEARDOWN, masterpb.Call_MARK_AGENT_GONE:
		m.serveOperatorAction(w, r, call)
		return
	case masterpb.Call_GET_METRICS:
		if call.GetMetrics == nil {
			textError(w, http.StatusBadRequest, "Failed to validate master::Call: Expecting 'get_metrics' to be present")
			return
		}
	}
	if t == masterpb.Call_GET_FLAGS && !m.viewerOf(r).Flags() {
		textError(w, http.StatusForbidden, "403 Forbidden.")
		return
	}
	if t == masterpb.Call_GET_METRICS && m.endpointDenied(w, r, "/metrics/snapshot") {
		return
	}
	build := m.operatorQuery(t, m.viewerOf(r))
	if build == nil {
		textError(w, http.StatusNotImplemented, fmt.Sprintf("Operator call %s is not implemented by Agora", t))
		return
	}
	var body []byte
	var encErr error
	if err := m.do(func() { body, encErr = c.Marshal(build()) }); err != nil {
		textError(w, http.StatusServiceUnavailable, "Master is stopping")
		return
	}
	if encErr != nil {
		m.log.Error("encoding an operator response failed", "call", t.String(), "err", encErr)
		textError(w, http.StatusInternalServerError, fmt.Sprintf("Failed to encode the %s response: %v", t, encErr))
		return
	}
	w.Header().Set("Content-Type", c.MediaType())
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// operatorQuery returns, for a GET_* call Agora answers, the function that
// builds its Response on the loop; nil for calls it does not implement.
func (m *Master) operatorQuery(t masterpb.Call_Type, v *viewer) func() *masterpb.Response {
	resp := func(rt masterpb.Response_Type, fill func(*masterpb.Response)) func() *masterpb.Response {
		return func() *masterpb.Response {
			r := &masterpb.Response{Type: rt.Enum()}
			fill(r)
			return r
		}
	}
	switch t {
	case masterpb.Call_GET_HEALTH:
		return resp(masterpb.Response_GET_HEALTH, func(r *masterpb.Response) {
			r.GetHealth = &masterpb.Response_GetHealth{Healthy: proto.Bool(true)}
		})
	case masterpb.Call_GET_FLAGS:
		return resp(masterpb.Response_GET_FLAGS, func(r *masterpb.Response) { r.GetFlags = m.getFlags() })
	case masterpb.Call_GET_VERSION:
		return resp(masterpb.Response_GET_VERSION, func(r *masterpb.Response) { r.GetVersion = getVersion() })
	case masterpb.Call_GET_METRICS:
		return resp(masterpb.Response_GET_METRICS, func(r *masterpb.Response) { r.GetMetrics = m.getMetrics() })
	case masterpb.Call_GET_STATE:
		return resp(masterpb.Response_GET_STATE, func(r *masterpb.Response) { r.GetState = m.getState(v) })
	case masterpb.Call_GET_AGENTS:
		return resp(masterpb.Response_GET_AGENTS, func(r *masterpb.Response) { r.GetAgents = m.getAgents() })
	case masterpb.Call_GET_FRAMEWORKS:
		return resp(masterpb.Response_GET_FRAMEWORKS, func(r *masterpb.Response) { r.GetFrameworks = m.getFrameworks(v) })
	case masterpb.Call_GET_EXECUTORS:
		return resp(masterpb.Response_GET_EXECUTORS, func(r *masterpb.Response) { r.GetExecutors = m.getExecutors(v) })
	case masterpb.Call_GET_TASKS:
		return resp(masterpb.Response_GET_TASKS, func(r *masterpb.Response) { r.GetTasks = m.getTasks(v) })
	case masterpb.Call_GET_ROLES:
		return resp(masterpb.Response_GET_ROLES, func(r *masterpb.Response) { r.GetRoles = m.getRoles(v) })
	case masterpb.Call_GET_MASTER:
		return resp(masterpb.Response_GET_MASTER, func(r *masterpb.Response) { r.GetMaster = m.getMaster() })
	}
	return nil
}

// serveOperatorAction runs TEARDOWN or MARK_AGENT_GONE. Success is 200
// with an empty body and no Content-Type.
func (m *Master) serveOperatorAction(w http.ResponseWriter, r *http.Request, call *masterpb.Call) {
	var status int
	var msg string
	var run func()
	switch call.GetType() {
	case masterpb.Call_TEARDOWN:
		if call.Teardown == nil {
			textError(w, http.StatusBadRequest, "Failed to validate master::Call: Expecting 'teardown' to be present")
			return
		}
		id := call.GetTeardown().GetFrameworkId().GetValue()
		run = func() {
			f := m.frameworks[id]
			if f == nil {
				status, msg = http.StatusBadRequest, "No framework found with specified ID "+id
				return
			}
			if !m.allowed(authz.TeardownFrameworks, auth.RequestSubject(r), principalObject(f.info)) {
				status, msg = http.StatusForbidden, "403 Forbidden."
				return
			}
			m.removeFramework(f, "the operator sent TEARDOWN")
			status = http.StatusOK
		}
	case masterpb.Call_MARK_AGENT_GONE:
		if call.MarkAgentGone == nil {
			textError(w, http.StatusBadRequest, "Failed to validate master::Call: Expecting 'mark_agent_gone' to be present")
			return
		}
		if !m.allowed(authz.MarkAgentsGone, auth.RequestSubject(r), nil) {
			textError(w, http.StatusForbidden, "403 Forbidden.")
			return
		}
		id := call.GetMarkAgentGone().GetAgentId().GetValue()
		// The registry records the agent as gone before the master acts
		// on it, so that the answer 200 survives a restart.
		now := time.Now()
		var persist bool
		if err := m.do(func() { persist = m.agentKnown(id) && !m.agentGone(id) }); err != nil {
			textError(w, http.StatusServiceUnavailable, "Master is stopping")
			return
		}
		if persist {
			if err := m.reg.Propose(registry.MarkAgentGone{ID: id, Time: now.UnixNano()}, proposeTimeout); err != nil {
				textError(w, http.StatusServiceUnavailable, "Failed to record the agent as gone in the registry: "+err.Error())
				return
			}
		}
		run = func() { status, msg = m.markAgentGone(id, now) }
	}
	if err := m.do(run); err != nil {
		textError(w, http.StatusServiceUnavailable, "Master is stopping")
		return
	}
	if status != http.StatusOK {
		textError(w, status, msg)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// markAgentGone handles MARK_AGENT_GONE on the loop. A registered agent
// is removed: its frameworks are shut down on it, its stream gets an
// ERROR, and its live tasks become TASK_GONE_BY_OPERATOR (TASK_LOST for
// frameworks that are not partition-aware). An agent already removed as
// unreachable has its unreachable tasks moved to TASK_GONE_BY_OPERATOR.
// The id is remembered, so the agent cannot subscribe with it again and
// the call is idempotent.
func (m *Master) markAgentGone(id string, now time.Time) (int, string) {
	if _, gone := m.op.gone[id]; gone {
		return http.StatusOK, ""
	}
	msg := fmt.Sprintf("Agent %s was marked gone by the operator", id)
	a := m.agents[id]
	if a == nil {
		if _, unreachable := m.removedAgents[id]; !unreachable {
			return http.StatusNotFound, "Agent " + id + " not found"
		}
		delete(m.removedAgents, id)
		for _, f := range m.sortedFrameworks() {
			for _, t := range sortedTasks(f.tasks) {
				if t.agentID == id && t.state == mesos.TaskState_TASK_UNREACHABLE {
					m.transitionTask(f, t, mesos.TaskState_TASK_GONE_BY_OPERATOR,
						mesos.TaskStatus_REASON_AGENT_REMOVED_BY_OPERATOR, msg)
				}
			}
		}
		m.markGone(id, now)
		m.log.Info("unreachable agent marked gone by the operator", "agent", id)
		return http.StatusOK, ""
	}
	m.log.Warn("agent marked gone by the operator", "agent", id, "hostname", a.info.GetHostname())
	m.metrics.agentsRemoved++
	m.removeAgentOffers(a)
	if a.stream != nil {
		// The agent must stop what it runs and not come back with this id.
		fids := make(map[string]bool)
		for fid := range a.tasks {
			fids[fid] = true
		}
		for fid := range a.executors {
			fids[fid] = true
		}
		for _, fid := range slices.Sorted(maps.Keys(fids)) {
			m.sendToAgent(a, &agentpb.Event{
				Type:              agentpb.Event_SHUTDOWN_FRAMEWORK.Enum(),
				ShutdownFramework: &agentpb.Event_ShutdownFramework{FrameworkId: frameworkIDProto(fid)},
			})
		}
		if a.stream != nil {
			a.stream.send(&agentpb.Event{Type: agentpb.Event_ERROR.Enum(), Error: &agentpb.Event_Error{Message: proto.String(msg)}})
			a.stream.close()
			a.stream = nil
		}
	}
	for _, fid := range slices.Sorted(maps.Keys(a.tasks)) {
		f := m.frameworks[fid]
		if f == nil {
			continue
		}
		for _, t := range sortedTasks(a.tasks[fid]) {
			if mesos.IsTerminal(t.state) {
				continue
			}
			state := mesos.TaskState_TASK_LOST
			if f.partitionAware() {
				state = mesos.TaskState_TASK_GONE_BY_OPERATOR
			}
			m.transitionTask(f, t, state, mesos.TaskStatus_REASON_AGENT_REMOVED_BY_OPERATOR, msg)
		}
		delete(f.executors, id)
	}
	m.alloc.RemoveAgent(id)
	delete(m.agents, id)
	m.markGone(id, now)
	for _, f := range m.sortedFrameworks() {
		m.sendToFramework(f, &schedpb.Event{
			Type:    schedpb.Event_FAILURE.Enum(),
			Failure: &schedpb.Event_Failure{AgentId: agentIDProto(id)},
		})
	}
	m.opAgentRemoved(id)
	m.scheduleAllocation()
	return http.StatusOK, ""
}

func (m *Master) markGone(id string, now time.Time) {
	if m.op.gone == nil {
		m.op.gone = make(map[string]time.Time)
	}
	m.op.gone[id] = now
}

// agentGone reports whether the operator marked the agent gone; such an
// agent may not subscribe again.
func (m *Master) agentGone(id string) bool {
	_, gone := m.op.gone[id]
	return gone
}

// agentKnown reports whether the master knows the agent: subscribed, or
// removed as unreachable.
func (m *Master) agentKnown(id string) bool {
	if _, ok := m.agents[id]; ok {
		return true
	}
	_, ok := m.removedAgents[id]
	return ok
}
