package cli

import (
	"fmt"
	"sort"
	"strings"
	"time"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/sdk/scheduler"
)

// The explanations the CLI gives: why a task is not running (`agora task`)
// and why no offer comes for one that is not launched yet (`agora run`).

// why explains a task that is not running, from what the master knows.
func why(t *mesos.Task, d *taskDetail, now time.Time) string {
	explain := func() string {
		s := d.Message
		var extra []string
		if d.Reason != "" {
			extra = append(extra, d.Reason)
		}
		if d.Source != "" {
			extra = append(extra, "from "+strings.TrimPrefix(d.Source, "SOURCE_"))
		}
		if len(extra) > 0 {
			if s != "" {
				s += " "
			}
			s += "(" + strings.Join(extra, ", ") + ")"
		}
		return s
	}
	switch t.GetState() {
	case mesos.TaskState_TASK_RUNNING:
		return ""
	case mesos.TaskState_TASK_STAGING:
		msg := "the agent has not reported the task starting yet"
		if !d.Launched.IsZero() {
			msg = fmt.Sprintf("staging for %s: %s (the executor may still be fetching URIs or starting, or the agent may be slow or unreachable)",
				age(now.Sub(d.Launched)), msg)
		}
		return msg
	case mesos.TaskState_TASK_STARTING:
		return "the executor is starting the task"
	case mesos.TaskState_TASK_KILLING:
		return "the task is being killed"
	}
	if s := explain(); s != "" {
		return s
	}
	return "no message or reason was reported"
}

// whyNoOffer explains, from the master's GET_STATE (indexed as `agora task`
// indexes it), why no offer with want for role reaches the framework self
// (its id; "" before it registered). It names the first of:
//   - no agents registered, or none connected;
//   - no agent has want free (total less allocated): the largest one's free
//     resources and what was asked;
//   - the agents that have it free have it in other frameworks'
//     outstanding offers: those frameworks;
//   - otherwise an agent has it free and unoffered: the allocator's turn.
//
// `agora run` prints it while it waits for an offer and when --timeout ends
// the wait.
func whyNoOffer(v *view, want scheduler.Resources, role, self string) string {
	agents := v.st.GetGetAgents().GetAgents()
	if len(agents) == 0 {
		return "no agents are registered with the master"
	}
	type agentFree struct {
		id, host          string
		free, unoffered   scheduler.Resources
		fits, fitsOffered bool
	}
	var connected []agentFree
	for _, a := range agents {
		if !a.GetActive() {
			continue
		}
		total := usableScalars(a.GetTotalResources(), role)
		alloc := usableScalars(a.GetAllocatedResources(), role)
		offered := usableScalars(a.GetOfferedResources(), role)
		x := agentFree{id: a.GetAgentInfo().GetId().GetValue(), host: a.GetAgentInfo().GetHostname(),
			free: minus(total, alloc)}
		x.unoffered = minus(x.free, offered)
		x.fits, x.fitsOffered = fits(x.unoffered, want), fits(x.free, want)
		connected = append(connected, x)
	}
	if len(connected) == 0 {
		return fmt.Sprintf("%s registered with the master, none connected", plural(len(agents), "agent"))
	}
	var holding []agentFree // agents where want fits only counting offered resources
	for _, x := range connected {
		if x.fits {
			return fmt.Sprintf("agent %s has %s free and not offered to any framework; waiting for the master to offer it", x.host, x.unoffered)
		}
		if x.fitsOffered {
			holding = append(holding, x)
		}
	}
	roleNote := ""
	if role != "*" && role != "" {
		roleNote = fmt.Sprintf(" for role %q", role)
	}
	if len(holding) == 0 {
		// The agent that comes closest: the largest of the smallest
		// fractions of each asked resource it has free.
		best, bestScore := connected[0], -1.0
		for _, x := range connected {
			s := closeness(x.free, want)
			if s > bestScore || s == bestScore && x.free.Cpus+x.free.Mem/1024 > best.free.Cpus+best.free.Mem/1024 {
				best, bestScore = x, s
			}
		}
		which := "the only agent"
		if len(connected) > 1 {
			which = fmt.Sprintf("the largest of %d agents", len(connected))
		}
		return fmt.Sprintf("%s, %s, has %s free%s; this task asks %s", which, best.host, best.free, roleNote, want)
	}
	hosts := map[string]string{}
	for _, x := range holding {
		hosts[x.id] = x.host
	}
	var holders []string
	for _, f := range v.st.GetGetFrameworks().GetFrameworks() {
		fid := f.GetFrameworkInfo().GetId().GetValue()
		if fid == self {
			continue
		}
		var on []string
		for _, o := range f.GetOffers() {
			if h, ok := hosts[o.GetAgentId().GetValue()]; ok {
				on = append(on, fmt.Sprintf("%s on %s", describeResources(o.GetResources()), h))
			}
		}
		if len(on) > 0 {
			name := f.GetFrameworkInfo().GetName()
			holders = append(holders, fmt.Sprintf("%s (%s) holds %s", name, fid, strings.Join(on, ", ")))
		}
	}
	sort.Strings(holders)
	if len(holders) == 0 {
		return fmt.Sprintf("agent %s has %s free%s, but it is offered to this framework already; waiting for the offer", holding[0].host, holding[0].free, roleNote)
	}
	return fmt.Sprintf("the resources that would fit (%s) are held in outstanding offers to other frameworks: %s",
		want, strings.Join(holders, "; "))
}

// usableScalars sums the scalar resources that role can be offered:
// unreserved ones and those reserved for role.
func usableScalars(res []*mesos.Resource, role string) scheduler.Resources {
	var out scheduler.Resources
	for _, r := range res {
		if r.GetType() != mesos.Value_SCALAR {
			continue
		}
		reservedFor := r.GetRole() //lint:ignore SA1019 the pre-refinement format a master may still send
		if rs := r.GetReservations(); len(rs) > 0 {
			reservedFor = rs[len(rs)-1].GetRole()
		}
		if reservedFor != "" && reservedFor != "*" && reservedFor != role {
			continue
		}
		v := r.GetScalar().GetValue()
		switch r.GetName() {
		case "cpus":
			out.Cpus += v
		case "mem":
			out.Mem += v
		case "disk":
			out.Disk += v
		case "gpus":
			out.Gpus += v
		}
	}
	return out
}

func minus(a, b scheduler.Resources) scheduler.Resources {
	clip := func(x float64) float64 { return max(0, round3(x)) }
	return scheduler.Resources{Cpus: clip(a.Cpus - b.Cpus), Mem: clip(a.Mem - b.Mem), Disk: clip(a.Disk - b.Disk), Gpus: clip(a.Gpus - b.Gpus)}
}

func fits(have, want scheduler.Resources) bool {
	const eps = 1e-9
	return have.Cpus+eps >= want.Cpus && have.Mem+eps >= want.Mem && have.Disk+eps >= want.Disk && have.Gpus+eps >= want.Gpus
}

// closeness is the smallest fraction of an asked resource that have holds
// (1 when everything fits).
func closeness(have, want scheduler.Resources) float64 {
	score := 1.0
	for _, p := range [][2]float64{{have.Cpus, want.Cpus}, {have.Mem, want.Mem}, {have.Disk, want.Disk}, {have.Gpus, want.Gpus}} {
		if p[1] > 0 {
			score = min(score, p[0]/p[1])
		}
	}
	return score
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
