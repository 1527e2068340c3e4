package executor

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	executorpb "github.com/agora-dev/agora/api/mesos/v1/executor"
	"github.com/agora-dev/agora/api/recordio"
)

// Errors Run returns.
var (
	// ErrDisconnected: the stream to the agent broke and the executor
	// may not (or could not, within the recovery timeout) resubscribe.
	ErrDisconnected = errors.New("executor: disconnected from agent")
	// ErrRunning: Run was called twice.
	ErrRunning = errors.New("executor: driver already running")
)

// Driver connects an Executor to its agent over the v1 executor HTTP API:
// it subscribes, turns events into callbacks, and sends status updates and
// framework messages. Its methods are safe for concurrent use.
type Driver struct {
	cfg  Config
	exec Executor
	log  *slog.Logger

	stopOnce sync.Once
	stopped  chan struct{}

	mu sync.Mutex
	// +checklocks:mu
	running bool
	// +checklocks:mu
	subscribed *executorpb.Event_Subscribed
	// +checklocks:mu
	unackedUpdates []*executorpb.Call_Update
	// +checklocks:mu
	unackedTasks []*mesos.TaskInfo
	// +checklocks:mu
	ackChanged chan struct{} // closed and replaced whenever an update is acknowledged
}

// NewDriver returns a driver for exec; zero fields of cfg take their
// defaults.
func NewDriver(cfg Config, exec Executor) *Driver {
	cfg.withDefaults()
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	return &Driver{
		cfg:        cfg,
		exec:       exec,
		log:        cfg.Logger,
		stopped:    make(chan struct{}),
		ackChanged: make(chan struct{}),
	}
}

// Config returns the driver's configuration, defaults filled in.
func (d *Driver) Config() Config { return d.cfg }

// Stop makes Run return nil. It does not send anything to the agent.
func (d *Driver) Stop() {
	d.stopOnce.Do(func() { close(d.stopped) })
}

// FrameworkInfo returns the framework's info from the latest SUBSCRIBED
// event, or nil before the first one.
func (d *Driver) FrameworkInfo() *mesos.FrameworkInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.subscribed.GetFrameworkInfo()
}

// ContainerID returns the executor's container ID from the latest
// SUBSCRIBED event, or nil when the agent sent none.
func (d *Driver) ContainerID() *mesos.ContainerID {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.subscribed.GetContainerId()
}

// UnacknowledgedUpdates returns the statuses sent and not yet acknowledged
// by the agent, oldest first.
func (d *Driver) UnacknowledgedUpdates() []*mesos.TaskStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]*mesos.TaskStatus, len(d.unackedUpdates))
	for i, u := range d.unackedUpdates {
		out[i] = u.GetStatus()
	}
	return out
}

// UnacknowledgedTasks returns the tasks launched and not yet acknowledged,
// that is, none of whose updates the agent has acknowledged.
func (d *Driver) UnacknowledgedTasks() []*mesos.TaskInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*mesos.TaskInfo(nil), d.unackedTasks...)
}

// WaitAcknowledged waits until the agent has acknowledged every status
// update sent so far, or ctx ends.
func (d *Driver) WaitAcknowledged(ctx context.Context) error {
	for {
		d.mu.Lock()
		n, ch := len(d.unackedUpdates), d.ackChanged
		d.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("executor: %d status updates not acknowledged: %w", n, ctx.Err())
		}
	}
}

// SendStatusUpdate sends a status update for a task to the agent. It
// works on a copy of status in which it sets uuid (a fresh RFC 4122
// version 4 UUID unless status has one), source (SOURCE_EXECUTOR),
// executor_id and, when missing, timestamp. The update stays in the list
// of unacknowledged updates, resent on resubscription, until the agent
// acknowledges it, even when this call fails.
func (d *Driver) SendStatusUpdate(status *mesos.TaskStatus) error {
	if status.GetTaskId().GetValue() == "" {
		return errors.New("executor: status update without task_id")
	}
	if status.State == nil {
		return fmt.Errorf("executor: status update for task %q without state", status.GetTaskId().GetValue())
	}
	if status.GetState() == mesos.TaskState_TASK_STAGING {
		return fmt.Errorf("executor: status update for task %q: executors may not send TASK_STAGING", status.GetTaskId().GetValue())
	}
	if id := status.GetExecutorId().GetValue(); id != "" && id != d.cfg.ExecutorID {
		return fmt.Errorf("executor: status update for task %q names executor %q, not %q", status.GetTaskId().GetValue(), id, d.cfg.ExecutorID)
	}
	st := proto.Clone(status).(*mesos.TaskStatus)
	switch len(st.Uuid) {
	case 0:
		st.Uuid = NewUUID()
	case 16:
	default:
		return fmt.Errorf("executor: status update for task %q: uuid must be 16 bytes", status.GetTaskId().GetValue())
	}
	st.Source = mesos.TaskStatus_SOURCE_EXECUTOR.Enum()
	st.ExecutorId = &mesos.ExecutorID{Value: proto.String(d.cfg.ExecutorID)}
	if st.Timestamp == nil {
		st.Timestamp = proto.Float64(float64(time.Now().UnixNano()) / 1e9)
	}
	upd := &executorpb.Call_Update{Status: st}
	d.mu.Lock()
	d.unackedUpdates = append(d.unackedUpdates, upd)
	d.mu.Unlock()
	return d.call(&executorpb.Call{
		Type:   executorpb.Call_UPDATE.Enum(),
		Update: upd,
	})
}

// SendFrameworkMessage sends data to the executor's scheduler.
func (d *Driver) SendFrameworkMessage(data []byte) error {
	return d.call(&executorpb.Call{
		Type:    executorpb.Call_MESSAGE.Enum(),
		Message: &executorpb.Call_Message{Data: data},
	})
}

// NewUUID returns 16 random bytes laid out as an RFC 4122 version 4 UUID.
func NewUUID() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return b
}

// call sends a call other than SUBSCRIBE and expects a 2xx answer.
func (d *Driver) call(c *executorpb.Call) error {
	ctx, cancel := context.WithTimeout(context.Background(), d.cfg.CallTimeout)
	defer cancel()
	resp, err := d.post(ctx, c)
	if err != nil {
		return fmt.Errorf("executor: %s call: %w", c.GetType(), err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("executor: %s call: agent answered %s: %s", c.GetType(), resp.Status, bytes.TrimSpace(body))
	}
	return nil
}

// post fills in the IDs of c and POSTs it to the agent.
func (d *Driver) post(ctx context.Context, c *executorpb.Call) (*http.Response, error) {
	c.ExecutorId = &mesos.ExecutorID{Value: proto.String(d.cfg.ExecutorID)}
	c.FrameworkId = &mesos.FrameworkID{Value: proto.String(d.cfg.FrameworkID)}
	body, err := d.cfg.Codec.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.cfg.AgentURL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", d.cfg.Codec.MediaType())
	req.Header.Set("Accept", d.cfg.Codec.MediaType())
	if d.cfg.AuthToken != "" {
		req.Header.Set("Authorization", "Bearer "+d.cfg.AuthToken)
	}
	if c.GetType() == executorpb.Call_SUBSCRIBE {
		req.Close = true
	}
	return d.cfg.Client.Do(req)
}

// Run subscribes to the agent and dispatches its events to the Executor
// until SHUTDOWN (after the Shutdown callback has returned), Stop, or the
// end of ctx. It returns nil after SHUTDOWN or Stop and ctx.Err() when ctx
// ends. When the event stream breaks, Run calls Disconnected; a
// checkpointing executor then resubscribes with backoff for up to the
// recovery timeout, resending its unacknowledged tasks and updates, while
// any other executor gets an error wrapping ErrDisconnected and should
// exit, as Mesos executors do.
func (d *Driver) Run(ctx context.Context) error {
	d.mu.Lock()
	if d.running {
		d.mu.Unlock()
		return ErrRunning
	}
	d.running = true
	d.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-d.stopped:
			cancel()
		case <-ctx.Done():
		}
	}()
	result := func(err error) error {
		select {
		case <-d.stopped:
			return nil
		default:
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}

	deadline := time.Now().Add(d.cfg.RegistrationTimeout)
	for {
		resp, err := d.subscribe(ctx, deadline)
		if err != nil {
			return result(err)
		}
		shutdown, err := d.stream(ctx, resp)
		if shutdown {
			return nil
		}
		if ctx.Err() != nil {
			return result(ctx.Err())
		}
		d.log.Warn("executor: event stream from agent broke", "error", err)
		d.exec.Disconnected(d)
		if !d.cfg.Checkpoint {
			return fmt.Errorf("%w: %v", ErrDisconnected, err)
		}
		deadline = time.Now().Add(d.cfg.RecoveryTimeout)
	}
}

// subscribe sends SUBSCRIBE until the agent answers 200 or the deadline
// passes, backing off up to SubscriptionBackoffMax between attempts.
func (d *Driver) subscribe(ctx context.Context, deadline time.Time) (*http.Response, error) {
	backoff := min(100*time.Millisecond, d.cfg.SubscriptionBackoffMax)
	for {
		resp, retry, err := d.subscribeOnce(ctx)
		if err == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !retry {
			return nil, err
		}
		wait := backoff/2 + mrand.N(backoff/2+1)
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("%w: could not subscribe in time: %v", ErrDisconnected, err)
		}
		d.log.Debug("executor: subscribe failed; retrying", "error", err, "in", wait)
		t := time.NewTimer(min(wait, left))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
		backoff = min(2*backoff, d.cfg.SubscriptionBackoffMax)
	}
}

// subscribeOnce sends one SUBSCRIBE; retry tells whether another attempt
// may succeed.
func (d *Driver) subscribeOnce(ctx context.Context) (resp *http.Response, retry bool, err error) {
	d.mu.Lock()
	sub := &executorpb.Call_Subscribe{
		UnacknowledgedTasks:   append([]*mesos.TaskInfo(nil), d.unackedTasks...),
		UnacknowledgedUpdates: append([]*executorpb.Call_Update(nil), d.unackedUpdates...),
	}
	d.mu.Unlock()
	resp, err = d.post(ctx, &executorpb.Call{
		Type:      executorpb.Call_SUBSCRIBE.Enum(),
		Subscribe: sub,
	})
	if err != nil {
		return nil, true, fmt.Errorf("executor: subscribe: %w", err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp, false, nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	resp.Body.Close()
	err = fmt.Errorf("executor: subscribe: agent answered %s: %s", resp.Status, bytes.TrimSpace(body))
	retry = resp.StatusCode >= 500 || resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusNotFound
	return nil, retry, err
}

type record struct {
	data []byte
	err  error
}

// stream reads events from a SUBSCRIBE response and dispatches them until
// the stream ends or, after SHUTDOWN, the Shutdown callback returns.
func (d *Driver) stream(ctx context.Context, resp *http.Response) (shutdown bool, err error) {
	defer resp.Body.Close()
	dec := d.cfg.Codec
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		if c, err := codec.ForContentType(ct); err == nil {
			dec = c
		}
	}
	done := make(chan struct{})
	defer close(done)
	records := make(chan record)
	go func() {
		r := recordio.NewReader(resp.Body)
		for {
			data, err := r.ReadRecord()
			select {
			case records <- record{data, err}:
			case <-done:
				return
			}
			if err != nil {
				return
			}
		}
	}()

	var shutdownDone chan struct{} // non-nil once SHUTDOWN arrived
	for {
		var rec record
		select {
		case rec = <-records:
		case <-shutdownDone:
			return true, nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
		if rec.err != nil {
			if shutdownDone != nil {
				select {
				case <-shutdownDone:
					return true, nil
				case <-ctx.Done():
					return false, ctx.Err()
				}
			}
			if rec.err == io.EOF {
				rec.err = errors.New("stream closed by agent")
			}
			return false, rec.err
		}
		ev := &executorpb.Event{}
		if err := dec.Unmarshal(rec.data, ev); err != nil {
			d.log.Warn("executor: ignoring undecodable event", "error", err)
			continue
		}
		if shutdownDone != nil {
			// Winding down: only acknowledgements still matter.
			if ev.GetType() == executorpb.Event_ACKNOWLEDGED {
				d.dispatch(ev)
			}
			continue
		}
		if ev.GetType() == executorpb.Event_SHUTDOWN {
			shutdownDone = make(chan struct{})
			go func() {
				defer close(shutdownDone)
				d.exec.Shutdown(d)
			}()
			continue
		}
		d.dispatch(ev)
	}
}

// dispatch hands one event to the Executor.
func (d *Driver) dispatch(ev *executorpb.Event) {
	switch ev.GetType() {
	case executorpb.Event_SUBSCRIBED:
		s := ev.GetSubscribed()
		if s == nil {
			d.log.Warn("executor: SUBSCRIBED event without subscribed")
			return
		}
		d.mu.Lock()
		first := d.subscribed == nil
		d.subscribed = s
		d.mu.Unlock()
		if first {
			d.exec.Registered(d, s.GetExecutorInfo(), s.GetFrameworkInfo(), s.GetAgentInfo())
		} else {
			d.exec.Reregistered(d, s.GetAgentInfo())
		}
	case executorpb.Event_LAUNCH:
		task := ev.GetLaunch().GetTask()
		if task == nil {
			d.log.Warn("executor: LAUNCH event without task")
			return
		}
		d.addUnackedTasks(task)
		go d.exec.LaunchTask(d, task)
	case executorpb.Event_LAUNCH_GROUP:
		group := ev.GetLaunchGroup().GetTaskGroup()
		if group == nil {
			d.log.Warn("executor: LAUNCH_GROUP event without task_group")
			return
		}
		d.addUnackedTasks(group.GetTasks()...)
		if l, ok := d.exec.(TaskGroupLauncher); ok {
			go l.LaunchTaskGroup(d, group)
		} else {
			go d.refuseGroup(group)
		}
	case executorpb.Event_KILL:
		k := ev.GetKill()
		if k.GetTaskId() == nil {
			d.log.Warn("executor: KILL event without task_id")
			return
		}
		d.exec.KillTask(d, k.GetTaskId(), k.GetKillPolicy())
	case executorpb.Event_ACKNOWLEDGED:
		a := ev.GetAcknowledged()
		d.acknowledge(a.GetTaskId().GetValue(), a.GetUuid())
	case executorpb.Event_MESSAGE:
		d.exec.FrameworkMessage(d, ev.GetMessage().GetData())
	case executorpb.Event_ERROR:
		d.exec.Error(d, ev.GetError().GetMessage())
	case executorpb.Event_HEARTBEAT:
	default:
		d.log.Debug("executor: ignoring event", "type", ev.GetType().String())
	}
}

func (d *Driver) addUnackedTasks(tasks ...*mesos.TaskInfo) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.unackedTasks = append(d.unackedTasks, tasks...)
}

// acknowledge drops the acknowledged update, and its task from the
// unacknowledged tasks.
func (d *Driver) acknowledge(taskID string, uuid []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	found := false
	d.unackedUpdates = deleteFunc(d.unackedUpdates, func(u *executorpb.Call_Update) bool {
		if u.GetStatus().GetTaskId().GetValue() == taskID && bytes.Equal(u.GetStatus().GetUuid(), uuid) {
			found = true
			return true
		}
		return false
	})
	if !found {
		d.log.Debug("executor: acknowledgement of unknown update", "task", taskID)
	}
	d.unackedTasks = deleteFunc(d.unackedTasks, func(t *mesos.TaskInfo) bool {
		return t.GetTaskId().GetValue() == taskID
	})
	close(d.ackChanged)
	d.ackChanged = make(chan struct{})
}

// deleteFunc is slices.DeleteFunc on a fresh slice, so that snapshots
// taken earlier stay intact.
func deleteFunc[T any](s []T, del func(T) bool) []T {
	var out []T
	for _, v := range s {
		if !del(v) {
			out = append(out, v)
		}
	}
	return out
}

// refuseGroup answers a task group sent to an executor that cannot run
// one.
func (d *Driver) refuseGroup(group *mesos.TaskGroupInfo) {
	for _, t := range group.GetTasks() {
		err := d.SendStatusUpdate(&mesos.TaskStatus{
			TaskId:  t.GetTaskId(),
			State:   mesos.TaskState_TASK_ERROR.Enum(),
			Message: proto.String("executor does not run task groups"),
		})
		if err != nil {
			d.log.Warn("executor: could not refuse task group", "task", t.GetTaskId().GetValue(), "error", err)
		}
	}
}
