package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
)

const taskUsage = `usage: agora task [--master=HOST:PORT] [--json] TASK_ID

Shows one task: its states with their times, agent, framework, executor,
sandbox directory and resources, and, for a task that is not running, why:
its last status message and reason, or how long it has been staging.
TASK_ID may be any unique prefix of the id.

Flags:
` + opFlagsHelp

// taskState is one state change of a task.
type taskState struct {
	State   string    `json:"state"`
	Time    time.Time `json:"time"`
	Healthy *bool     `json:"healthy,omitempty"`
}

// taskDetail is `agora task` (and its --json).
type taskDetail struct {
	ID            string      `json:"id"`
	Name          string      `json:"name"`
	State         string      `json:"state"`
	FrameworkID   string      `json:"framework_id"`
	FrameworkName string      `json:"framework_name"`
	AgentID       string      `json:"agent_id"`
	AgentHostname string      `json:"agent_hostname"`
	AgentAddress  string      `json:"agent_address"`
	ExecutorID    string      `json:"executor_id"`
	Sandbox       string      `json:"sandbox,omitempty"`
	Resources     string      `json:"resources"`
	Launched      time.Time   `json:"launched,omitzero"`
	States        []taskState `json:"states"`
	// Message, Reason and Source are the last status's.
	Message string `json:"message,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Source  string `json:"source,omitempty"`
	Why     string `json:"why,omitempty"`
}

// lookupTask resolves a task id prefix to the task and its details, as far
// as the master (and the task's agent, for the sandbox) know them.
func lookupTask(ctx context.Context, c *opClient, prefix string) (*mesos.Task, *taskDetail, error) {
	st, err := c.state(ctx)
	if err != nil {
		return nil, nil, err
	}
	v := newView(st)
	t, err := v.findTask(prefix)
	if err != nil {
		return nil, nil, err
	}
	launched := c.launchTimes(ctx)
	fid, aid := t.GetFrameworkId().GetValue(), t.GetAgentId().GetValue()
	d := &taskDetail{
		ID: t.GetTaskId().GetValue(), Name: t.GetName(), State: t.GetState().String(),
		FrameworkID: fid, FrameworkName: v.frameworkName(fid),
		AgentID: aid, AgentHostname: v.agentHostname(aid),
		ExecutorID: t.GetExecutorId().GetValue(),
		Resources:  describeResources(t.GetResources()),
		Launched:   launched[fid+"/"+t.GetTaskId().GetValue()],
		States:     []taskState{},
	}
	if a := v.agents[aid]; a != nil {
		d.AgentAddress = agentAddress(a)
	}
	if d.ExecutorID == "" {
		d.ExecutorID = d.ID // a command task's executor has the task's id
	}
	for _, s := range t.GetStatuses() {
		ts := taskState{State: s.GetState().String(), Time: fromSecs(s.GetTimestamp())}
		if s.Healthy != nil {
			h := s.GetHealthy()
			ts.Healthy = &h
		}
		d.States = append(d.States, ts)
	}
	if n := len(t.GetStatuses()); n > 0 {
		last := t.GetStatuses()[n-1]
		d.Message = last.GetMessage()
		if last.Reason != nil {
			d.Reason = last.GetReason().String()
		}
		if last.Source != nil {
			d.Source = last.GetSource().String()
		}
	}
	d.Why = why(t, d, time.Now())
	if d.AgentAddress != "" {
		if dir, err := sandboxDir(ctx, c.http, c.scheme+"://"+d.AgentAddress, fid, d.ExecutorID); err == nil {
			d.Sandbox = dir
		}
	}
	return t, d, nil
}

// sandboxDir finds an executor's sandbox in its agent's /state.
func sandboxDir(ctx context.Context, client *http.Client, agentBase, frameworkID, executorID string) (string, error) {
	var st agentState
	if err := getJSON(ctx, client, agentBase+"/state", &st); err != nil {
		return "", fmt.Errorf("cannot read the agent's state at %s: %v", agentBase, err)
	}
	for _, fw := range append(st.Frameworks, st.CompletedFrameworks...) {
		if fw.ID != frameworkID {
			continue
		}
		for _, ex := range append(fw.Executors, fw.CompletedExecutors...) {
			if ex.ID == executorID && ex.Directory != "" {
				return ex.Directory, nil
			}
		}
	}
	return "", fmt.Errorf("the agent at %s has no sandbox for executor %q of framework %q (it may have been garbage-collected)", agentBase, executorID, frameworkID)
}

// Task implements `agora task`.
func Task(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runOp(ctx, "task", taskUsage, args, stdout, stderr, nil, func(ctx context.Context, c *opClient, args []string) error {
		if len(args) != 1 {
			return usageError("want one TASK_ID")
		}
		_, d, err := lookupTask(ctx, c, args[0])
		if err != nil {
			return err
		}
		if c.json {
			return writeJSONOut(c.stdout, d)
		}
		w := newTable(c.stdout, "ID", d.ID)
		w.row("Name", d.Name)
		w.row("State", d.State)
		if d.Why != "" {
			w.row("Why", d.Why)
		}
		w.row("Framework", d.FrameworkID+" ("+d.FrameworkName+")")
		w.row("Agent", fmt.Sprintf("%s (%s, %s)", d.AgentID, d.AgentHostname, d.AgentAddress))
		w.row("Executor", d.ExecutorID)
		sandbox := d.Sandbox
		if sandbox == "" {
			sandbox = "(unknown: the agent does not report it)"
		}
		w.row("Sandbox", sandbox)
		w.row("Resources", d.Resources)
		if !d.Launched.IsZero() {
			w.row("Launched", d.Launched.Local().Format("2006-01-02 15:04:05.000"))
		}
		for i, s := range d.States {
			label := ""
			if i == 0 {
				label = "States"
			}
			h := ""
			if s.Healthy != nil {
				h = " (healthy: " + yesNo(*s.Healthy) + ")"
			}
			w.row(label, s.Time.Local().Format("2006-01-02 15:04:05.000")+"  "+s.State+h)
		}
		return w.flush()
	})
}
