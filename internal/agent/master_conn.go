package agent

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/api/recordio"
	"github.com/agora-dev/agora/internal/version"
	"google.golang.org/protobuf/proto"
)

// ProtocolVersion is the agora.agent.v1 protocol version this agent speaks.
const ProtocolVersion = version.AgentProtocol

// StreamIDHeader carries the master's subscription id on agent calls.
const StreamIDHeader = "Agora-Stream-Id"

// masterPath is the master's endpoint for the agent protocol.
const masterPath = "/agora/v1/agent"

// leaderPath is every master's own answer to "who leads?", never
// redirected.
const leaderPath = "/agora/v1/leader"

// maxRedirects bounds how many 307s in a row one reconnection follows.
const maxRedirects = 8

// masterConn keeps the agent subscribed to the leading master: one
// long-lived SUBSCRIBE stream, reconnected whenever it breaks or goes
// silent for three ping intervals, and sender goroutines that POST the
// agent's other calls: senderLanes lanes, each in order, a call's lane
// chosen by what it is about (a task's updates, an executor's messages), so
// calls about one thing keep their order while a burst of updates for many
// tasks goes out in parallel.
//
// With several masters (Config.Master "A,B,C" or file://) SUBSCRIBE goes
// to one candidate at a time: a 307 is followed to the leader it names; a
// 503, a refused connection or a timeout moves on to the next master of
// the list, with the jittered backoff only after a whole round. A detector
// asks the other masters who leads and moves the agent to a new leader as
// soon as that leader confirms itself (see detect).
type masterConn struct {
	a *Agent
	// principal and authorization are the agent's --credential and the
	// Authorization header of every call; "" without one.
	principal, authorization string
	// fatal receives why the agent must stop: the master refused its
	// credentials.
	fatal  chan error
	client *http.Client // calls
	stream *http.Client // the subscription (no overall timeout)
	probe  *http.Client // leader checks (short timeout)

	mu sync.Mutex
	// +checklocks:mu
	masters []string // the last good list
	// +checklocks:mu
	target string // master of the current attempt or stream
	// +checklocks:mu
	cancelAttempt context.CancelFunc
	// +checklocks:mu
	switchTo string // set by the detector: the new leader to go to
	// +checklocks:mu
	waiting bool // between rounds, in the backoff
	// leaderFound ends the backoff: the detector confirmed a leader while
	// the agent waited (switchTo names it).
	leaderFound chan struct{}
	// +checklocks:mu
	maxTerm uint64 // highest term a confirmed leader reported
	// +checklocks:mu
	queues [senderLanes][]outCall
	// +checklocks:mu
	cancelStream context.CancelFunc
	// +checklocks:mu
	currentStream string
	// +checklocks:mu
	streamMaster string // where the calls of currentStream go
	// +checklocks:mu
	streamReady bool // SUBSCRIBED arrived on currentStream
	// +checklocks:mu
	held []*agentpb.Call // refused by a master that no longer leads; resent after SUBSCRIBED
	wake [senderLanes]chan struct{}
}

// senderLanes is how many calls may be in flight to the master at once.
const senderLanes = 4

type outCall struct {
	streamID string
	call     *agentpb.Call
}

func newMasterConn(a *Agent) *masterConn {
	probeTimeout := min(max(a.cfg.LeaderCheckInterval, 300*time.Millisecond), 2*time.Second)
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 15 * time.Second}
	c := &masterConn{
		a:           a,
		fatal:       make(chan error, 1),
		leaderFound: make(chan struct{}, 1),
		client: &http.Client{
			Timeout: 30 * time.Second,
			Transport: a.cfg.TLS.MustTransport(&http.Transport{MaxIdleConnsPerHost: senderLanes, IdleConnTimeout: 90 * time.Second,
				DialContext: dialer.DialContext}),
			CheckRedirect: noRedirect,
		},
		stream: &http.Client{
			Transport:     a.cfg.TLS.MustTransport(&http.Transport{DialContext: dialer.DialContext}),
			CheckRedirect: noRedirect,
		},
		probe: &http.Client{
			Timeout:       probeTimeout,
			Transport:     a.cfg.TLS.MustTransport(&http.Transport{IdleConnTimeout: 30 * time.Second}),
			CheckRedirect: noRedirect,
		},
	}
	c.masters, _ = ParseMasters(a.cfg.Master) // checked by Validate
	for i := range c.wake {
		c.wake[i] = make(chan struct{}, 1)
	}
	return c
}

// laneOf keeps the calls about one task, or one executor, in one lane.
func laneOf(call *agentpb.Call) int {
	h := fnv.New32a()
	switch call.GetType() {
	case agentpb.Call_UPDATE:
		h.Write([]byte(call.GetUpdate().GetFrameworkId().GetValue()))
		h.Write([]byte{0})
		h.Write([]byte(call.GetUpdate().GetStatus().GetTaskId().GetValue()))
	case agentpb.Call_EXECUTOR_EXITED:
		h.Write([]byte(call.GetExecutorExited().GetFrameworkId().GetValue()))
		h.Write([]byte{0})
		h.Write([]byte(call.GetExecutorExited().GetExecutorId().GetValue()))
	case agentpb.Call_MESSAGE:
		h.Write([]byte(call.GetMessage().GetFrameworkId().GetValue()))
		h.Write([]byte{0})
		h.Write([]byte(call.GetMessage().GetExecutorId().GetValue()))
	}
	return int(h.Sum32() % senderLanes)
}

// attempt is how one subscription attempt ended, besides its error.
type attempt struct {
	subscribed bool   // the master sent SUBSCRIBED
	redirect   string // a 307 named this leader
	switchTo   string // the detector found this leader
	refused    bool   // the master refused the agent's credentials (401)
}

// run subscribes and resubscribes until ctx ends.
func (c *masterConn) run(ctx context.Context) {
	var workers sync.WaitGroup
	for i := range senderLanes {
		workers.Add(1)
		go func() { defer workers.Done(); c.sender(ctx, i) }()
	}
	workers.Add(1)
	go func() { defer workers.Done(); c.detect(ctx) }()
	defer workers.Wait()

	backoff := c.a.cfg.BackoffMin
	var (
		idx, tried, redirects int
		next                  string // where the next attempt goes, if not the list's next
	)
	for ctx.Err() == nil {
		masters := c.reloadMasters()
		target := next
		next = ""
		if target == "" {
			target = masters[idx%len(masters)]
		}
		res, err := c.subscribeOnce(ctx, target)
		c.a.post(func() { c.a.st.disconnected() })
		if ctx.Err() != nil {
			return
		}
		if res.refused {
			// As Mesos's agent does when its master refuses authentication:
			// stop, rather than retry credentials that will not change.
			c.a.log.Error("the master refused the agent's credentials; stopping", "master", target, "err", err)
			c.fatal <- err
			return
		}
		if res.subscribed {
			backoff = c.a.cfg.BackoffMin
			tried = 0
		}
		if res.switchTo != "" {
			c.a.log.Info("following new leading master", "old", target, "new", res.switchTo)
			next, redirects = res.switchTo, 0
			continue
		}
		if res.redirect != "" && redirects < maxRedirects {
			c.a.log.Info("master is not the leader; following it to the leader", "master", target, "leader", res.redirect)
			next = res.redirect
			redirects++
			continue
		}
		redirects = 0
		idx++
		tried++
		if tried < len(masters) {
			c.a.log.Info("master unavailable; trying the next one", "master", target, "err", err, "next", masters[idx%len(masters)])
			continue
		}
		tried = 0
		// Full jitter over [backoff/2, backoff].
		wait := backoff/2 + time.Duration(rand.Int64N(int64(backoff/2)+1))
		c.a.log.Info("disconnected from master; reconnecting", "master", target, "err", err, "in", wait)
		if found := c.backoff(ctx, wait); found != "" {
			// A leader confirmed itself meanwhile (the election is over):
			// go there now rather than at the end of the backoff.
			c.a.log.Info("following new leading master", "new", found)
			next = found
			continue
		}
		if ctx.Err() != nil {
			return
		}
		// In a group of masters a round without a leader is an election in
		// progress (1–2 Raft timeouts): keep retrying about once a second
		// rather than backing off to BackoffMax.
		limit := c.a.cfg.BackoffMax
		if len(masters) > 1 {
			limit = min(limit, groupBackoffMax)
		}
		backoff = min(2*backoff, limit)
	}
}

// groupBackoffMax bounds the backoff between rounds over a group of
// masters.
const groupBackoffMax = time.Second

// backoff waits d between rounds, or less when the detector confirms a
// leader meanwhile: it returns that leader ("" after the whole wait, or
// when ctx ended). After a failover the agents that went round the list
// during the election (every master refusing or naming the dead leader)
// reach the new leader as soon as the detector finds it, not up to
// groupBackoffMax later.
func (c *masterConn) backoff(ctx context.Context, d time.Duration) string {
	c.mu.Lock()
	c.waiting, c.switchTo = true, ""
	c.mu.Unlock()
	select {
	case <-c.leaderFound: // a signal left from an earlier wait
	default:
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-c.leaderFound:
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	found := c.switchTo
	c.waiting, c.switchTo = false, ""
	return found
}

// reloadMasters returns the master list, reading a file:// list again.
func (c *masterConn) reloadMasters() []string {
	if strings.HasPrefix(strings.TrimSpace(c.a.cfg.Master), fileScheme) {
		list, err := ParseMasters(c.a.cfg.Master)
		if err != nil {
			c.a.log.Warn("cannot read the master list; keeping the last one", "err", err)
		} else {
			c.mu.Lock()
			c.masters = list
			c.mu.Unlock()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.masters
}

// subscribeOnce opens one subscription to target and reads it until it
// breaks.
func (c *masterConn) subscribeOnce(ctx context.Context, target string) (res attempt, err error) {
	var call *agentpb.Call
	if !c.a.do(ctx, func() { call = c.a.st.subscribeCall() }) {
		return res, ctx.Err()
	}
	body, err := proto.Marshal(call)
	if err != nil {
		return res, fmt.Errorf("encode SUBSCRIBE: %w", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.mu.Lock()
	c.target = target
	c.switchTo = ""
	c.cancelAttempt = cancel
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		res.switchTo = c.switchTo
		c.switchTo = ""
		c.cancelAttempt = nil
		c.cancelStream = nil
		c.currentStream = ""
		c.streamMaster = ""
		c.streamReady = false
		c.mu.Unlock()
	}()

	// Watchdog: no answer and no SUBSCRIBED within SubscribeTimeout, then
	// no event for three ping intervals, breaks the attempt.
	var (
		wdMu    sync.Mutex
		timeout = c.a.cfg.SubscribeTimeout
		expired atomic.Bool
	)
	wd := time.AfterFunc(timeout, func() { expired.Store(true); cancel() })
	defer wd.Stop()
	resetWD := func() {
		wdMu.Lock()
		defer wdMu.Unlock()
		wd.Reset(timeout)
	}

	req, err := http.NewRequestWithContext(sctx, http.MethodPost, c.a.cfg.TLS.Scheme()+"://"+target+masterPath, bytes.NewReader(body))
	if err != nil {
		return res, err
	}
	req.Header.Set("Content-Type", codec.MediaProtobuf)
	req.Header.Set("Accept", codec.MediaProtobuf)
	if c.authorization != "" {
		req.Header.Set("Authorization", c.authorization)
	}
	resp, err := c.stream.Do(req)
	if err != nil {
		if expired.Load() {
			err = fmt.Errorf("no answer from %s within %v", target, timeout)
		}
		return res, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusTemporaryRedirect:
		loc := resp.Header.Get("Location")
		leader, err := redirectHost(loc)
		if err != nil {
			return res, fmt.Errorf("SUBSCRIBE to %s answered 307: %w", target, err)
		}
		res.redirect = leader
		return res, fmt.Errorf("%s is not the leader; it names %s", target, leader)
	case http.StatusUnauthorized:
		res.refused = true
		who := "no credential (pass --credential)"
		if c.authorization != "" {
			who = fmt.Sprintf("principal '%s' (check --credential against the master's --credentials)", c.principal)
		}
		return res, fmt.Errorf("master %s refused authentication of %s", target, who)
	default:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return res, fmt.Errorf("SUBSCRIBE to %s answered %s: %s", target, resp.Status, bytes.TrimSpace(msg))
	}
	streamID := resp.Header.Get(StreamIDHeader)
	resetWD()

	c.mu.Lock()
	c.cancelStream = cancel
	c.currentStream = streamID
	c.streamMaster = target
	c.mu.Unlock()

	r := recordio.NewReader(resp.Body)
	var agentID string
	for {
		rec, err := r.ReadRecord()
		if err != nil {
			if expired.Load() {
				err = errors.New("no event from the master within the ping timeout")
			}
			return res, fmt.Errorf("read master stream: %w", err)
		}
		resetWD()
		ev := &agentpb.Event{}
		if err := proto.Unmarshal(rec, ev); err != nil {
			return res, fmt.Errorf("decode master event: %w", err)
		}
		switch ev.GetType() {
		case agentpb.Event_SUBSCRIBED:
			sub := ev.GetSubscribed()
			agentID = sub.GetAgentId().GetValue()
			if p := sub.GetPingIntervalSeconds(); p > 0 {
				wdMu.Lock()
				timeout = 3 * time.Duration(p*float64(time.Second))
				wdMu.Unlock()
				resetWD()
			}
			res.subscribed = true
			c.a.log.Info("subscribed to master", "agent_id", agentID, "master", target)
			mi := sub.GetMasterInfo()
			c.a.post(func() { c.a.st.subscribed(agentID, streamID, mi) })
			c.mu.Lock()
			c.streamReady = true
			held := c.held
			c.held = nil
			c.mu.Unlock()
			for _, hc := range held {
				hc.AgentId = &mesos.AgentID{Value: proto.String(agentID)}
				c.send(streamID, hc)
			}
		case agentpb.Event_ERROR:
			return res, fmt.Errorf("master refused: %s", ev.GetError().GetMessage())
		case agentpb.Event_PING:
			if res.subscribed {
				c.send(streamID, &agentpb.Call{
					Type:    agentpb.Call_PONG.Enum(),
					AgentId: &mesos.AgentID{Value: proto.String(agentID)},
					Pong:    &agentpb.Call_Pong{Sequence: proto.Uint64(ev.GetPing().GetSequence())},
				})
			}
		default:
			if !res.subscribed {
				c.a.log.Warn("event before SUBSCRIBED ignored", "type", ev.GetType().String())
				continue
			}
			c.a.post(func() { c.a.st.handleMasterEvent(ev) })
		}
	}
}

// redirectHost is the host:port of a 307's Location ("//host:port/path",
// as Mesos sends it, or an absolute URL).
func redirectHost(location string) (string, error) {
	u, err := url.Parse(location)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("no host in Location %q", location)
	}
	if err := checkMasterAddr(u.Host); err != nil {
		return "", fmt.Errorf("the Location %q: %w", location, err)
	}
	return u.Host, nil
}

// leaderInfo is a master's answer to GET /agora/v1/leader.
type leaderInfo struct {
	Leader  string `json:"leader"`
	Self    string `json:"self"`
	Elected bool   `json:"elected"`
	Term    uint64 `json:"term"`
}

func (c *masterConn) askLeader(ctx context.Context, addr string) (leaderInfo, error) {
	var info leaderInfo
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.a.cfg.TLS.Scheme()+"://"+addr+leaderPath, nil)
	if err != nil {
		return info, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.probe.Do(req)
	if err != nil {
		return info, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return info, fmt.Errorf("%s answered %s", leaderPath, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&info); err != nil {
		return info, fmt.Errorf("%s: %w", leaderPath, err)
	}
	return info, nil
}

// detect asks, every LeaderCheckInterval, another master of the list
// (round-robin) who leads. When one names a leader other than the master
// the agent is subscribed (or subscribing) to, and that leader confirms it
// is elected, the current attempt is dropped and the agent goes there at
// once. With one master it does nothing.
func (c *masterConn) detect(ctx context.Context) {
	t := time.NewTicker(c.a.cfg.LeaderCheckInterval)
	defer t.Stop()
	n := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.mu.Lock()
		masters, target := c.masters, c.target
		c.mu.Unlock()
		if len(masters) < 2 || target == "" {
			continue
		}
		var ask string
		for range masters {
			m := masters[n%len(masters)]
			n++
			if m != target {
				ask = m
				break
			}
		}
		if ask == "" {
			continue
		}
		info, err := c.askLeader(ctx, ask)
		if err != nil {
			c.a.log.Debug("leader check failed", "master", ask, "err", err)
			continue
		}
		cand := info.Leader
		if info.Elected {
			cand = cmp.Or(info.Self, ask)
		}
		if cand == "" {
			continue
		}
		c.mu.Lock()
		settled := cand == target && !c.waiting
		if settled {
			c.maxTerm = max(c.maxTerm, info.Term)
		}
		c.mu.Unlock()
		if settled {
			continue
		}
		// While the agent waits between rounds, target is the master
		// that failed last: confirmed as leader now, it is where to go.
		conf := info
		if !info.Elected {
			if conf, err = c.askLeader(ctx, cand); err != nil {
				c.a.log.Debug("leader check failed", "master", cand, "err", err)
				continue
			}
		}
		if !conf.Elected {
			continue
		}
		c.mu.Lock()
		if conf.Term >= c.maxTerm && c.target == target && c.waiting {
			// Between rounds: end the backoff.
			c.maxTerm = conf.Term
			c.switchTo = cand
			c.mu.Unlock()
			select {
			case c.leaderFound <- struct{}{}:
			default:
			}
			continue
		}
		if conf.Term < c.maxTerm || c.target != target || c.cancelAttempt == nil {
			c.mu.Unlock()
			continue
		}
		c.maxTerm = conf.Term
		c.switchTo = cand
		cancel := c.cancelAttempt
		c.mu.Unlock()
		cancel()
	}
}

// resubscribe breaks the subscription with the given stream id, if it is
// still the current one.
func (c *masterConn) resubscribe(streamID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancelStream != nil && c.currentStream == streamID {
		c.cancelStream()
	}
}

// send queues a call for its lane's sender; it never blocks.
func (c *masterConn) send(streamID string, call *agentpb.Call) {
	lane := laneOf(call)
	c.mu.Lock()
	c.queues[lane] = append(c.queues[lane], outCall{streamID, call})
	c.mu.Unlock()
	select {
	case c.wake[lane] <- struct{}{}:
	default:
	}
}

// hold keeps a call that did not reach a leader for the next
// subscription. Updates are not held: the status update manager resends
// every unacknowledged one after SUBSCRIBED. Pongs belong to their stream.
func (c *masterConn) hold(call *agentpb.Call) {
	switch call.GetType() {
	case agentpb.Call_UPDATE, agentpb.Call_PONG, agentpb.Call_SUBSCRIBE:
		return
	}
	c.mu.Lock()
	if c.streamReady {
		stream := c.currentStream
		c.mu.Unlock()
		c.send(stream, call)
		return
	}
	c.held = append(c.held, call)
	c.mu.Unlock()
}

// sender POSTs the calls of one lane one at a time, in order.
func (c *masterConn) sender(ctx context.Context, lane int) {
	for {
		c.mu.Lock()
		q := c.queues[lane]
		c.queues[lane] = nil
		c.mu.Unlock()
		sent := len(q) > 0
		for len(q) > 0 {
			if ctx.Err() != nil {
				return
			}
			var oc outCall
			oc, q = batchUpdates(q)
			c.post(ctx, oc)
		}
		if sent {
			continue // more may have queued meanwhile
		}
		select {
		case <-ctx.Done():
			return
		case <-c.wake[lane]:
		}
	}
}

// batchUpdates takes the next call off q: the consecutive UPDATE calls of
// one stream at its head (at most agentpb.MaxUpdatesPerCall) as one call
// carrying them all in order (protocol version 2), or the head as it is.
func batchUpdates(q []outCall) (outCall, []outCall) {
	head := q[0]
	if head.call.GetType() != agentpb.Call_UPDATE {
		return head, q[1:]
	}
	n := 1
	for n < len(q) && n < agentpb.MaxUpdatesPerCall && q[n].streamID == head.streamID && q[n].call.GetType() == agentpb.Call_UPDATE {
		n++
	}
	if n == 1 {
		return head, q[1:]
	}
	batch := &agentpb.Call{Type: agentpb.Call_UPDATE.Enum(), AgentId: head.call.AgentId}
	for _, oc := range q[:n] {
		batch.Updates = append(batch.Updates, oc.call.AllUpdates()...)
	}
	return outCall{head.streamID, batch}, q[n:]
}

// post sends one call to the master of its stream.
func (c *masterConn) post(ctx context.Context, oc outCall) {
	c.mu.Lock()
	master, current := c.streamMaster, c.currentStream
	c.mu.Unlock()
	if master == "" || oc.streamID != current {
		// Its stream is gone; a call worth keeping goes on the next one.
		c.hold(oc.call)
		return
	}
	body, err := proto.Marshal(oc.call)
	if err != nil {
		c.a.log.Error("encode call to master", "type", oc.call.GetType().String(), "err", err)
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.a.cfg.TLS.Scheme()+"://"+master+masterPath, bytes.NewReader(body))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", codec.MediaProtobuf)
	req.Header.Set(StreamIDHeader, oc.streamID)
	if c.authorization != "" {
		req.Header.Set("Authorization", c.authorization)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		// Updates are retried by the status update manager; the rest
		// is best-effort, like in Mesos.
		c.a.log.Debug("call to master failed", "type", oc.call.GetType().String(), "err", err)
		return
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusTemporaryRedirect || resp.StatusCode == http.StatusServiceUnavailable:
		// The stream's master no longer leads: subscribe to the one that
		// does, and send the call there.
		c.a.log.Info("master no longer leads; resubscribing", "master", master, "type", oc.call.GetType().String(),
			"status", resp.StatusCode, "location", resp.Header.Get("Location"))
		c.resubscribe(oc.streamID)
		c.hold(oc.call)
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		c.a.log.Warn("master refused call; resubscribing", "type", oc.call.GetType().String(),
			"status", resp.StatusCode, "message", string(bytes.TrimSpace(msg)))
		c.resubscribe(oc.streamID)
	default:
		c.a.log.Debug("unexpected answer from master", "type", oc.call.GetType().String(), "status", resp.StatusCode)
	}
}
