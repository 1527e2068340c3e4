package master

import (
	"encoding/json"
	"github.com/agora-dev/agora/internal/httpapi"
	"net"
	"net/http"
	"strconv"
	"time"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/internal/resources"
	"github.com/agora-dev/agora/internal/version"
)

// Build information reported by /version and /master/state.
var (
	buildTime = time.Now()
	buildDate = buildTime.UTC().Format("2006-01-02 15:04:05")
)

func (m *Master) v0Routes(mux *http.ServeMux) {
	get := func(paths []string, h func(v *viewer) any) {
		for _, p := range paths {
			mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
				if p == "/metrics/snapshot" && m.endpointDenied(w, r, p) {
					return
				}
				v := m.viewerOf(r)
				var body any
				if err := m.do(func() { body = h(v) }); err != nil {
					textError(w, http.StatusServiceUnavailable, "Master is stopping")
					return
				}
				writeJSON(w, r, body)
			})
		}
	}
	for _, p := range []string{"/master/state", "/state", "/master/state.json", "/state.json"} {
		mux.HandleFunc(p, m.serveState)
	}
	get([]string{"/master/frameworks", "/frameworks"}, func(v *viewer) any {
		b := []byte(`{"unregistered_frameworks":[],`)
		b = appendKey(b, "completed_frameworks", true)
		b = m.appendFrameworks(b, m.completedFrameworks, v)
		b = appendKey(b, "frameworks", false)
		b = m.appendFrameworks(b, m.sortedFrameworks(), v)
		return encodedJSON(append(b, '}'))
	})
	get([]string{"/master/slaves", "/slaves"}, func(v *viewer) any {
		rec, err := json.Marshal(m.recoveredAgentsJSON())
		if err != nil {
			rec = []byte("[]")
		}
		b := append([]byte(`{"recovered_slaves":`), rec...)
		b = appendKey(b, "slaves", false)
		b = m.appendAgents(b)
		return encodedJSON(append(b, '}'))
	})
	get([]string{"/metrics/snapshot"}, func(*viewer) any { return m.metricsSnapshot() })
	mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, r, versionJSON())
	})
	for _, p := range []string{"/health", "/master/health"} {
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	}
	for _, p := range []string{"/master/redirect", "/redirect"} {
		mux.HandleFunc(p, m.handleRedirect)
	}
}

func versionJSON() jsonObject {
	return jsonObject{
		"version":       version.Mesos,
		"agora_version": version.Agora,
		"build_date":    buildDate,
		"build_time":    secs(buildTime),
		"build_user":    "",
	}
}

// writeJSON answers with a JSON body; JSONP is refused
// (httpapi.RefuseJSONP).
// encodedJSON is a document encoded already (stateDoc), written as is.
type encodedJSON []byte

func writeJSON(w http.ResponseWriter, r *http.Request, v any) {
	if httpapi.RefuseJSONP(w, r) {
		return
	}
	body, ok := v.(encodedJSON)
	if !ok {
		var err error
		if body, err = json.Marshal(v); err != nil {
			textError(w, http.StatusInternalServerError, "Failed to encode JSON: "+err.Error())
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

func splitEndpoint(ep string) (string, int) {
	host, p, err := net.SplitHostPort(ep)
	if err != nil {
		return ep, 0
	}
	port, _ := strconv.Atoi(p)
	return host, port
}

// metricsSnapshot is /metrics/snapshot with Mesos's master/* keys.
func (m *Master) metricsSnapshot() map[string]float64 {
	out := map[string]float64{
		"master/elected":                 0,
		"master/uptime_secs":             time.Since(m.startTime).Seconds(),
		"master/recovery_slave_removals": float64(m.metrics.recoveryRemovals),
	}
	if m.leading {
		out["master/elected"] = 1
	}
	var active, connected, inactive float64
	for _, a := range m.agents {
		if a.stream != nil {
			active++
			connected++
		} else {
			inactive++
		}
	}
	out["master/slaves_active"] = active
	out["master/slaves_connected"] = connected
	out["master/slaves_disconnected"] = inactive
	out["master/slaves_inactive"] = inactive
	out["master/slaves_unreachable"] = float64(len(m.removedAgents))
	out["master/slave_removals"] = float64(m.metrics.agentsRemoved)

	var fActive, fConnected, fDisconnected, fInactive float64
	live := make(map[mesos.TaskState]float64)
	for _, f := range m.frameworks {
		if f.connected() {
			fConnected++
		} else {
			fDisconnected++
		}
		if f.active {
			fActive++
		} else {
			fInactive++
		}
		for _, t := range f.tasks {
			live[t.state]++
		}
	}
	out["master/frameworks_active"] = fActive
	out["master/frameworks_connected"] = fConnected
	out["master/frameworks_disconnected"] = fDisconnected
	out["master/frameworks_inactive"] = fInactive
	for _, s := range []mesos.TaskState{mesos.TaskState_TASK_STAGING, mesos.TaskState_TASK_STARTING,
		mesos.TaskState_TASK_RUNNING, mesos.TaskState_TASK_KILLING, mesos.TaskState_TASK_UNREACHABLE} {
		out["master/"+stateMetric(s)] = live[s]
	}
	for _, s := range []mesos.TaskState{mesos.TaskState_TASK_FINISHED, mesos.TaskState_TASK_FAILED,
		mesos.TaskState_TASK_KILLED, mesos.TaskState_TASK_LOST, mesos.TaskState_TASK_ERROR,
		mesos.TaskState_TASK_DROPPED, mesos.TaskState_TASK_GONE, mesos.TaskState_TASK_GONE_BY_OPERATOR} {
		out["master/"+stateMetric(s)] = float64(m.metrics.tasksByState[s])
	}
	var total, used, offered resourcesSum
	for _, a := range m.agents {
		total.add(a.total)
		for _, o := range a.offers {
			offered.add(o.resources)
		}
		for _, tasks := range a.tasks {
			for _, t := range tasks {
				if !t.resourcesFreed {
					used.add(t.resources)
				}
			}
		}
		for _, execs := range a.executors {
			for _, e := range execs {
				used.add(e.resources)
			}
		}
	}
	for i, name := range snapshotScalars {
		t, u := float64(total[i])/1000, float64(used[i])/1000
		out["master/"+name+"_total"] = t
		out["master/"+name+"_used"] = u
		out["master/"+name+"_percent"] = 0
		if t > 0 {
			out["master/"+name+"_percent"] = u / t
		}
		out["master/"+name+"_offered"] = float64(offered[i]) / 1000
	}
	out["master/outstanding_offers"] = float64(len(m.offers))
	out["master/messages_framework_to_executor"] = float64(m.metrics.frameworkMessages)
	out["master/valid_status_updates"] = float64(m.metrics.validStatusUpdates)
	out["master/status_update_resends_acknowledged"] = float64(m.metrics.duplicateUpdatesAnswered)
	out["master/status_update_resends_held"] = float64(m.metrics.duplicateUpdatesHeld)
	out["master/offers_sent"] = float64(m.metrics.offersSent)
	out["master/offers_declined"] = float64(m.metrics.offersDeclined)
	out["master/offers_rescinded"] = float64(m.metrics.offersRescinded)
	out["master/invalid_calls"] = float64(m.metrics.invalidCalls)
	out["master/calls_scheduler"] = float64(m.metrics.schedulerCalls)
	m.moreMetrics(out)
	return out
}

// stateMetric turns TASK_RUNNING into tasks_running.
func stateMetric(s mesos.TaskState) string {
	name := s.String()
	out := []byte("tasks_")
	for _, c := range name[len("TASK_"):] {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		out = append(out, byte(c))
	}
	return string(out)
}

// snapshotScalars are the scalars /metrics/snapshot reports, in its order.
var snapshotScalars = [...]string{"cpus", "mem", "disk", "gpus"}

// resourcesSum sums snapshotScalars, in thousandths (as Resources keep
// them), without a map per task: the snapshot walks every task, and the
// console asks for it first.
type resourcesSum [len(snapshotScalars)]int64

func (s *resourcesSum) add(r resources.Resources) {
	for e := range r.All() {
		if e.Kind != resources.KindScalar {
			continue
		}
		for i, name := range snapshotScalars {
			if e.Name == name {
				s[i] = resources.AddMilli(s[i], e.Milli)
				break
			}
		}
	}
}
