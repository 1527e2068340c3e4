package sim_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/api/recordio"
	"github.com/agora-dev/agora/internal/sim"
	"google.golang.org/protobuf/proto"
)

// fakeMaster serves the agent protocol to one agent: the test pushes
// events on its stream and reads the calls it gets.
type fakeMaster struct {
	events chan *agentpb.Event
	calls  chan *agentpb.Call
	mu     sync.Mutex
	subs   []*agentpb.Call_Subscribe
}

func (f *fakeMaster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	call := &agentpb.Call{}
	if err := proto.Unmarshal(body, call); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if call.GetType() != agentpb.Call_SUBSCRIBE {
		if r.Header.Get("Agora-Stream-Id") != "stream-1" {
			http.Error(w, "bad stream id", http.StatusBadRequest)
			return
		}
		if call.GetType() == agentpb.Call_UPDATE {
			// One call per update, in order, however the agent batched them.
			for _, u := range call.AllUpdates() {
				f.calls <- &agentpb.Call{Type: call.Type, AgentId: call.AgentId, Update: u}
			}
		} else {
			f.calls <- call
		}
		w.WriteHeader(http.StatusAccepted)
		return
	}
	f.mu.Lock()
	f.subs = append(f.subs, call.GetSubscribe())
	f.mu.Unlock()
	w.Header().Set("Content-Type", codec.MediaProtobuf)
	w.Header().Set("Agora-Stream-Id", "stream-1")
	w.WriteHeader(http.StatusOK)
	rw := recordio.NewWriter(w)
	write := func(ev *agentpb.Event) bool {
		b, _ := proto.Marshal(ev)
		return rw.WriteRecord(b) == nil
	}
	write(&agentpb.Event{Type: agentpb.Event_SUBSCRIBED.Enum(), Subscribed: &agentpb.Event_Subscribed{
		AgentId: &mesos.AgentID{Value: proto.String("A1")}, MasterInfo: &mesos.MasterInfo{Id: proto.String("M"), Ip: proto.Uint32(1), Port: proto.Uint32(5050)},
		PingIntervalSeconds: proto.Float64(15),
	}})
	for {
		select {
		case <-r.Context().Done():
			return
		case ev, ok := <-f.events:
			if !ok || !write(ev) {
				return // end the stream: the agent re-subscribes
			}
		}
	}
}

func (f *fakeMaster) nextCall(t *testing.T, typ agentpb.Call_Type) *agentpb.Call {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case c := <-f.calls:
			if c.GetType() == typ {
				return c
			}
		case <-deadline:
			t.Fatalf("no %s call", typ)
		}
	}
}

// TestUpdatesResentUntilAcknowledged checks the status update stream of
// one task: STARTING is resent (same uuid) until acknowledged, then
// RUNNING follows; a PING gets its PONG; and after the stream breaks
// the agent re-subscribes with its id and the running task.
func TestUpdatesResentUntilAcknowledged(t *testing.T) {
	fm := &fakeMaster{events: make(chan *agentpb.Event, 16), calls: make(chan *agentpb.Call, 64)}
	srv := httptest.NewServer(fm)
	defer srv.Close()
	cfg := sim.DefaultConfig()
	cfg.Masters = []string{strings.TrimPrefix(srv.URL, "http://")}
	cfg.SubscribeRate = 0
	cfg.TaskDuration = 0
	cfg.StatusUpdateRetry = 50 * time.Millisecond
	cfg.StatusUpdateRetryMax = 100 * time.Millisecond
	cfg.BackoffMin = 10 * time.Millisecond
	s, err := sim.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); srv.CloseClientConnections(); <-done }()

	fm.events <- &agentpb.Event{Type: agentpb.Event_PING.Enum(), Ping: &agentpb.Event_Ping{Sequence: proto.Uint64(7)}}
	if p := fm.nextCall(t, agentpb.Call_PONG); p.GetPong().GetSequence() != 7 || p.GetAgentId().GetValue() != "A1" {
		t.Fatalf("PONG %v", p)
	}
	fid := &mesos.FrameworkID{Value: proto.String("F1")}
	fm.events <- &agentpb.Event{Type: agentpb.Event_RUN_TASK.Enum(), RunTask: &agentpb.Event_RunTask{
		FrameworkInfo: &mesos.FrameworkInfo{Id: fid, User: proto.String("u"), Name: proto.String("f")},
		Task: &mesos.TaskInfo{Name: proto.String("t"), TaskId: &mesos.TaskID{Value: proto.String("T1")},
			AgentId: &mesos.AgentID{Value: proto.String("A1")}, Command: &mesos.CommandInfo{Value: proto.String("true")}},
	}}
	first := fm.nextCall(t, agentpb.Call_UPDATE).GetUpdate()
	if first.GetStatus().GetState() != mesos.TaskState_TASK_STARTING {
		t.Fatalf("first update %v", first)
	}
	again := fm.nextCall(t, agentpb.Call_UPDATE).GetUpdate()
	if !bytes.Equal(again.GetStatus().GetUuid(), first.GetStatus().GetUuid()) {
		t.Fatalf("unacknowledged STARTING not resent first: got %v", again.GetStatus().GetState())
	}
	if again.GetLatestState() != mesos.TaskState_TASK_RUNNING {
		t.Errorf("resent STARTING says latest state %v, want TASK_RUNNING", again.GetLatestState())
	}
	fm.events <- &agentpb.Event{Type: agentpb.Event_ACKNOWLEDGE.Enum(), Acknowledge: &agentpb.Event_Acknowledge{
		FrameworkId: fid, TaskId: first.GetStatus().GetTaskId(), Uuid: first.GetStatus().GetUuid()}}
	var running *agentpb.Call_Update
	for running == nil {
		u := fm.nextCall(t, agentpb.Call_UPDATE).GetUpdate()
		if u.GetStatus().GetState() == mesos.TaskState_TASK_RUNNING {
			running = u
		} else if !bytes.Equal(u.GetStatus().GetUuid(), first.GetStatus().GetUuid()) {
			t.Fatalf("unexpected update %v", u.GetStatus())
		}
	}
	fm.events <- &agentpb.Event{Type: agentpb.Event_ACKNOWLEDGE.Enum(), Acknowledge: &agentpb.Event_Acknowledge{
		FrameworkId: fid, TaskId: running.GetStatus().GetTaskId(), Uuid: running.GetStatus().GetUuid()}}

	// Break the stream: the agent re-subscribes with its id and its task.
	close(fm.events)
	waitFor(t, 10*time.Second, "the agent to re-subscribe", func() bool {
		fm.mu.Lock()
		defer fm.mu.Unlock()
		return len(fm.subs) >= 2
	})
	fm.mu.Lock()
	sub := fm.subs[len(fm.subs)-1]
	fm.mu.Unlock()
	if sub.GetAgentInfo().GetId().GetValue() != "A1" {
		t.Errorf("re-subscribed as %q, want A1", sub.GetAgentInfo().GetId().GetValue())
	}
	if len(sub.GetExecutors()) != 1 || len(sub.GetExecutors()[0].GetTasks()) != 1 ||
		sub.GetExecutors()[0].GetTasks()[0].GetState() != mesos.TaskState_TASK_RUNNING ||
		!sub.GetExecutors()[0].GetCommandExecutor() {
		t.Errorf("re-subscribed with executors %v", sub.GetExecutors())
	}
}
