package agent

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	agentapi "github.com/agora-dev/agora/api/mesos/v1/agent"
	"github.com/agora-dev/agora/api/recordio"
	"github.com/agora-dev/agora/internal/authz"
	"github.com/agora-dev/agora/internal/httpapi"
	"google.golang.org/protobuf/proto"
)

// The Mesos v1 operator API of the agent: POST /api/v1 (and
// /slave(1)/api/v1), package mesos.v1.agent (docs/mesos-api.md §1, §5).
//
// The transport rules are the master operator endpoint's: non-POST → 405
// with Allow: POST; no Content-Type → 400; a Content-Type other than exactly
// application/json or application/x-protobuf → 415; an unparsable body or a
// call failing validation → 400; an Accept allowing neither media type →
// 406 (checked for every call, as Mesos does). The GET_* calls Agora
// answers are built and encoded on the loop and answered 200 with the
// codec's media type; UNKNOWN and every other call → 501.

// operatorRoutes registers the agent's operator API.
func (a *Agent) operatorRoutes(mux *http.ServeMux) {
	mux.HandleFunc("/api/v1", a.handleOperatorAPI)
	mux.HandleFunc("/slave(1)/api/v1", a.handleOperatorAPI)
}

func (a *Agent) handleOperatorAPI(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && mediaOf(r.Header.Get("Content-Type")) == mediaRecordIO {
		a.handleStreamingRequest(w, r)
		return
	}
	call := &agentapi.Call{}
	if _, ok := httpapi.DecodeCall(w, r, call); !ok {
		return
	}
	if msg := validateOperatorCall(call); msg != "" {
		http.Error(w, "Failed to validate agent::Call: "+msg, http.StatusBadRequest)
		return
	}
	if !a.authorizeCall(w, r, call) {
		return
	}
	switch call.GetType() {
	case agentapi.Call_LAUNCH_NESTED_CONTAINER_SESSION:
		a.handleLaunchSession(w, r, call)
		return
	case agentapi.Call_ATTACH_CONTAINER_OUTPUT:
		a.handleAttachOutput(w, r, call)
		return
	case agentapi.Call_ATTACH_CONTAINER_INPUT:
		httpapi.TextError(w, http.StatusUnsupportedMediaType,
			"Expecting 'Content-Type' of application/recordio for the streaming ATTACH_CONTAINER_INPUT call")
		return
	}
	out, ok := codec.ForAccept(r.Header.Values("Accept"))
	if !ok {
		http.Error(w, fmt.Sprintf("Expecting 'Accept' to allow %s or %s", codec.MediaJSON, codec.MediaProtobuf),
			http.StatusNotAcceptable)
		return
	}
	if call.GetType() == agentapi.Call_WAIT_NESTED_CONTAINER {
		a.handleWaitNested(w, r, out, call)
		return
	}
	v := a.viewerOf(r)
	if call.GetType() == agentapi.Call_GET_FLAGS && !v.Flags() {
		httpapi.TextError(w, http.StatusForbidden, "403 Forbidden.")
		return
	}
	if call.GetType() == agentapi.Call_GET_METRICS && a.endpointDenied(w, r, "/metrics/snapshot") {
		return
	}
	build := operatorQuery(call.GetType(), v)
	if build == nil {
		http.Error(w, fmt.Sprintf("Agent operator call %s is not implemented by Agora", call.GetType()),
			http.StatusNotImplemented)
		return
	}
	var (
		resp   []byte
		encErr error
	)
	if !a.do(r.Context(), func() { resp, encErr = out.Marshal(build(a.st)) }) {
		http.Error(w, "Agent is shutting down", http.StatusServiceUnavailable)
		return
	}
	if encErr != nil {
		a.log.Error("encoding an operator response failed", "call", call.GetType().String(), "err", encErr)
		http.Error(w, fmt.Sprintf("Failed to encode the %s response: %v", call.GetType(), encErr),
			http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", out.MediaType())
	w.Header().Set("Content-Length", strconv.Itoa(len(resp)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(resp)
}

// validateOperatorCall is what Mesos's agent validation::call::validate
// checks of the calls Agora declares.
func validateOperatorCall(c *agentapi.Call) string {
	switch {
	case c.Type == nil:
		return "Expecting 'type' to be present"
	case c.GetType() == agentapi.Call_GET_METRICS && c.GetMetrics == nil:
		return "Expecting 'get_metrics' to be present"
	case c.GetType() == agentapi.Call_LAUNCH_NESTED_CONTAINER_SESSION &&
		c.GetLaunchNestedContainerSession().GetContainerId().GetValue() == "":
		return "Expecting 'launch_nested_container_session.container_id' to be present"
	case c.GetType() == agentapi.Call_ATTACH_CONTAINER_OUTPUT && c.GetAttachContainerOutput().GetContainerId().GetValue() == "":
		return "Expecting 'attach_container_output.container_id' to be present"
	case c.GetType() == agentapi.Call_ATTACH_CONTAINER_INPUT && c.AttachContainerInput == nil:
		return "Expecting 'attach_container_input' to be present"
	case c.GetType() == agentapi.Call_WAIT_NESTED_CONTAINER && c.GetWaitNestedContainer().GetContainerId().GetValue() == "":
		return "Expecting 'wait_nested_container.container_id' to be present"
	}
	return ""
}

func mediaOf(contentType string) string {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.TrimSpace(mt)
}

// handleStreamingRequest serves a request whose body is a RecordIO stream
// of calls encoded as Message-Content-Type says: ATTACH_CONTAINER_INPUT,
// the one streaming request of the agent operator API.
func (a *Agent) handleStreamingRequest(w http.ResponseWriter, r *http.Request) {
	c, err := codec.ForContentType(r.Header.Get("Message-Content-Type"))
	if err != nil {
		httpapi.TextError(w, http.StatusUnsupportedMediaType,
			"Expecting 'Message-Content-Type' of application/json or application/x-protobuf")
		return
	}
	rd := recordio.NewReader(r.Body)
	b, err := rd.ReadRecord()
	if err != nil {
		httpapi.TextError(w, http.StatusBadRequest, "Failed to read the first record of the stream: "+err.Error())
		return
	}
	call := &agentapi.Call{}
	if err := c.Unmarshal(b, call); err != nil {
		httpapi.TextError(w, http.StatusBadRequest, "Failed to parse the first record of the stream: "+err.Error())
		return
	}
	if msg := validateOperatorCall(call); msg != "" {
		httpapi.TextError(w, http.StatusBadRequest, "Failed to validate agent::Call: "+msg)
		return
	}
	if call.GetType() != agentapi.Call_ATTACH_CONTAINER_INPUT {
		httpapi.TextError(w, http.StatusUnsupportedMediaType,
			fmt.Sprintf("Streaming request is only allowed for ATTACH_CONTAINER_INPUT, not %s", call.GetType()))
		return
	}
	if !a.authorizeCall(w, r, call) {
		return
	}
	a.handleAttachInput(w, r, c, rd, call)
}

// operatorQuery returns, for a call Agora answers, the function that builds
// its Response on the loop; nil for calls it does not implement.
func operatorQuery(t agentapi.Call_Type, v *authz.Viewer) func(*state) *agentapi.Response {
	resp := func(rt agentapi.Response_Type, fill func(*state, *agentapi.Response)) func(*state) *agentapi.Response {
		return func(s *state) *agentapi.Response {
			r := &agentapi.Response{Type: rt.Enum()}
			fill(s, r)
			return r
		}
	}
	switch t {
	case agentapi.Call_GET_HEALTH:
		return resp(agentapi.Response_GET_HEALTH, func(_ *state, r *agentapi.Response) {
			r.GetHealth = &agentapi.Response_GetHealth{Healthy: proto.Bool(true)}
		})
	case agentapi.Call_GET_FLAGS:
		return resp(agentapi.Response_GET_FLAGS, func(s *state, r *agentapi.Response) { r.GetFlags = s.opFlags() })
	case agentapi.Call_GET_VERSION:
		return resp(agentapi.Response_GET_VERSION, func(_ *state, r *agentapi.Response) {
			r.GetVersion = &agentapi.Response_GetVersion{VersionInfo: &mesos.VersionInfo{
				Version:   proto.String(Version),
				BuildDate: proto.String(""),
				BuildTime: proto.Float64(0),
				BuildUser: proto.String(""),
			}}
		})
	case agentapi.Call_GET_METRICS:
		return resp(agentapi.Response_GET_METRICS, func(s *state, r *agentapi.Response) { r.GetMetrics = s.opMetrics() })
	case agentapi.Call_GET_STATE:
		return resp(agentapi.Response_GET_STATE, func(s *state, r *agentapi.Response) {
			r.GetState = &agentapi.Response_GetState{
				GetTasks:      s.opTasks(v),
				GetExecutors:  s.opExecutors(v),
				GetFrameworks: s.opFrameworks(v),
			}
		})
	case agentapi.Call_GET_CONTAINERS:
		return resp(agentapi.Response_GET_CONTAINERS, func(s *state, r *agentapi.Response) { r.GetContainers = s.opContainers(v) })
	case agentapi.Call_GET_FRAMEWORKS:
		return resp(agentapi.Response_GET_FRAMEWORKS, func(s *state, r *agentapi.Response) { r.GetFrameworks = s.opFrameworks(v) })
	case agentapi.Call_GET_EXECUTORS:
		return resp(agentapi.Response_GET_EXECUTORS, func(s *state, r *agentapi.Response) { r.GetExecutors = s.opExecutors(v) })
	case agentapi.Call_GET_TASKS:
		return resp(agentapi.Response_GET_TASKS, func(s *state, r *agentapi.Response) { r.GetTasks = s.opTasks(v) })
	case agentapi.Call_GET_AGENT:
		return resp(agentapi.Response_GET_AGENT, func(s *state, r *agentapi.Response) {
			r.GetAgent = &agentapi.Response_GetAgent{AgentInfo: s.agentInfo()}
		})
	}
	return nil
}

func (s *state) opFlags() *agentapi.Response_GetFlags {
	flags := s.a.flags()
	out := &agentapi.Response_GetFlags{}
	for _, name := range slices.Sorted(maps.Keys(flags)) {
		out.Flags = append(out.Flags, &mesos.Flag{Name: proto.String(name), Value: proto.String(flags[name])})
	}
	return out
}

func (s *state) opMetrics() *agentapi.Response_GetMetrics {
	snap := s.metrics()
	out := &agentapi.Response_GetMetrics{}
	for _, name := range slices.Sorted(maps.Keys(snap)) {
		out.Metrics = append(out.Metrics, &mesos.Metric{Name: proto.String(name), Value: proto.Float64(snap[name])})
	}
	return out
}

// allFrameworks lists the live frameworks by id, then the completed ones
// oldest first.
func (s *state) allFrameworks() []*framework {
	out := make([]*framework, 0, len(s.frameworks)+len(s.completedFrameworks))
	for _, id := range slices.Sorted(maps.Keys(s.frameworks)) {
		out = append(out, s.frameworks[id])
	}
	return append(out, s.completedFrameworks...)
}

func (s *state) opFrameworks(v *authz.Viewer) *agentapi.Response_GetFrameworks {
	out := &agentapi.Response_GetFrameworks{}
	for _, id := range slices.Sorted(maps.Keys(s.frameworks)) {
		if v.Framework(s.frameworks[id].info) {
			out.Frameworks = append(out.Frameworks,
				&agentapi.Response_GetFrameworks_Framework{FrameworkInfo: s.frameworks[id].info})
		}
	}
	for _, f := range s.completedFrameworks {
		if v.Framework(f.info) {
			out.CompletedFrameworks = append(out.CompletedFrameworks,
				&agentapi.Response_GetFrameworks_Framework{FrameworkInfo: f.info})
		}
	}
	return out
}

func (s *state) opExecutors(v *authz.Viewer) *agentapi.Response_GetExecutors {
	out := &agentapi.Response_GetExecutors{}
	for _, f := range s.allFrameworks() {
		if !v.Framework(f.info) {
			continue
		}
		for _, id := range slices.Sorted(maps.Keys(f.executors)) {
			if e := f.executors[id]; v.Executor(e.info, f.info) {
				out.Executors = append(out.Executors, &agentapi.Response_GetExecutors_Executor{ExecutorInfo: e.info})
			}
		}
		for _, e := range f.completedExecutors {
			if v.Executor(e.info, f.info) {
				out.CompletedExecutors = append(out.CompletedExecutors, &agentapi.Response_GetExecutors_Executor{ExecutorInfo: e.info})
			}
		}
	}
	return out
}

// opTasks sorts the agent's tasks as Mesos does: queued (not yet delivered
// to the executor), launched, terminated (terminal, last update not yet
// acknowledged by the master) and completed. Agora has no pending tasks
// (Mesos's tasks waiting for authorization or resource checks).
func (s *state) opTasks(v *authz.Viewer) *agentapi.Response_GetTasks {
	out := &agentapi.Response_GetTasks{}
	add := func(e *executor) {
		for _, t := range e.tasks {
			if !v.Task(t.info, e.fw.info) {
				continue
			}
			switch {
			case mesos.IsTerminal(t.state):
				out.TerminatedTasks = append(out.TerminatedTasks, s.opTask(t))
			case t.queued:
				out.QueuedTasks = append(out.QueuedTasks, s.opTask(t))
			default:
				out.LaunchedTasks = append(out.LaunchedTasks, s.opTask(t))
			}
		}
		for _, t := range e.completed {
			if v.Task(t.info, e.fw.info) {
				out.CompletedTasks = append(out.CompletedTasks, s.opTask(t))
			}
		}
	}
	for _, f := range s.allFrameworks() {
		if !v.Framework(f.info) {
			continue
		}
		for _, id := range slices.Sorted(maps.Keys(f.executors)) {
			add(f.executors[id])
		}
		for _, e := range f.completedExecutors {
			add(e)
		}
	}
	return out
}

// opTask is the mesos.v1.Task of a task, with the user its command or its
// executor's command names, as Mesos's agent reports it.
func (s *state) opTask(t *task) *mesos.Task {
	mt := s.taskProto(t)
	if u := t.info.GetCommand().GetUser(); u != "" {
		mt.User = proto.String(u)
	} else if u := t.info.GetExecutor().GetCommand().GetUser(); u != "" {
		mt.User = proto.String(u)
	}
	return mt
}

// opContainers lists the container of every executor that is not
// terminated, with the pid of its executor once started.
func (s *state) opContainers(v *authz.Viewer) *agentapi.Response_GetContainers {
	out := &agentapi.Response_GetContainers{}
	for _, id := range slices.Sorted(maps.Keys(s.frameworks)) {
		f := s.frameworks[id]
		for _, eid := range slices.Sorted(maps.Keys(f.executors)) {
			e := f.executors[eid]
			if e.state == execTerminated || !v.Container(e.info, f.info) {
				continue
			}
			cid := &mesos.ContainerID{Value: proto.String(e.containerID)}
			c := &agentapi.Response_GetContainers_Container{
				FrameworkId:     &mesos.FrameworkID{Value: proto.String(f.id)},
				ExecutorId:      e.info.ExecutorId,
				ExecutorName:    proto.String(e.info.GetName()),
				ContainerId:     cid,
				ContainerStatus: &mesos.ContainerStatus{ContainerId: cid},
			}
			if e.proc != nil {
				c.ContainerStatus.ExecutorPid = proto.Uint32(uint32(e.proc.p.Pid()))
			}
			out.Containers = append(out.Containers, c)
		}
	}
	return out
}
