package cli

import (
	"context"
	"io"
	"slices"
)

const agentsUsage = `usage: agora agents [--master=HOST:PORT] [--json]

Lists the agents registered with the master: id, hostname, address, whether
they are active (connected), the CPUs, memory (MB) and disk (MB) in use out
of their total, and how many live tasks they run.

Flags:
` + opFlagsHelp

// agentRow is one agent in `agora agents` (and its --json).
type agentRow struct {
	ID       string  `json:"id"`
	Hostname string  `json:"hostname"`
	Address  string  `json:"address"`
	Active   bool    `json:"active"`
	CPUsUsed float64 `json:"cpus_used"`
	CPUs     float64 `json:"cpus_total"`
	MemUsed  float64 `json:"mem_used_mb"`
	Mem      float64 `json:"mem_total_mb"`
	DiskUsed float64 `json:"disk_used_mb"`
	Disk     float64 `json:"disk_total_mb"`
	Tasks    int     `json:"tasks"`
}

// Agents implements `agora agents`.
func Agents(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runOp(ctx, "agents", agentsUsage, args, stdout, stderr, nil, func(ctx context.Context, c *opClient, args []string) error {
		if len(args) > 0 {
			return usageError("unexpected argument %q", args[0])
		}
		st, err := c.state(ctx)
		if err != nil {
			return err
		}
		v := newView(st)
		tasks := make(map[string]int)
		for _, t := range v.live {
			tasks[t.GetAgentId().GetValue()]++
		}
		rows := []agentRow{}
		for _, a := range st.GetGetAgents().GetAgents() {
			total, used := scalars(a.GetTotalResources()), scalars(a.GetAllocatedResources())
			id := a.GetAgentInfo().GetId().GetValue()
			rows = append(rows, agentRow{
				ID: id, Hostname: a.GetAgentInfo().GetHostname(), Address: agentAddress(a), Active: a.GetActive(),
				CPUsUsed: round3(used["cpus"]), CPUs: total["cpus"], MemUsed: used["mem"], Mem: total["mem"],
				DiskUsed: used["disk"], Disk: total["disk"], Tasks: tasks[id],
			})
		}
		slices.SortFunc(rows, func(a, b agentRow) int { return compareStrings(a.ID, b.ID) })
		if c.json {
			return writeJSONOut(c.stdout, rows)
		}
		t := newTable(c.stdout, "ID", "HOSTNAME", "ADDRESS", "ACTIVE", "CPUS", "MEM", "DISK", "TASKS")
		for _, r := range rows {
			t.row(r.ID, r.Hostname, r.Address, yesNo(r.Active), usedOf(r.CPUsUsed, r.CPUs),
				usedOf(r.MemUsed, r.Mem), usedOf(r.DiskUsed, r.Disk), fmtNum(float64(r.Tasks)))
		}
		return t.flush()
	})
}
