package cli

import (
	"context"
	"flag"
	"io"
	"slices"
	"strings"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
)

const frameworksUsage = `usage: agora frameworks [--all] [--master=HOST:PORT] [--json]

Lists the frameworks subscribed to the master: id, name, whether they are
active (receive offers) and connected (have an open scheduler stream), their
roles, how many tasks they have running, and the CPUs and memory (MB) their
tasks and executors hold.

Flags:
  --all               include frameworks that were torn down
` + opFlagsHelp

// frameworkRow is one framework in `agora frameworks`.
type frameworkRow struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Active    bool     `json:"active"`
	Connected bool     `json:"connected"`
	Completed bool     `json:"completed,omitempty"`
	Roles     []string `json:"roles"`
	Running   int      `json:"tasks_running"`
	Tasks     int      `json:"tasks_live"`
	CPUs      float64  `json:"cpus_used"`
	Mem       float64  `json:"mem_used_mb"`
}

// Frameworks implements `agora frameworks`.
func Frameworks(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var all bool
	return runOp(ctx, "frameworks", frameworksUsage, args, stdout, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&all, "all", false, "")
	}, func(ctx context.Context, c *opClient, args []string) error {
		if len(args) > 0 {
			return usageError("unexpected argument %q", args[0])
		}
		st, err := c.state(ctx)
		if err != nil {
			return err
		}
		v := newView(st)
		running, live := map[string]int{}, map[string]int{}
		for _, t := range v.live {
			fid := t.GetFrameworkId().GetValue()
			live[fid]++
			if t.GetState() == mesos.TaskState_TASK_RUNNING {
				running[fid]++
			}
		}
		rows := []frameworkRow{}
		fws := st.GetGetFrameworks()
		list := fws.GetFrameworks()
		if all {
			list = append(slices.Clone(list), fws.GetCompletedFrameworks()...)
		}
		for i, f := range list {
			info := f.GetFrameworkInfo()
			id := info.GetId().GetValue()
			roles := info.GetRoles()
			if len(roles) == 0 {
				roles = []string{info.GetRole()} //lint:ignore SA1019 non-MULTI_ROLE frameworks name their role here
			}
			used := scalars(f.GetAllocatedResources())
			rows = append(rows, frameworkRow{
				ID: id, Name: info.GetName(), Active: f.GetActive(), Connected: f.GetConnected(),
				Completed: i >= len(fws.GetFrameworks()), Roles: roles,
				Running: running[id], Tasks: live[id], CPUs: round3(used["cpus"]), Mem: used["mem"],
			})
		}
		if c.json {
			return writeJSONOut(c.stdout, rows)
		}
		t := newTable(c.stdout, "ID", "NAME", "ACTIVE", "CONNECTED", "ROLES", "RUNNING", "CPUS", "MEM")
		for _, r := range rows {
			active := yesNo(r.Active)
			if r.Completed {
				active = "removed"
			}
			t.row(r.ID, r.Name, active, yesNo(r.Connected), strings.Join(r.Roles, ","),
				fmtNum(float64(r.Running)), fmtNum(r.CPUs), fmtNum(r.Mem))
		}
		return t.flush()
	})
}
