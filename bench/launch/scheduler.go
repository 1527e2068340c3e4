package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	schedpb "github.com/agora-dev/agora/api/mesos/v1/scheduler"
	"github.com/agora-dev/agora/api/recordio"
	"google.golang.org/protobuf/proto"
)

// stamped is an event with the time its record was read off the stream.
type stamped struct {
	ev *schedpb.Event
	at time.Time
}

// client is a minimal v1 scheduler speaking protobuf: one SUBSCRIBE stream
// and calls on other (kept-alive) connections.
type client struct {
	url      string
	calls    *http.Client
	streamID string
	fwID     *mesos.FrameworkID
	events   chan stamped
	errc     chan error // asynchronous failures: stream end, failed ACKs
	cancel   context.CancelFunc
	done     chan struct{} // closed when the stream reader returns
	acks     chan struct{} // semaphore bounding concurrent ACK POSTs
}

// subscribe registers a new framework and starts reading its event stream.
// It returns after the SUBSCRIBED event.
func subscribe(ctx context.Context, master string, info *mesos.FrameworkInfo) (*client, error) {
	c := &client{
		url: "http://" + master + "/api/v1/scheduler",
		calls: &http.Client{Transport: &http.Transport{
			MaxIdleConns: 128, MaxIdleConnsPerHost: 128, DisableCompression: true,
		}},
		events: make(chan stamped, 8192),
		errc:   make(chan error, 16),
		done:   make(chan struct{}),
		acks:   make(chan struct{}, 32),
	}
	body, err := codec.Protobuf.Marshal(&schedpb.Call{
		Type:      schedpb.Call_SUBSCRIBE.Enum(),
		Subscribe: &schedpb.Call_Subscribe{FrameworkInfo: info},
	})
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	req, err := http.NewRequestWithContext(sctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Content-Type", codec.MediaProtobuf)
	req.Header.Set("Accept", codec.MediaProtobuf)
	// The stream gets a transport of its own so that it never competes
	// with calls for a connection.
	resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("SUBSCRIBE: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("SUBSCRIBE: %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	if ct := resp.Header.Get("Content-Type"); ct != codec.MediaProtobuf {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("SUBSCRIBE: answered with Content-Type %q, want %q", ct, codec.MediaProtobuf)
	}
	c.streamID = resp.Header.Get("Mesos-Stream-Id")
	if c.streamID == "" {
		resp.Body.Close()
		cancel()
		return nil, errors.New("SUBSCRIBE: no Mesos-Stream-Id header")
	}
	go c.read(resp.Body)

	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case s := <-c.events:
			switch s.ev.GetType() {
			case schedpb.Event_SUBSCRIBED:
				c.fwID = s.ev.GetSubscribed().GetFrameworkId()
				return c, nil
			case schedpb.Event_ERROR:
				c.close()
				return nil, fmt.Errorf("SUBSCRIBE refused: ERROR event: %s", s.ev.GetError().GetMessage())
			}
		case err := <-c.errc:
			c.close()
			return nil, err
		case <-t.C:
			c.close()
			return nil, errors.New("SUBSCRIBE: no SUBSCRIBED event within 30s")
		case <-ctx.Done():
			c.close()
			return nil, ctx.Err()
		}
	}
}

// read decodes the RecordIO stream. Updates that carry a uuid are
// acknowledged right here, before the event is queued, so that the agent
// can forward the task's next update as soon as possible.
func (c *client) read(body io.ReadCloser) {
	defer close(c.done)
	defer body.Close()
	r := recordio.NewReader(body)
	for {
		rec, err := r.ReadRecord()
		at := time.Now()
		if err != nil {
			if err == io.EOF {
				err = errors.New("the master closed the event stream")
			}
			c.fail(fmt.Errorf("event stream: %w", err))
			return
		}
		ev := &schedpb.Event{}
		if err := codec.Protobuf.Unmarshal(rec, ev); err != nil {
			c.fail(fmt.Errorf("event stream: bad protobuf event: %w", err))
			return
		}
		if st := ev.GetUpdate().GetStatus(); ev.GetType() == schedpb.Event_UPDATE && len(st.GetUuid()) > 0 {
			c.acks <- struct{}{}
			go func() {
				defer func() { <-c.acks }()
				if err := c.acknowledge(st); err != nil {
					c.fail(err)
				}
			}()
		}
		c.events <- stamped{ev: ev, at: at}
	}
}

func (c *client) fail(err error) {
	select {
	case c.errc <- err:
	default:
	}
}

func (c *client) acknowledge(st *mesos.TaskStatus) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := c.call(ctx, &schedpb.Call{
		Type: schedpb.Call_ACKNOWLEDGE.Enum(),
		Acknowledge: &schedpb.Call_Acknowledge{
			AgentId: st.GetAgentId(), TaskId: st.GetTaskId(), Uuid: st.GetUuid(),
		},
	})
	if err != nil {
		return fmt.Errorf("ACKNOWLEDGE %s of task %s: %w", st.GetState(), st.GetTaskId().GetValue(), err)
	}
	return nil
}

// call posts a call and expects 202 Accepted.
func (c *client) call(ctx context.Context, call *schedpb.Call) error {
	call.FrameworkId = c.fwID
	body, err := codec.Protobuf.Marshal(call)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", codec.MediaProtobuf)
	req.Header.Set("Mesos-Stream-Id", c.streamID)
	resp, err := c.calls.Do(req)
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("%s: %s: %s", call.GetType(), resp.Status, bytes.TrimSpace(b))
	}
	return nil
}

// teardown removes the framework (killing anything left) and closes the
// stream.
func (c *client) teardown() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := c.call(ctx, &schedpb.Call{Type: schedpb.Call_TEARDOWN.Enum()})
	c.close()
	return err
}

func (c *client) close() {
	c.cancel()
	go func() {
		// Unblock the reader if it waits on a full queue.
		for {
			select {
			case <-c.events:
			case <-c.done:
				return
			}
		}
	}()
	<-c.done
	c.calls.CloseIdleConnections()
}

// Convenience constructors for the protobuf messages the benchmark sends.

func scalar(name string, v float64) *mesos.Resource {
	return &mesos.Resource{
		Name:   proto.String(name),
		Type:   mesos.Value_SCALAR.Enum(),
		Scalar: &mesos.Value_Scalar{Value: proto.Float64(v)},
	}
}

func noFilter() *mesos.Filters { return &mesos.Filters{RefuseSeconds: proto.Float64(0)} }
