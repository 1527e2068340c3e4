package sim

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/api/recordio"
	"github.com/agora-dev/agora/internal/agent"
	"google.golang.org/protobuf/proto"
)

const (
	masterPath   = "/agora/v1/agent"
	maxRedirects = 8
	// groupBackoffMax bounds the backoff between rounds over a group of
	// masters (the real agent's too).
	groupBackoffMax = time.Second
	// protocolVersion is the agora.agent.v1 version the real agent speaks.
	protocolVersion = agent.ProtocolVersion
)

// simAgent is one simulated agent. Its stream goroutine (run) and the
// timers share its state under mu.
type simAgent struct {
	s        *Sim
	idx      int
	hostname string

	mu sync.Mutex
	// +checklocks:mu
	id string
	// +checklocks:mu
	master string // where calls go, while subscribed
	// +checklocks:mu
	streamID string // "" while not subscribed
	// +checklocks:mu
	cancel context.CancelFunc // breaks the current attempt
	// +checklocks:mu
	frameworks map[string]*simFramework
	// +checklocks:mu
	tasks map[taskKey]*simTask
	// +checklocks:mu
	outUpdates []outUpdate // UPDATE calls waiting for the sender
	// +checklocks:mu
	sendingUpdates bool // a sender goroutine drains outUpdates
}

// outUpdate is one status update on its way to the master.
type outUpdate struct {
	master, streamID string
	update           *agentpb.Call_Update
	done             func()
}

type taskKey struct{ framework, task string }

type simFramework struct {
	info      *mesos.FrameworkInfo
	executors map[string]*simExecutor
}

type simExecutor struct {
	fw          *simFramework
	info        *mesos.ExecutorInfo
	command     bool
	containerID string
	tasks       map[string]*simTask
}

type simTask struct {
	key      taskKey
	ex       *simExecutor // nil for an update about a task the agent does not know
	info     *mesos.TaskInfo
	state    mesos.TaskState
	statuses []*mesos.TaskStatus
	finish   *time.Timer
	// The status update stream: only the head is sent, resent every
	// interval (doubling) until the master acknowledges its uuid.
	pending  []*mesos.TaskStatus
	retry    *time.Timer
	interval time.Duration
	// sending is the update whose POST is in flight: it is not resent
	// until that POST is over, so a backlog of calls never multiplies.
	sending *mesos.TaskStatus
}

func newAgent(s *Sim, i int) *simAgent {
	return &simAgent{
		s:          s,
		idx:        i,
		hostname:   fmt.Sprintf("%s-%05d", s.cfg.Hostname, i),
		frameworks: make(map[string]*simFramework),
		tasks:      make(map[taskKey]*simTask),
	}
}

// attempt is how one subscription attempt ended.
type attempt struct {
	subscribed bool
	redirect   string
}

// run subscribes and re-subscribes until ctx ends, like the real agent: a
// 307 is followed to the leader it names, a 503 or a connection error
// moves on to the next master, and after a whole round without a
// subscription it waits a jittered, doubling backoff.
func (a *simAgent) run(ctx context.Context) {
	cfg := a.s.cfg
	masters := cfg.Masters
	backoff := cfg.BackoffMin
	var idx, tried, redirects int
	next := ""
	failed := "" // the master of the last failed attempt
	for ctx.Err() == nil {
		target := next
		next = ""
		if hint, _ := a.s.hint.get(); target == "" && hint != "" && hint != failed {
			target = hint // the detector's leader first
		}
		if target == "" {
			target = masters[idx%len(masters)]
		}
		res, err := a.subscribeOnce(ctx, target)
		failed = target
		if ctx.Err() != nil {
			return
		}
		if res.subscribed {
			backoff = cfg.BackoffMin
			tried = 0
		}
		if res.redirect != "" && redirects < maxRedirects {
			next = res.redirect
			redirects++
			continue
		}
		redirects = 0
		idx++
		tried++
		if tried < len(masters) {
			a.s.log.Debug("master unavailable; trying the next one", "agent", a.hostname, "master", target, "err", err)
			continue
		}
		tried = 0
		wait := backoff/2 + time.Duration(rand.Int64N(int64(backoff/2)+1))
		if res.subscribed {
			// A stream that broke after working: all agents see it at
			// once (a master restart), so spread them over the whole
			// backoff rather than its upper half.
			wait = time.Duration(rand.Int64N(int64(backoff) + 1))
		}
		a.s.log.Debug("disconnected; reconnecting", "agent", a.hostname, "master", target, "err", err, "in", wait)
		_, changed := a.s.hint.get()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-changed:
			// A new leader confirmed itself: go there now.
			t.Stop()
		}
		// In a group of masters a round without a leader is an election
		// in progress: retry about once a second, as the real agent does.
		limit := cfg.BackoffMax
		if len(masters) > 1 {
			limit = min(limit, groupBackoffMax)
		}
		backoff = min(2*backoff, limit)
	}
}

// subscribeOnce opens one subscription to target and serves it until it
// breaks.
func (a *simAgent) subscribeOnce(ctx context.Context, target string) (res attempt, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.mu.Lock()
	body, err := proto.Marshal(a.subscribeCall())
	a.cancel = cancel
	a.mu.Unlock()
	if err != nil {
		return res, err
	}
	defer func() {
		a.mu.Lock()
		a.streamID, a.master, a.cancel = "", "", nil
		a.mu.Unlock()
		if res.subscribed {
			a.s.subscribed.Add(-1)
			if ctx.Err() == nil {
				a.s.disconnects.Add(1)
			}
		}
	}()

	var expired atomic.Bool
	timeout := a.s.cfg.SubscribeTimeout
	wd := time.AfterFunc(timeout, func() { expired.Store(true); cancel() })
	defer wd.Stop()

	req, err := http.NewRequestWithContext(sctx, http.MethodPost, "http://"+target+masterPath, bytes.NewReader(body))
	if err != nil {
		return res, err
	}
	req.Header.Set("Content-Type", codec.MediaProtobuf)
	req.Header.Set("Accept", codec.MediaProtobuf)
	resp, err := a.s.stream.Do(req)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusTemporaryRedirect:
		leader, err := agent.RedirectHost(resp.Header.Get("Location"))
		if err != nil {
			return res, fmt.Errorf("SUBSCRIBE to %s answered 307: %w", target, err)
		}
		res.redirect = leader
		return res, fmt.Errorf("%s is not the leader; it names %s", target, leader)
	default:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return res, fmt.Errorf("SUBSCRIBE to %s answered %s: %s", target, resp.Status, bytes.TrimSpace(msg))
	}
	streamID := resp.Header.Get(agent.StreamIDHeader)
	wd.Reset(timeout)

	r := recordio.NewReader(resp.Body)
	for {
		rec, err := r.ReadRecord()
		if err != nil {
			if expired.Load() {
				err = errors.New("no event from the master within the ping timeout")
			}
			return res, fmt.Errorf("read master stream: %w", err)
		}
		wd.Reset(timeout)
		ev := &agentpb.Event{}
		if err := proto.Unmarshal(rec, ev); err != nil {
			return res, fmt.Errorf("decode master event: %w", err)
		}
		switch ev.GetType() {
		case agentpb.Event_SUBSCRIBED:
			sub := ev.GetSubscribed()
			if p := sub.GetPingIntervalSeconds(); p > 0 {
				timeout = 3 * time.Duration(p*float64(time.Second))
				wd.Reset(timeout)
			}
			if !res.subscribed {
				res.subscribed = true
				a.s.subscribed.Add(1)
				a.s.subscriptions.Add(1)
			}
			a.mu.Lock()
			if a.id != "" && a.id != sub.GetAgentId().GetValue() {
				a.s.log.Warn("master assigned a new agent id", "old", a.id, "new", sub.GetAgentId().GetValue())
			}
			a.id = sub.GetAgentId().GetValue()
			a.streamID, a.master = streamID, target
			// Resend every unacknowledged update at once.
			for _, t := range a.tasks {
				if len(t.pending) > 0 {
					t.interval = a.s.cfg.StatusUpdateRetry
					a.forward(t)
				}
			}
			a.mu.Unlock()
		case agentpb.Event_ERROR:
			return res, fmt.Errorf("master refused: %s", ev.GetError().GetMessage())
		case agentpb.Event_PING:
			if res.subscribed {
				a.mu.Lock()
				a.send(&agentpb.Call{Type: agentpb.Call_PONG.Enum(),
					Pong: &agentpb.Call_Pong{Sequence: proto.Uint64(ev.GetPing().GetSequence())}})
				a.mu.Unlock()
			}
		default:
			if !res.subscribed {
				continue
			}
			a.mu.Lock()
			a.handle(ev)
			a.mu.Unlock()
		}
	}
}

// subscribeCall is the SUBSCRIBE call: the agent's id once it has one and
// its executors with their non-terminal tasks, as the real agent reports
// them.
//
// +checklocks:a.mu
func (a *simAgent) subscribeCall() *agentpb.Call {
	info := &mesos.AgentInfo{
		Hostname:   proto.String(a.hostname),
		Port:       proto.Int32(5051),
		Resources:  a.s.resources,
		Attributes: a.s.attrs,
	}
	if a.id != "" {
		info.Id = &mesos.AgentID{Value: proto.String(a.id)}
	}
	sub := &agentpb.Call_Subscribe{
		ProtocolVersion: proto.Uint32(protocolVersion),
		AgentInfo:       info,
		Endpoint:        proto.String(fmt.Sprintf("%s:5051", a.hostname)),
		Version:         proto.String(agent.Version + "-sim"),
	}
	for _, f := range a.frameworks {
		for _, e := range f.executors {
			es := &agentpb.ExecutorState{
				FrameworkInfo:   f.info,
				ExecutorInfo:    e.info,
				CommandExecutor: proto.Bool(e.command),
				ContainerId:     &mesos.ContainerID{Value: proto.String(e.containerID)},
			}
			for _, t := range e.tasks {
				if !mesos.IsTerminal(t.state) {
					es.Tasks = append(es.Tasks, a.taskProto(t))
				}
			}
			sub.Executors = append(sub.Executors, es)
		}
	}
	call := &agentpb.Call{Type: agentpb.Call_SUBSCRIBE.Enum(), Subscribe: sub}
	if a.id != "" {
		call.AgentId = info.Id
	}
	return call
}

// +checklocks:a.mu
func (a *simAgent) taskProto(t *simTask) *mesos.Task {
	mt := &mesos.Task{
		Name:        t.info.Name,
		TaskId:      t.info.TaskId,
		FrameworkId: &mesos.FrameworkID{Value: proto.String(t.key.framework)},
		AgentId:     &mesos.AgentID{Value: proto.String(a.id)},
		State:       t.state.Enum(),
		Resources:   t.info.Resources,
		Statuses:    t.statuses,
		Labels:      t.info.Labels,
		Discovery:   t.info.Discovery,
		Container:   t.info.Container,
		HealthCheck: t.info.HealthCheck,
		KillPolicy:  t.info.KillPolicy,
	}
	if !t.ex.command {
		mt.ExecutorId = t.ex.info.ExecutorId
	}
	return mt
}

// send posts a call on the current subscription; without one it drops it
// (updates are resent after SUBSCRIBED).
//
// +checklocks:a.mu
func (a *simAgent) send(call *agentpb.Call) {
	a.sendThen(call, nil)
}

// sendThen is send, calling done (without a.mu) once the POST is over.
//
// +checklocks:a.mu
func (a *simAgent) sendThen(call *agentpb.Call, done func()) {
	if a.streamID == "" {
		return
	}
	call.AgentId = &mesos.AgentID{Value: proto.String(a.id)}
	master, streamID := a.master, a.streamID
	if call.GetType() == agentpb.Call_UPDATE && call.Update != nil {
		// One sender per agent: what queues while a POST is on the wire
		// goes in the next one (protocol version 2), as the real agent does.
		a.outUpdates = append(a.outUpdates, outUpdate{master, streamID, call.Update, done})
		if !a.sendingUpdates {
			a.sendingUpdates = true
			go a.sendUpdates()
		}
		return
	}
	go func() {
		a.post(master, streamID, call)
		if done != nil {
			done()
		}
	}()
}

// sendUpdates posts the queued updates, those of one stream in one call
// at a time, until none is left.
func (a *simAgent) sendUpdates() {
	for {
		a.mu.Lock()
		q := a.outUpdates
		if len(q) == 0 {
			a.sendingUpdates = false
			a.mu.Unlock()
			return
		}
		n := 1
		for n < len(q) && n < agentpb.MaxUpdatesPerCall && q[n].streamID == q[0].streamID && q[n].master == q[0].master {
			n++
		}
		batch := q[:n:n]
		a.outUpdates = q[n:]
		call := &agentpb.Call{Type: agentpb.Call_UPDATE.Enum(), AgentId: &mesos.AgentID{Value: proto.String(a.id)}}
		a.mu.Unlock()
		for _, u := range batch {
			call.Updates = append(call.Updates, u.update)
		}
		a.post(batch[0].master, batch[0].streamID, call)
		for _, u := range batch {
			if u.done != nil {
				u.done()
			}
		}
	}
}

// post sends one call; an answer saying the master does not lead (or does
// not know this stream) breaks the subscription, as in the real agent.
func (a *simAgent) post(master, streamID string, call *agentpb.Call) {
	body, err := proto.Marshal(call)
	if err != nil {
		return
	}
	req, err := http.NewRequestWithContext(a.s.ctx, http.MethodPost, "http://"+master+masterPath, bytes.NewReader(body))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", codec.MediaProtobuf)
	req.Header.Set(agent.StreamIDHeader, streamID)
	client := a.s.calls
	if call.GetType() == agentpb.Call_PONG {
		client = a.s.pongs
	}
	resp, err := client.Do(req)
	if err != nil {
		a.s.log.Debug("call to master failed", "agent", a.hostname, "type", call.GetType().String(), "err", err)
		return
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusTemporaryRedirect || resp.StatusCode == http.StatusServiceUnavailable ||
		(resp.StatusCode >= 400 && resp.StatusCode < 500):
		a.s.log.Info("master refused a call; resubscribing", "agent", a.hostname, "type", call.GetType().String(),
			"status", resp.StatusCode, "message", string(bytes.TrimSpace(msg)))
		a.mu.Lock()
		if a.streamID == streamID && a.cancel != nil {
			a.cancel()
		}
		a.mu.Unlock()
	}
}

func newUUID() []byte {
	var u [16]byte
	_, _ = crand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u[:]
}
