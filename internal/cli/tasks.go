package cli

import (
	"cmp"
	"context"
	"flag"
	"io"
	"slices"
	"time"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
)

const tasksUsage = `usage: agora tasks [--all] [--master=HOST:PORT] [--json]

Lists the live tasks (staging, starting, running, killing, unreachable): id,
name, framework, state, the agent's hostname, and age (since launch). With
--all, the completed tasks the master still remembers are listed too.
'agora task ID' tells more about one task.

Flags:
  --all               include completed tasks
` + opFlagsHelp

// taskRow is one task in `agora tasks`.
type taskRow struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	FrameworkID   string    `json:"framework_id"`
	FrameworkName string    `json:"framework_name"`
	State         string    `json:"state"`
	AgentID       string    `json:"agent_id"`
	AgentHostname string    `json:"agent_hostname"`
	Started       time.Time `json:"started,omitzero"`
	AgeSeconds    float64   `json:"age_seconds,omitempty"`
}

// taskStart is when a task was launched, or else its first status.
func taskStart(t *mesos.Task, launched map[string]time.Time) time.Time {
	if l, ok := launched[t.GetFrameworkId().GetValue()+"/"+t.GetTaskId().GetValue()]; ok {
		return l
	}
	if s := t.GetStatuses(); len(s) > 0 && s[0].GetTimestamp() > 0 {
		return fromSecs(s[0].GetTimestamp())
	}
	return time.Time{}
}

// Tasks implements `agora tasks`.
func Tasks(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var all bool
	return runOp(ctx, "tasks", tasksUsage, args, stdout, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&all, "all", false, "")
	}, func(ctx context.Context, c *opClient, args []string) error {
		if len(args) > 0 {
			return usageError("unexpected argument %q", args[0])
		}
		st, err := c.state(ctx)
		if err != nil {
			return err
		}
		launched := c.launchTimes(ctx)
		now := time.Now()
		v := newView(st)
		list := v.live
		if all {
			list = append(slices.Clone(list), v.completed...)
		}
		rows := []taskRow{}
		for _, t := range list {
			r := taskRow{
				ID: t.GetTaskId().GetValue(), Name: t.GetName(),
				FrameworkID: t.GetFrameworkId().GetValue(), FrameworkName: v.frameworkName(t.GetFrameworkId().GetValue()),
				State: t.GetState().String(), AgentID: t.GetAgentId().GetValue(), AgentHostname: v.agentHostname(t.GetAgentId().GetValue()),
				Started: taskStart(t, launched),
			}
			if !r.Started.IsZero() {
				r.AgeSeconds = round3(now.Sub(r.Started).Seconds())
			}
			rows = append(rows, r)
		}
		slices.SortStableFunc(rows, func(a, b taskRow) int {
			return cmp.Or(a.Started.Compare(b.Started), cmp.Compare(a.ID, b.ID))
		})
		if c.json {
			return writeJSONOut(c.stdout, rows)
		}
		t := newTable(c.stdout, "ID", "NAME", "FRAMEWORK", "STATE", "AGENT", "AGE")
		for _, r := range rows {
			a := "-"
			if !r.Started.IsZero() {
				a = age(now.Sub(r.Started))
			}
			fw := r.FrameworkName
			if fw == "" {
				fw = r.FrameworkID
			}
			t.row(r.ID, r.Name, fw, r.State, r.AgentHostname, a)
		}
		return t.flush()
	})
}
