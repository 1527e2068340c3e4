package agent

import (
	"encoding/json"
	"fmt"
	"github.com/agora-dev/agora/internal/httpapi"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/internal/authz"
	"github.com/agora-dev/agora/internal/metrics"
	"google.golang.org/protobuf/proto"
)

// The v0 JSON endpoints (Mesos §5.3, §5.5): /state, /metrics/snapshot,
// /health, /flags and /files. The loop builds each answer as plain maps.

func (a *Agent) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/executor", a.handleExecutorAPI)
	mux.HandleFunc("/slave(1)/api/v1/executor", a.handleExecutorAPI)
	a.operatorRoutes(mux)
	for _, p := range []string{"/state", "/state.json", "/slave(1)/state", "/slave(1)/state.json"} {
		mux.HandleFunc("GET "+p, a.handleState)
	}
	for _, p := range []string{"/health", "/slave(1)/health"} {
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	}
	mux.HandleFunc("GET /metrics/snapshot", a.handleMetrics)
	mux.Handle("GET /metrics", a.metricsHandler())
	mux.HandleFunc("GET /flags", a.handleFlags)
	mux.HandleFunc("GET /slave(1)/flags", a.handleFlags)
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, r, map[string]any{"version": Version, "build_date": "", "build_time": 0, "build_user": ""})
	})
	mux.Handle("/files/", a.guardFiles(a.files))
	return mux
}

// writeJSON answers v as JSON; JSONP is refused (httpapi.RefuseJSONP).
func writeJSON(w http.ResponseWriter, r *http.Request, v any) {
	if httpapi.RefuseJSONP(w, r) {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

func (a *Agent) handleState(w http.ResponseWriter, r *http.Request) {
	var v map[string]any
	viewer := a.viewerOf(r)
	if !a.do(r.Context(), func() { v = a.st.stateJSON(viewer) }) {
		http.Error(w, "Agent is shutting down", http.StatusServiceUnavailable)
		return
	}
	writeJSON(w, r, v)
}

func (a *Agent) handleMetrics(w http.ResponseWriter, r *http.Request) {
	if a.endpointDenied(w, r, "/metrics/snapshot") {
		return
	}
	var v map[string]float64
	if !a.do(r.Context(), func() { v = a.st.metrics() }) {
		http.Error(w, "Agent is shutting down", http.StatusServiceUnavailable)
		return
	}
	writeJSON(w, r, v)
}

func (a *Agent) handleFlags(w http.ResponseWriter, r *http.Request) {
	if !a.viewerOf(r).Flags() {
		httpapi.TextError(w, http.StatusForbidden, "403 Forbidden.")
		return
	}
	writeJSON(w, r, map[string]any{"flags": a.flags()})
}

// flags renders the configuration the way Mesos lists its flags.
func (a *Agent) flags() map[string]string {
	c := a.cfg
	return map[string]string{
		"master":                         c.Master,
		"ip":                             c.IP,
		"port":                           strconv.Itoa(a.port),
		"hostname":                       c.Hostname,
		"work_dir":                       c.WorkDir,
		"resources":                      c.Resources,
		"attributes":                     c.Attributes,
		"executor_registration_timeout":  formatDuration(c.ExecutorRegistrationTimeout),
		"executor_shutdown_grace_period": formatDuration(c.ExecutorShutdownGracePeriod),
		"launcher":                       launcherFlag(a.iso),
		"isolation":                      isolationFlag(a.iso),
		"containerizers":                 "mesos",
		"http_command_executor":          "true",
	}
}

func unixSecs(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// stateJSON builds /state.
// stateJSON is /state as v may see it (nil: everything).
func (s *state) stateJSON(v *authz.Viewer) map[string]any {
	a := s.a
	total := resourceMap(a.resources)
	used := resourceMap(s.usedResources())
	frameworks := []any{}
	for _, id := range slices.Sorted(maps.Keys(s.frameworks)) {
		if f := s.frameworks[id]; v.Framework(f.info) {
			frameworks = append(frameworks, s.frameworkJSON(f, v))
		}
	}
	completed := []any{}
	for _, f := range s.completedFrameworks {
		if v.Framework(f.info) {
			completed = append(completed, s.frameworkJSON(f, v))
		}
	}
	attrs := map[string]any{}
	for _, at := range a.attributes {
		attrs[at.GetName()] = attributeValue(at)
	}
	st := map[string]any{
		"version":                        Version,
		"build_date":                     "",
		"build_time":                     0.0,
		"build_user":                     "",
		"start_time":                     unixSecs(a.startTime),
		"id":                             s.agentID,
		"pid":                            a.pid(),
		"hostname":                       a.cfg.Hostname,
		"capabilities":                   []string{"MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT"},
		"resources":                      total,
		"unreserved_resources":           total,
		"reserved_resources":             map[string]any{},
		"reserved_resources_full":        map[string]any{},
		"unreserved_resources_full":      jsonProtos(a.resources),
		"reserved_resources_allocated":   map[string]any{},
		"unreserved_resources_allocated": used,
		"resource_providers":             []any{},
		"attributes":                     attrs,
		"flags":                          a.flags(),
		"frameworks":                     frameworks,
		"completed_frameworks":           completed,
	}
	if s.masterHost != "" {
		st["master_hostname"] = s.masterHost
	}
	if !v.Flags() {
		delete(st, "flags")
	}
	return st
}

func (s *state) frameworkJSON(f *framework, vw *authz.Viewer) map[string]any {
	fi := f.info
	execs := []any{}
	for _, id := range slices.Sorted(maps.Keys(f.executors)) {
		if e := f.executors[id]; vw.Executor(e.info, fi) {
			execs = append(execs, s.executorJSON(e, vw))
		}
	}
	done := []any{}
	for _, e := range f.completedExecutors {
		if vw.Executor(e.info, fi) {
			done = append(done, s.executorJSON(e, vw))
		}
	}
	v := map[string]any{
		"id":                  f.id,
		"name":                fi.GetName(),
		"user":                fi.GetUser(),
		"failover_timeout":    fi.GetFailoverTimeout(),
		"checkpoint":          fi.GetCheckpoint(),
		"hostname":            fi.GetHostname(),
		"executors":           execs,
		"completed_executors": done,
	}
	if fi.Principal != nil {
		v["principal"] = fi.GetPrincipal()
	}
	if len(fi.GetRoles()) > 0 {
		v["roles"] = fi.GetRoles()
	} else {
		v["role"] = legacyRole(fi)
	}
	return v
}

func (s *state) executorJSON(e *executor, vw *authz.Viewer) map[string]any {
	tasks, queued, completed := []any{}, []any{}, []any{}
	for _, t := range e.tasks {
		if !vw.Task(t.info, e.fw.info) {
			continue
		}
		if t.queued {
			queued = append(queued, s.taskJSON(t))
		} else {
			tasks = append(tasks, s.taskJSON(t))
		}
	}
	for _, t := range e.completed {
		if vw.Task(t.info, e.fw.info) {
			completed = append(completed, s.taskJSON(t))
		}
	}
	v := map[string]any{
		"id":              e.id,
		"name":            e.info.GetName(),
		"source":          e.info.GetSource(), //lint:ignore SA1019 v0 /state shows the executor source
		"container":       e.containerID,
		"directory":       e.directory,
		"resources":       resourceMap(e.liveResources()),
		"role":            roleOf(e.info.GetResources(), e.fw.info),
		"tasks":           tasks,
		"queued_tasks":    queued,
		"completed_tasks": completed,
	}
	if e.info.Type != nil {
		v["type"] = e.info.GetType().String()
	}
	if l := e.info.GetLabels(); l != nil {
		v["labels"] = jsonProto(l)
	}
	return v
}

func (s *state) taskJSON(t *task) map[string]any {
	execID := ""
	if !t.ex.command {
		execID = t.ex.id
	}
	statuses := []any{}
	for _, st := range t.statuses {
		m := map[string]any{"state": st.GetState().String(), "timestamp": st.GetTimestamp()}
		if st.Healthy != nil {
			m["healthy"] = st.GetHealthy()
		}
		if st.ContainerStatus != nil {
			m["container_status"] = jsonProto(st.ContainerStatus)
		}
		if st.Labels != nil {
			m["labels"] = labelsJSON(st.Labels)
		}
		statuses = append(statuses, m)
	}
	v := map[string]any{
		"id":           t.id(),
		"name":         t.info.GetName(),
		"framework_id": t.ex.fw.id,
		"executor_id":  execID,
		"slave_id":     s.agentID,
		"state":        t.state.String(),
		"resources":    resourceMap(t.info.GetResources()),
		"role":         roleOf(t.info.GetResources(), t.ex.fw.info),
		"statuses":     statuses,
	}
	if t.info.Command != nil {
		v["command"] = jsonProto(t.info.Command)
	}
	if t.info.Labels != nil {
		v["labels"] = labelsJSON(t.info.Labels)
	}
	if t.info.Discovery != nil {
		v["discovery"] = jsonProto(t.info.Discovery)
	}
	return v
}

// usedResources sums the resources of running executors and their live
// tasks.
func (s *state) usedResources() []*mesos.Resource {
	var res []*mesos.Resource
	for _, f := range s.frameworks {
		for _, e := range f.executors {
			if e.state != execTerminated {
				res = append(res, e.liveResources()...)
			}
		}
	}
	return res
}

// metrics builds /metrics/snapshot.
func (s *state) metrics() map[string]float64 {
	a := s.a
	m := map[string]float64{
		"slave/uptime_secs": time.Since(a.startTime).Seconds(),
		"slave/registered":  0,
	}
	if s.registered {
		m["slave/registered"] = 1
	}
	live := map[mesos.TaskState]float64{}
	execs := map[executorState]float64{}
	for _, f := range s.frameworks {
		for _, e := range f.executors {
			execs[e.state]++
			for _, t := range e.tasks {
				if !mesos.IsTerminal(t.state) {
					live[t.state]++
				}
			}
		}
	}
	for name, st := range map[string]mesos.TaskState{
		"staging": mesos.TaskState_TASK_STAGING, "starting": mesos.TaskState_TASK_STARTING,
		"running": mesos.TaskState_TASK_RUNNING, "killing": mesos.TaskState_TASK_KILLING,
	} {
		m["slave/tasks_"+name] = live[st]
	}
	for name, st := range map[string]mesos.TaskState{
		"finished": mesos.TaskState_TASK_FINISHED, "failed": mesos.TaskState_TASK_FAILED,
		"killed": mesos.TaskState_TASK_KILLED, "lost": mesos.TaskState_TASK_LOST,
		"gone": mesos.TaskState_TASK_GONE, "dropped": mesos.TaskState_TASK_DROPPED,
		"error": mesos.TaskState_TASK_ERROR,
	} {
		m["slave/tasks_"+name] = float64(s.counters[st])
	}
	m["slave/executors_registering"] = execs[execLaunching]
	m["slave/executors_running"] = execs[execRunning]
	m["slave/executors_terminating"] = execs[execTerminating]
	m["slave/frameworks_active"] = float64(len(s.frameworks))
	for _, k := range agentEventKeys {
		m["slave/"+k] = float64(s.events[k])
	}
	total := scalarTotals(a.resources)
	used := scalarTotals(s.usedResources())
	for _, name := range []string{"cpus", "mem", "disk", "gpus"} {
		m["slave/"+name+"_total"] = total[name]
		m["slave/"+name+"_used"] = used[name]
		pct := 0.0
		if total[name] > 0 {
			pct = used[name] / total[name]
		}
		m["slave/"+name+"_percent"] = pct
	}
	m["gc/path_removals_succeeded"] = float64(s.gcs.succeeded)
	m["gc/path_removals_failed"] = float64(s.gcs.failed)
	m["gc/path_removals_pending"] = float64(s.gc.pending() + s.gcs.removing)
	fs := a.fetcher.Stats()
	m["containerizer/fetcher/cache_size_total_bytes"] = float64(fs.CacheSizeTotalBytes)
	m["containerizer/fetcher/cache_size_used_bytes"] = float64(fs.CacheSizeUsedBytes)
	m["containerizer/fetcher/task_fetches_succeeded"] = float64(fs.TaskFetchesSucceeded)
	m["containerizer/fetcher/task_fetches_failed"] = float64(fs.TaskFetchesFailed)
	metrics.System(m)
	return m
}

func scalarTotals(res []*mesos.Resource) map[string]float64 {
	t := map[string]float64{}
	for _, r := range res {
		if r.GetType() == mesos.Value_SCALAR {
			t[r.GetName()] += r.GetScalar().GetValue()
		}
	}
	return t
}

// resourceMap renders resources as Mesos's v0 map: cpus, gpus, mem and
// disk always, other scalars summed, ranges "[a-b, c-d]", sets "{a, b}".
func resourceMap(res []*mesos.Resource) map[string]any {
	m := map[string]any{"cpus": 0.0, "gpus": 0.0, "mem": 0.0, "disk": 0.0}
	ranges := map[string][]*mesos.Value_Range{}
	sets := map[string][]string{}
	for _, r := range res {
		name := r.GetName()
		if r.Revocable != nil {
			name += "_revocable"
		}
		switch r.GetType() {
		case mesos.Value_SCALAR:
			v, _ := m[name].(float64)
			m[name] = roundMilli(v + r.GetScalar().GetValue())
		case mesos.Value_RANGES:
			ranges[name] = append(ranges[name], r.GetRanges().GetRange()...)
		case mesos.Value_SET:
			sets[name] = append(sets[name], r.GetSet().GetItem()...)
		}
	}
	for name, rs := range ranges {
		sort.Slice(rs, func(i, j int) bool { return rs[i].GetBegin() < rs[j].GetBegin() })
		parts := make([]string, 0, len(rs))
		for _, x := range rs {
			parts = append(parts, fmt.Sprintf("%d-%d", x.GetBegin(), x.GetEnd()))
		}
		m[name] = "[" + strings.Join(parts, ", ") + "]"
	}
	for name, items := range sets {
		sort.Strings(items)
		m[name] = "{" + strings.Join(items, ", ") + "}"
	}
	return m
}

func roundMilli(v float64) float64 {
	return float64(int64(v*1000+0.5)) / 1000
}

func attributeValue(at *mesos.Attribute) any {
	switch at.GetType() {
	case mesos.Value_SCALAR:
		return at.GetScalar().GetValue()
	case mesos.Value_RANGES:
		return resourceMap([]*mesos.Resource{{Name: at.Name, Type: at.Type, Ranges: at.Ranges}})[at.GetName()]
	case mesos.Value_SET:
		return "{" + strings.Join(at.GetSet().GetItem(), ", ") + "}"
	default:
		return at.GetText().GetValue()
	}
}

func roleOf(res []*mesos.Resource, fi *mesos.FrameworkInfo) string {
	for _, r := range res {
		if ai := r.GetAllocationInfo(); ai != nil && ai.Role != nil {
			return ai.GetRole()
		}
	}
	if len(fi.GetRoles()) > 0 {
		return fi.GetRoles()[0]
	}
	return legacyRole(fi)
}

// legacyRole is the deprecated FrameworkInfo.role ("*" by default), which
// v0 JSON still reports for frameworks that are not MULTI_ROLE.
func legacyRole(fi *mesos.FrameworkInfo) string {
	//lint:ignore SA1019 the v0 /state format still shows the single role
	return fi.GetRole()
}

// jsonProto renders a message in Mesos JSON as a generic value.
func jsonProto(m proto.Message) any {
	b, err := codec.JSON.Marshal(m)
	if err != nil {
		return nil
	}
	var v any
	if json.Unmarshal(b, &v) != nil {
		return nil
	}
	return v
}

func jsonProtos(res []*mesos.Resource) []any {
	out := []any{}
	for _, r := range res {
		out = append(out, jsonProto(r))
	}
	return out
}

// labelsJSON renders Labels as the v0 array of {key, value}.
func labelsJSON(l *mesos.Labels) any {
	out := []any{}
	for _, x := range l.GetLabels() {
		out = append(out, jsonProto(x))
	}
	return out
}
