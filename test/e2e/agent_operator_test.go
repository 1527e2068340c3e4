package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// agentOperatorQuery posts a v1 operator call (JSON) to an agent's /api/v1
// and decodes the 200 answer into v.
func agentOperatorQuery(t *testing.T, agent, typ string, v any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"type": typ})
	req, _ := http.NewRequest("POST", "http://"+agent+"/api/v1", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("agent operator %s: %v", typ, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("agent operator %s: %s Content-Type %q: %s", typ, resp.Status, resp.Header.Get("Content-Type"), b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("agent operator %s: %v in %s", typ, err, b)
	}
}

// TestAgentOperatorAPI launches a task through a real master and reads it
// back from the real agent's /api/v1: GET_STATE while it runs, its
// container in GET_CONTAINERS, and the completed task after a kill.
func TestAgentOperatorAPI(t *testing.T) {
	master, agents := cluster(t, 1)
	s := subscribe(t, master, map[string]any{"user": "nobody", "name": "e2e-agent-operator"})
	var agentID string
	offers := s.offersByAgent(1)
	for id := range offers {
		agentID = id
	}
	marker := fmt.Sprintf("agora-e2e-agent-operator-%d", time.Now().UnixNano())
	s.mustCall(accept(offers[agentID], commandTask("aop-1", agentID, "sleep 600 # "+marker)))
	s.updates(30*time.Second, func(seen map[string][]string) bool { return last(seen["aop-1"]) == "TASK_RUNNING" })

	type task struct {
		TaskID      struct{ Value string } `json:"task_id"`
		FrameworkID struct{ Value string } `json:"framework_id"`
		AgentID     struct{ Value string } `json:"agent_id"`
		State       string
		Statuses    []struct{ State string }
	}
	var st struct {
		Type     string
		GetState struct {
			GetTasks struct {
				LaunchedTasks  []task `json:"launched_tasks"`
				CompletedTasks []task `json:"completed_tasks"`
			} `json:"get_tasks"`
			GetExecutors struct {
				Executors []struct {
					ExecutorInfo struct {
						ExecutorID struct{ Value string } `json:"executor_id"`
					} `json:"executor_info"`
				}
			} `json:"get_executors"`
			GetFrameworks struct {
				Frameworks []struct {
					FrameworkInfo struct {
						ID   struct{ Value string }
						Name string
					} `json:"framework_info"`
				}
			} `json:"get_frameworks"`
		} `json:"get_state"`
	}
	agentOperatorQuery(t, agents[0], "GET_STATE", &st)
	gs := st.GetState
	if st.Type != "GET_STATE" || len(gs.GetTasks.LaunchedTasks) != 1 {
		t.Fatalf("GET_STATE = %+v", st)
	}
	lt := gs.GetTasks.LaunchedTasks[0]
	if lt.TaskID.Value != "aop-1" || lt.FrameworkID.Value != s.id || lt.AgentID.Value != agentID ||
		lt.State != "TASK_RUNNING" || len(lt.Statuses) == 0 || lt.Statuses[len(lt.Statuses)-1].State != "TASK_RUNNING" {
		t.Errorf("launched task = %+v", lt)
	}
	if e := gs.GetExecutors.Executors; len(e) != 1 || e[0].ExecutorInfo.ExecutorID.Value != "aop-1" {
		t.Errorf("executors = %+v", e)
	}
	if f := gs.GetFrameworks.Frameworks; len(f) != 1 || f[0].FrameworkInfo.ID.Value != s.id ||
		f[0].FrameworkInfo.Name != "e2e-agent-operator" {
		t.Errorf("frameworks = %+v", f)
	}

	var cs struct {
		GetContainers struct {
			Containers []struct {
				ContainerID     struct{ Value string } `json:"container_id"`
				ExecutorID      struct{ Value string } `json:"executor_id"`
				ContainerStatus struct {
					ExecutorPID int `json:"executor_pid"`
				} `json:"container_status"`
			}
		} `json:"get_containers"`
	}
	agentOperatorQuery(t, agents[0], "GET_CONTAINERS", &cs)
	if c := cs.GetContainers.Containers; len(c) != 1 || c[0].ExecutorID.Value != "aop-1" || c[0].ContainerID.Value == "" ||
		c[0].ContainerStatus.ExecutorPID <= 0 || syscall.Kill(c[0].ContainerStatus.ExecutorPID, 0) != nil {
		t.Errorf("GET_CONTAINERS = %+v", c)
	}

	s.mustCall(map[string]any{"type": "KILL", "kill": map[string]any{"task_id": map[string]any{"value": "aop-1"}}})
	s.updates(30*time.Second, func(seen map[string][]string) bool {
		return len(seen["aop-1"]) > 0 && last(seen["aop-1"]) != "TASK_RUNNING"
	})
	waitFor(t, 20*time.Second, "the killed task among completed_tasks", func() bool {
		agentOperatorQuery(t, agents[0], "GET_STATE", &st)
		c := st.GetState.GetTasks.CompletedTasks
		return len(c) == 1 && c[0].TaskID.Value == "aop-1" && c[0].State == "TASK_KILLED"
	})
	waitNoProcess(t, marker)
}
