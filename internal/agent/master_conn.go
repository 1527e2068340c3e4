package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/api/recordio"
	"google.golang.org/protobuf/proto"
)

// ProtocolVersion is the agora.agent.v1 protocol version this agent speaks.
const ProtocolVersion = 1

// StreamIDHeader carries the master's subscription id on agent calls.
const StreamIDHeader = "Agora-Stream-Id"

// masterPath is the master's endpoint for the agent protocol.
const masterPath = "/agora/v1/agent"

// masterConn keeps the agent subscribed to the master: one long-lived
// SUBSCRIBE stream, reconnected with backoff whenever it breaks or goes
// silent for three ping intervals, and sender goroutines that POST the
// agent's other calls: senderLanes lanes, each in order, a call's lane
// chosen by what it is about (a task's updates, an executor's messages), so
// calls about one thing keep their order while a burst of updates for many
// tasks goes out in parallel.
type masterConn struct {
	a      *Agent
	url    string
	client *http.Client // calls
	stream *http.Client // the subscription (no overall timeout)

	mu sync.Mutex
	// +checklocks:mu
	queues [senderLanes][]outCall
	// +checklocks:mu
	cancelStream context.CancelFunc
	// +checklocks:mu
	currentStream string
	wake          [senderLanes]chan struct{}
}

// senderLanes is how many calls may be in flight to the master at once.
const senderLanes = 4

type outCall struct {
	streamID string
	call     *agentpb.Call
}

func newMasterConn(a *Agent) *masterConn {
	c := &masterConn{
		a:   a,
		url: "http://" + a.cfg.Master + masterPath,
		client: &http.Client{
			Timeout:   30 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: senderLanes, IdleConnTimeout: 90 * time.Second},
		},
		stream: &http.Client{},
	}
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

// run subscribes and resubscribes until ctx ends.
func (c *masterConn) run(ctx context.Context) {
	var senders sync.WaitGroup
	for i := range senderLanes {
		senders.Add(1)
		go func() { defer senders.Done(); c.sender(ctx, i) }()
	}
	defer senders.Wait()

	backoff := c.a.cfg.BackoffMin
	for ctx.Err() == nil {
		subscribed, err := c.subscribeOnce(ctx)
		c.a.post(func() { c.a.st.disconnected() })
		if ctx.Err() != nil {
			return
		}
		if subscribed {
			backoff = c.a.cfg.BackoffMin
		}
		// Full jitter over [backoff/2, backoff].
		wait := backoff/2 + time.Duration(rand.Int64N(int64(backoff/2)+1))
		c.a.log.Info("disconnected from master; reconnecting", "master", c.a.cfg.Master, "err", err, "in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, c.a.cfg.BackoffMax)
	}
}

// subscribeOnce opens one subscription and reads it until it breaks. It
// reports whether the master accepted the subscription.
func (c *masterConn) subscribeOnce(ctx context.Context) (subscribed bool, err error) {
	var call *agentpb.Call
	if !c.a.do(ctx, func() { call = c.a.st.subscribeCall() }) {
		return false, ctx.Err()
	}
	body, err := proto.Marshal(call)
	if err != nil {
		return false, fmt.Errorf("encode SUBSCRIBE: %w", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(sctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", codec.MediaProtobuf)
	req.Header.Set("Accept", codec.MediaProtobuf)
	resp, err := c.stream.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return false, fmt.Errorf("SUBSCRIBE answered %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	streamID := resp.Header.Get(StreamIDHeader)

	// Watchdog: no event for three ping intervals (or SubscribeTimeout
	// before the first SUBSCRIBED) breaks the stream.
	var (
		wdMu    sync.Mutex
		timeout = c.a.cfg.SubscribeTimeout
	)
	wd := time.AfterFunc(timeout, cancel)
	defer wd.Stop()
	resetWD := func() {
		wdMu.Lock()
		defer wdMu.Unlock()
		wd.Reset(timeout)
	}

	c.mu.Lock()
	c.cancelStream = cancel
	c.currentStream = streamID
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.cancelStream = nil
		c.currentStream = ""
		c.mu.Unlock()
	}()

	r := recordio.NewReader(resp.Body)
	var agentID string
	for {
		rec, err := r.ReadRecord()
		if err != nil {
			if sctx.Err() != nil && ctx.Err() == nil {
				err = errors.New("no event from the master within the ping timeout")
			}
			return subscribed, fmt.Errorf("read master stream: %w", err)
		}
		resetWD()
		ev := &agentpb.Event{}
		if err := proto.Unmarshal(rec, ev); err != nil {
			return subscribed, fmt.Errorf("decode master event: %w", err)
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
			subscribed = true
			c.a.log.Info("subscribed to master", "agent_id", agentID, "master", c.a.cfg.Master)
			mi := sub.GetMasterInfo()
			c.a.post(func() { c.a.st.subscribed(agentID, streamID, mi) })
		case agentpb.Event_ERROR:
			return subscribed, fmt.Errorf("master refused: %s", ev.GetError().GetMessage())
		case agentpb.Event_PING:
			if subscribed {
				c.send(streamID, &agentpb.Call{
					Type:    agentpb.Call_PONG.Enum(),
					AgentId: &mesos.AgentID{Value: proto.String(agentID)},
					Pong:    &agentpb.Call_Pong{Sequence: proto.Uint64(ev.GetPing().GetSequence())},
				})
			}
		default:
			if !subscribed {
				c.a.log.Warn("event before SUBSCRIBED ignored", "type", ev.GetType().String())
				continue
			}
			c.a.post(func() { c.a.st.handleMasterEvent(ev) })
		}
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

// sender POSTs the calls of one lane one at a time, in order.
func (c *masterConn) sender(ctx context.Context, lane int) {
	for {
		c.mu.Lock()
		q := c.queues[lane]
		c.queues[lane] = nil
		c.mu.Unlock()
		for _, oc := range q {
			if ctx.Err() != nil {
				return
			}
			c.post(ctx, oc)
		}
		if len(q) > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-c.wake[lane]:
		}
	}
}

func (c *masterConn) post(ctx context.Context, oc outCall) {
	body, err := proto.Marshal(oc.call)
	if err != nil {
		c.a.log.Error("encode call to master", "type", oc.call.GetType().String(), "err", err)
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", codec.MediaProtobuf)
	req.Header.Set(StreamIDHeader, oc.streamID)
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
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		c.a.log.Warn("master refused call; resubscribing", "type", oc.call.GetType().String(),
			"status", resp.StatusCode, "message", string(bytes.TrimSpace(msg)))
		c.resubscribe(oc.streamID)
	default:
		c.a.log.Debug("unexpected answer from master", "type", oc.call.GetType().String(), "status", resp.StatusCode)
	}
}
