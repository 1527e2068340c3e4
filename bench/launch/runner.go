package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	schedpb "github.com/agora-dev/agora/api/mesos/v1/scheduler"
	"google.golang.org/protobuf/proto"
)

// taskRec is what the benchmark saw of one task.
type taskRec struct {
	id       string
	want     time.Time // the framework decided to run it and began waiting for an offer
	accept   time.Time // just before the ACCEPT POST
	accepted time.Time // the ACCEPT's 202 arrived
	seen     map[mesos.TaskState]time.Time
	// generated is each update's status.timestamp (set where the update
	// was created: executor, agent or master).
	generated map[mesos.TaskState]time.Time
	last      mesos.TaskState
	lastAt    time.Time
	lastMsg   string
	updates   int
}

func (t *taskRec) terminal() bool { return len(t.seen) > 0 && isTerminal(t.last) }

func (t *taskRec) since(s mesos.TaskState) (time.Duration, bool) {
	at, ok := t.seen[s]
	if !ok {
		return 0, false
	}
	return at.Sub(t.accept), true
}

func isTerminal(s mesos.TaskState) bool {
	switch s {
	case mesos.TaskState_TASK_FINISHED, mesos.TaskState_TASK_FAILED, mesos.TaskState_TASK_KILLED,
		mesos.TaskState_TASK_LOST, mesos.TaskState_TASK_ERROR, mesos.TaskState_TASK_DROPPED,
		mesos.TaskState_TASK_GONE, mesos.TaskState_TASK_GONE_BY_OPERATOR, mesos.TaskState_TASK_UNKNOWN:
		return true
	}
	return false
}

// taskShape is what each task asks for and runs.
type taskShape struct {
	cpus, mem float64
	shell     bool // run "true" through /bin/sh -c; else exec /bin/true
}

func (s taskShape) command() *mesos.CommandInfo {
	if s.shell {
		return &mesos.CommandInfo{Shell: proto.Bool(true), Value: proto.String("true")}
	}
	return &mesos.CommandInfo{Shell: proto.Bool(false), Value: proto.String("/bin/true"),
		Arguments: []string{"/bin/true"}}
}

// runner drives the benchmark framework: it holds offers, launches tasks
// and follows their updates.
type runner struct {
	c          *client
	offers     map[string]*mesos.Offer // held, by id
	tasks      map[string]*taskRec
	heartbeats int
	failures   []string
	lastRevive time.Time
	waitingFor string    // what the runner is blocked on, for timeout errors
	firstOffer time.Time // when the first OFFERS event was read
}

func newRunner(c *client) *runner {
	return &runner{c: c, offers: make(map[string]*mesos.Offer), tasks: make(map[string]*taskRec)}
}

// step handles one event, or returns after a short while without one so
// that callers can re-check their conditions (and REVIVE).
func (r *runner) step(ctx context.Context) error {
	t := time.NewTimer(250 * time.Millisecond)
	defer t.Stop()
	select {
	case s := <-r.c.events:
		return r.handle(s)
	case err := <-r.c.errc:
		return err
	case <-t.C:
		return nil
	case <-ctx.Done():
		return r.stuck(ctx.Err())
	}
}

func (r *runner) handle(s stamped) error {
	ev := s.ev
	switch ev.GetType() {
	case schedpb.Event_OFFERS:
		if r.firstOffer.IsZero() {
			r.firstOffer = s.at
		}
		for _, o := range ev.GetOffers().GetOffers() {
			r.offers[o.GetId().GetValue()] = o
		}
	case schedpb.Event_RESCIND:
		delete(r.offers, ev.GetRescind().GetOfferId().GetValue())
	case schedpb.Event_UPDATE:
		st := ev.GetUpdate().GetStatus()
		t := r.tasks[st.GetTaskId().GetValue()]
		if t == nil {
			return nil // not ours (e.g. a reconciliation answer)
		}
		state := st.GetState()
		if _, dup := t.seen[state]; !dup {
			t.seen[state] = s.at
			if ts := st.GetTimestamp(); ts > 0 {
				sec, frac := math.Modf(ts)
				t.generated[state] = time.Unix(int64(sec), int64(frac*1e9))
			}
		}
		t.updates++
		t.last, t.lastAt, t.lastMsg = state, s.at, st.GetMessage()
		if isTerminal(state) && state != mesos.TaskState_TASK_FINISHED {
			return fmt.Errorf("task %s ended %s (source %s, reason %s): %q", t.id, state,
				st.GetSource(), st.GetReason(), st.GetMessage())
		}
	case schedpb.Event_ERROR:
		return fmt.Errorf("the master sent an ERROR event: %s", ev.GetError().GetMessage())
	case schedpb.Event_HEARTBEAT:
		r.heartbeats++
	case schedpb.Event_FAILURE:
		f := ev.GetFailure()
		r.failures = append(r.failures, fmt.Sprintf("FAILURE agent %s executor %s status %d",
			f.GetAgentId().GetValue(), f.GetExecutorId().GetValue(), f.GetStatus()))
	}
	return nil
}

// stuck turns a timeout into an error that says where each unfinished
// task was.
func (r *runner) stuck(cause error) error {
	var open []*taskRec
	for _, t := range r.tasks {
		if !t.terminal() {
			open = append(open, t)
		}
	}
	sort.Slice(open, func(i, j int) bool { return open[i].accept.Before(open[j].accept) })
	var b strings.Builder
	fmt.Fprintf(&b, "timed out (%v)", cause)
	if r.waitingFor != "" {
		fmt.Fprintf(&b, " while %s", r.waitingFor)
	}
	fmt.Fprintf(&b, "; %d tasks not finished, %d offers held", len(open), len(r.offers))
	now := time.Now()
	for i, t := range open {
		if i == 10 {
			fmt.Fprintf(&b, "\n  … and %d more", len(open)-i)
			break
		}
		if len(t.seen) == 0 {
			fmt.Fprintf(&b, "\n  task %s: no update since its ACCEPT %s ago", t.id, now.Sub(t.accept).Round(time.Millisecond))
		} else {
			fmt.Fprintf(&b, "\n  task %s: stuck in %s (for %s; ACCEPT %s ago)", t.id, t.last,
				now.Sub(t.lastAt).Round(time.Millisecond), now.Sub(t.accept).Round(time.Millisecond))
		}
	}
	return errors.New(b.String())
}

// maybeRevive sends REVIVE when the runner has waited for offers for a
// while (e.g. after a filter it did not expect).
func (r *runner) maybeRevive(ctx context.Context, since time.Time) error {
	if time.Since(since) < 2*time.Second || time.Since(r.lastRevive) < 2*time.Second {
		return nil
	}
	r.lastRevive = time.Now()
	return r.c.call(ctx, &schedpb.Call{Type: schedpb.Call_REVIVE.Enum(), Revive: &schedpb.Call_Revive{}})
}

// fits is how many tasks of shape fit in a set of offers.
func fits(offers []*mesos.Offer, shape taskShape) int {
	var cpus, mem float64
	for _, o := range offers {
		for _, res := range o.GetResources() {
			switch res.GetName() {
			case "cpus":
				cpus += res.GetScalar().GetValue()
			case "mem":
				mem += res.GetScalar().GetValue()
			}
		}
	}
	// Mesos scalars are fixed point with three decimals: compare in
	// thousandths so that 0.1 * 80 fits in 8.
	milli := func(v float64) int64 { return int64(math.Round(v * 1000)) }
	n := milli(cpus) / max(milli(shape.cpus), 1)
	return int(min(n, milli(mem)/max(milli(shape.mem), 1)))
}

// takeOffers removes and returns every held offer of the first agent
// (by id) whose offers together have room for at least one task, so that
// one ACCEPT merges them and held offers do not pile up; nil if none has.
func (r *runner) takeOffers(shape taskShape) ([]*mesos.Offer, int) {
	byAgent := make(map[string][]*mesos.Offer)
	for _, o := range r.offers {
		a := o.GetAgentId().GetValue()
		byAgent[a] = append(byAgent[a], o)
	}
	agents := make([]string, 0, len(byAgent))
	for a := range byAgent {
		agents = append(agents, a)
	}
	slices.Sort(agents)
	for _, a := range agents {
		if n := fits(byAgent[a], shape); n > 0 {
			for _, o := range byAgent[a] {
				delete(r.offers, o.GetId().GetValue())
			}
			return byAgent[a], n
		}
	}
	return nil, 0
}

// launch accepts offers (all of one agent) with one task per id.
func (r *runner) launch(ctx context.Context, offers []*mesos.Offer, ids []string, shape taskShape) error {
	o := offers[0]
	offerIDs := make([]*mesos.OfferID, len(offers))
	for i, o := range offers {
		offerIDs[i] = o.GetId()
	}
	infos := make([]*mesos.TaskInfo, len(ids))
	recs := make([]*taskRec, len(ids))
	for i, id := range ids {
		infos[i] = &mesos.TaskInfo{
			Name:      proto.String(id),
			TaskId:    &mesos.TaskID{Value: proto.String(id)},
			AgentId:   o.GetAgentId(),
			Resources: []*mesos.Resource{scalar("cpus", shape.cpus), scalar("mem", shape.mem)},
			Command:   shape.command(),
		}
		recs[i] = &taskRec{id: id, seen: make(map[mesos.TaskState]time.Time),
			generated: make(map[mesos.TaskState]time.Time)}
		r.tasks[id] = recs[i]
	}
	call := &schedpb.Call{
		Type: schedpb.Call_ACCEPT.Enum(),
		Accept: &schedpb.Call_Accept{
			OfferIds: offerIDs,
			Operations: []*mesos.Offer_Operation{{
				Type:   mesos.Offer_Operation_LAUNCH.Enum(),
				Launch: &mesos.Offer_Operation_Launch{TaskInfos: infos},
			}},
			Filters: noFilter(),
		},
	}
	start := time.Now()
	for _, t := range recs {
		t.accept = start
	}
	if err := r.c.call(ctx, call); err != nil {
		if ctx.Err() != nil {
			return r.stuck(ctx.Err())
		}
		return fmt.Errorf("launching %s…: %w", ids[0], err)
	}
	done := time.Now()
	for _, t := range recs {
		t.accepted = done
	}
	return nil
}

// declineAll gives every held offer back.
func (r *runner) declineAll(ctx context.Context) error {
	if len(r.offers) == 0 {
		return nil
	}
	var ids []*mesos.OfferID
	for _, o := range r.offers {
		ids = append(ids, o.GetId())
	}
	clear(r.offers)
	return r.c.call(ctx, &schedpb.Call{Type: schedpb.Call_DECLINE.Enum(),
		Decline: &schedpb.Call_Decline{OfferIds: ids, Filters: noFilter()}})
}

// sequential launches n tasks one at a time, each after the previous one
// finished, and returns their records in order.
func (r *runner) sequential(ctx context.Context, n int, shape taskShape) ([]*taskRec, error) {
	out := make([]*taskRec, 0, n)
	for i := range n {
		id := fmt.Sprintf("seq-%04d", i)
		waitStart := time.Now()
		r.waitingFor = fmt.Sprintf("waiting for an offer with room for %s (%g cpus, %g MB)", id, shape.cpus, shape.mem)
		var o []*mesos.Offer
		for {
			if o, _ = r.takeOffers(shape); o != nil {
				break
			}
			if err := r.maybeRevive(ctx, waitStart); err != nil {
				return out, err
			}
			if err := r.step(ctx); err != nil {
				return out, err
			}
		}
		r.waitingFor = "following task " + id
		if err := r.launch(ctx, o, []string{id}, shape); err != nil {
			return out, err
		}
		t := r.tasks[id]
		t.want = waitStart
		for !t.terminal() {
			if err := r.step(ctx); err != nil {
				return out, err
			}
		}
		out = append(out, t)
	}
	r.waitingFor = ""
	return out, nil
}

// throughput launches m tasks, as many per offer as fit (at most
// concurrency unfinished at a time when concurrency > 0), until all have
// finished. It returns the records and the wall time from the first
// ACCEPT to the last TASK_FINISHED.
func (r *runner) throughput(ctx context.Context, m, concurrency int, shape taskShape) ([]*taskRec, time.Duration, int, error) {
	var recs []*taskRec
	var first, last time.Time
	launched, finished, accepts := 0, 0, 0
	waitStart := time.Now()
	for finished < m {
		r.waitingFor = fmt.Sprintf("throughput: %d of %d tasks launched, %d finished", launched, m, finished)
		for launched < m {
			room := m - launched
			if concurrency > 0 {
				room = min(room, concurrency-(launched-finished))
			}
			if room <= 0 {
				break
			}
			o, n := r.takeOffers(shape)
			if o == nil {
				if err := r.maybeRevive(ctx, waitStart); err != nil {
					return recs, 0, accepts, err
				}
				break
			}
			n = min(n, room)
			ids := make([]string, n)
			for i := range ids {
				ids[i] = fmt.Sprintf("tput-%04d", launched+i)
			}
			if err := r.launch(ctx, o, ids, shape); err != nil {
				return recs, 0, accepts, err
			}
			accepts++
			for _, id := range ids {
				recs = append(recs, r.tasks[id])
			}
			if first.IsZero() {
				first = r.tasks[ids[0]].accept
			}
			launched += n
			waitStart = time.Now()
		}
		if err := r.step(ctx); err != nil {
			return recs, 0, accepts, err
		}
		finished = 0
		for _, t := range recs {
			if t.terminal() {
				finished++
				if at := t.seen[mesos.TaskState_TASK_FINISHED]; at.After(last) {
					last = at
				}
			}
		}
	}
	r.waitingFor = ""
	return recs, last.Sub(first), accepts, nil
}
