package master

import (
	"encoding/json"
	"fmt"
	"github.com/agora-dev/agora/internal/auth"
	"github.com/agora-dev/agora/internal/authz"
	"mime"
	"net/http"
	"slices"
	"strings"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	schedpb "github.com/agora-dev/agora/api/mesos/v1/scheduler"
	"google.golang.org/protobuf/proto"
)

// Agora's operator extensions, under /agora/v1 (docs/compatibility.md):
// things an operator needs that Mesos's operator API does not offer.
//
//	POST /agora/v1/tasks/kill   kill a task on behalf of its framework
//	GET  /agora/v1/tasks        when each live task was launched

func (m *Master) agoraRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /agora/v1/tasks/kill", m.handleKillTask)
	mux.HandleFunc("GET /agora/v1/tasks", m.handleTaskTimes)
}

// killRequest is the body of POST /agora/v1/tasks/kill, as JSON or as a
// form. framework_id may be left out when the task id is unique.
type killRequest struct {
	FrameworkID string `json:"framework_id"`
	TaskID      string `json:"task_id"`
}

// handleKillTask kills a live task exactly as its framework's KILL would:
// 202 once the kill is on its way (the outcome, normally TASK_KILLED, is
// reported to the framework as usual), 404 for an unknown task, 409 when a
// task id without framework id names tasks of several frameworks.
func (m *Master) handleKillTask(w http.ResponseWriter, r *http.Request) {
	var req killRequest
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	// JSON only: an HTML form of another site can POST a form-encoded
	// body with the browser's credentials, never a JSON one without a
	// CORS preflight, which the master does not grant.
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		textError(w, http.StatusUnsupportedMediaType, "Expecting 'Content-Type' of application/json")
		return
	}
	if crossOrigin(r) {
		textError(w, http.StatusForbidden, "Cross-origin request refused: Origin "+r.Header.Get("Origin")+" is not this master")
		return
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		textError(w, http.StatusBadRequest, "Failed to parse the body as JSON: "+err.Error())
		return
	}
	if req.TaskID == "" {
		textError(w, http.StatusBadRequest, "Expecting 'task_id' to be present")
		return
	}
	status, msg := http.StatusAccepted, ""
	err := m.do(func() {
		var candidates []*framework
		if req.FrameworkID != "" {
			if f := m.frameworks[req.FrameworkID]; f != nil && f.tasks[req.TaskID] != nil {
				candidates = append(candidates, f)
			}
		} else {
			for _, f := range m.frameworks {
				if f.tasks[req.TaskID] != nil {
					candidates = append(candidates, f)
				}
			}
		}
		switch len(candidates) {
		case 0:
			status, msg = http.StatusNotFound, fmt.Sprintf("No live task %q", req.TaskID)
			if req.FrameworkID != "" {
				msg += fmt.Sprintf(" of framework %q", req.FrameworkID)
			}
		case 1:
			f := candidates[0]
			if !m.allowed(authz.TeardownFrameworks, auth.RequestSubject(r), principalObject(f.info)) {
				status, msg = http.StatusForbidden, fmt.Sprintf("Not authorized to kill task %s of framework %s (teardown_frameworks)", req.TaskID, f.id)
				return
			}
			m.log.Info("operator kills a task", "framework", f.id, "task", req.TaskID)
			m.kill(f, &schedpb.Call_Kill{TaskId: &mesos.TaskID{Value: proto.String(req.TaskID)}})
		default:
			ids := make([]string, 0, len(candidates))
			for _, f := range candidates {
				ids = append(ids, f.id)
			}
			slices.Sort(ids)
			status, msg = http.StatusConflict, fmt.Sprintf("Task %q exists in several frameworks (%s): give 'framework_id'",
				req.TaskID, strings.Join(ids, ", "))
		}
	})
	if err != nil {
		textError(w, http.StatusServiceUnavailable, "Master is stopping")
		return
	}
	if status != http.StatusAccepted {
		textError(w, status, msg)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// taskTime is one entry of GET /agora/v1/tasks.
type taskTime struct {
	FrameworkID string  `json:"framework_id"`
	TaskID      string  `json:"task_id"`
	State       string  `json:"state"`
	Launched    float64 `json:"launched_time,omitempty"` // seconds since the epoch; absent when unknown
	KillSent    bool    `json:"kill_requested"`
}

// handleTaskTimes answers what Mesos's task models do not carry: when the
// master launched each live task (so a CLI can say how long a task has
// been STAGING) and whether a kill was requested.
func (m *Master) handleTaskTimes(w http.ResponseWriter, r *http.Request) {
	out := struct {
		Tasks []taskTime `json:"tasks"`
	}{Tasks: []taskTime{}}
	if err := m.do(func() {
		for _, f := range m.sortedFrameworks() {
			for _, t := range sortedTasks(f.tasks) {
				out.Tasks = append(out.Tasks, taskTime{
					FrameworkID: f.id, TaskID: t.id(), State: t.state.String(),
					Launched: secs(t.launched), KillSent: t.killRequested,
				})
			}
		}
	}); err != nil {
		textError(w, http.StatusServiceUnavailable, "Master is stopping")
		return
	}
	writeJSON(w, r, out)
}
