package framework

import (
	"fmt"
	"io"
	"sync"

	"google.golang.org/protobuf/proto"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/sdk/scheduler"
)

// Pending is a task waiting for an offer: its TaskInfo without agent and
// resources, what it needs, and the executor (a template from
// BinaryServer.Executor) that runs it.
type Pending struct {
	Task     *mesos.TaskInfo
	Want     scheduler.Resources
	Executor *mesos.ExecutorInfo
}

// Queue packs pending tasks into offers. Each agent gets one instance of
// each executor, launched with the first task that needs it there (and
// its ExecutorResources taken from that offer); later tasks reuse the
// identical ExecutorInfo, as Mesos requires. When a batch holds several
// offers, the pending tasks are spread evenly over them. Its methods are
// meant to be called from the scheduler's callbacks.
type Queue struct {
	Log io.Writer // where launch failures are reported; nil: nowhere

	mu        sync.Mutex
	pending   []Pending
	executors map[string]map[string]*mesos.ExecutorInfo // agent id → executor id → info in use
	idle      bool                                      // offers were declined for long: revive on Add
}

// Add queues tasks, and revives offers if they were declined for having
// nothing to run.
func (q *Queue) Add(d *scheduler.Driver, tasks ...Pending) {
	q.mu.Lock()
	q.pending = append(q.pending, tasks...)
	revive := q.idle && len(tasks) > 0
	q.idle = false
	q.mu.Unlock()
	if revive && d != nil {
		if err := d.ReviveOffers(); err != nil {
			q.logf("reviving offers: %v", err)
		}
	}
}

// Len is the number of tasks not yet launched.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
}

// Launch is one task launched by Offers.
type Launch struct {
	Task  *mesos.TaskInfo
	Offer *mesos.Offer
}

// Offers launches as many pending tasks as fit and declines what is left
// of the offers: for a second when tasks are still waiting, for an hour
// (until the next Add revives them) when none is.
func (q *Queue) Offers(d *scheduler.Driver, offers []*mesos.Offer) []Launch {
	var launched []Launch
	var decline []*mesos.OfferID
	for i, offer := range offers {
		batch, added := q.pack(offer, len(offers)-i)
		if len(batch) == 0 {
			decline = append(decline, offer.GetId())
			continue
		}
		tasks := make([]*mesos.TaskInfo, len(batch))
		for j, p := range batch {
			tasks[j] = p.Task
		}
		if err := d.LaunchTasks([]*mesos.OfferID{offer.GetId()}, tasks, q.refusal()); err != nil {
			q.logf("launching %d tasks on agent %s: %v", len(tasks), offer.GetAgentId().GetValue(), err)
			q.undo(offer.GetAgentId().GetValue(), batch, added)
			continue
		}
		for _, t := range tasks {
			launched = append(launched, Launch{Task: t, Offer: offer})
		}
	}
	if len(decline) > 0 {
		if err := d.DeclineOffers(decline, q.refusal()); err != nil {
			q.logf("declining offers: %v", err)
		}
	}
	return launched
}

// refusal is the filter for unused resources; with nothing to launch it
// marks the queue idle.
func (q *Queue) refusal() *mesos.Filters {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending) > 0 {
		return scheduler.RefuseSeconds(1)
	}
	q.idle = true
	return scheduler.RefuseSeconds(3600)
}

// pack takes pending tasks for one offer, at most a 1/share of them. It
// returns the tasks, completed for the offer, and the executors it
// started on the offer's agent.
func (q *Queue) pack(offer *mesos.Offer, share int) (batch []Pending, added []string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	agent := offer.GetAgentId().GetValue()
	if q.executors == nil {
		q.executors = make(map[string]map[string]*mesos.ExecutorInfo)
	}
	if q.executors[agent] == nil {
		q.executors[agent] = make(map[string]*mesos.ExecutorInfo)
	}
	quota := (len(q.pending) + share - 1) / share
	p := scheduler.NewPacker(offer)
	var rest []Pending
	for i, pt := range q.pending {
		if len(batch) >= quota {
			rest = append(rest, q.pending[i:]...)
			break
		}
		eid := pt.Executor.GetExecutorId().GetValue()
		info := q.executors[agent][eid]
		var fresh bool
		if info == nil {
			// A packer of its own, so that a task that does not fit
			// leaves the executor's share in the offer.
			trial := scheduler.NewPacker(&mesos.Offer{AgentId: offer.AgentId, AllocationInfo: offer.AllocationInfo, Resources: p.Remaining()})
			_, ok1 := trial.Reserve(ExecutorResources)
			_, ok2 := trial.Reserve(pt.Want)
			if !ok1 || !ok2 {
				rest = append(rest, pt)
				continue
			}
			execRes, _ := p.Reserve(ExecutorResources)
			info = proto.Clone(pt.Executor).(*mesos.ExecutorInfo)
			info.Resources = execRes
			fresh = true
		}
		res, ok := p.Reserve(pt.Want)
		if !ok {
			rest = append(rest, pt)
			continue
		}
		if fresh {
			q.executors[agent][eid] = info
			added = append(added, eid)
		}
		t := proto.Clone(pt.Task).(*mesos.TaskInfo)
		t.AgentId = offer.GetAgentId()
		t.Resources = res
		t.Executor = info
		batch = append(batch, Pending{Task: t, Want: pt.Want, Executor: pt.Executor})
	}
	q.pending = rest
	return batch, added
}

// undo puts back tasks whose launch failed.
func (q *Queue) undo(agent string, batch []Pending, added []string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, eid := range added {
		delete(q.executors[agent], eid)
	}
	for _, p := range batch {
		t := proto.Clone(p.Task).(*mesos.TaskInfo)
		t.AgentId, t.Resources, t.Executor = nil, nil, nil
		q.pending = append(q.pending, Pending{Task: t, Want: p.Want, Executor: p.Executor})
	}
}

// ExecutorGone forgets an executor that exited, so that the next task for
// it on that agent starts a new one.
func (q *Queue) ExecutorGone(agentID *mesos.AgentID, executorID *mesos.ExecutorID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.executors[agentID.GetValue()], executorID.GetValue())
}

func (q *Queue) logf(format string, args ...any) {
	if q.Log != nil {
		fmt.Fprintf(q.Log, format+"\n", args...)
	}
}
