package master

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/api/recordio"
	"github.com/agora-dev/agora/internal/version"
	"google.golang.org/protobuf/proto"
)

// FuzzAgentAPI posts arbitrary bodies to the master's agent endpoint
// (/agora/v1/agent) on behalf of an agent that really subscribed over
// loopback: the master answers a proper status, whatever the call says, and
// keeps working. When the body decodes as a call other than SUBSCRIBE and
// asAgent is set, it is sent with the subscribed agent's id and stream id, so
// that UPDATE, EXECUTOR_EXITED, MESSAGE and PONG with arbitrary contents
// reach the master's agent-call handling rather than the "not registered"
// check.
func FuzzAgentAPI(f *testing.F) {
	fwID := &mesos.FrameworkID{Value: proto.String("fw-1")}
	seeds := []*agentpb.Call{
		{Type: agentpb.Call_UPDATE.Enum(), Update: &agentpb.Call_Update{FrameworkId: fwID, Status: &mesos.TaskStatus{
			TaskId: &mesos.TaskID{Value: proto.String("t")}, State: mesos.TaskState_TASK_RUNNING.Enum(),
			Source: mesos.TaskStatus_SOURCE_EXECUTOR.Enum(), Uuid: newUUID()}, LatestState: mesos.TaskState_TASK_FINISHED.Enum()}},
		{Type: agentpb.Call_UPDATE.Enum(), Update: &agentpb.Call_Update{}},
		{Type: agentpb.Call_EXECUTOR_EXITED.Enum(), ExecutorExited: &agentpb.Call_ExecutorExited{FrameworkId: fwID,
			ExecutorId: &mesos.ExecutorID{Value: proto.String("e")}, Status: proto.Int32(9), CommandExecutor: proto.Bool(true)}},
		{Type: agentpb.Call_MESSAGE.Enum(), Message: &agentpb.Call_Message{FrameworkId: fwID,
			ExecutorId: &mesos.ExecutorID{Value: proto.String("e")}, Data: []byte("hi")}},
		{Type: agentpb.Call_PONG.Enum(), Pong: &agentpb.Call_Pong{Sequence: proto.Uint64(7)}},
		{Type: agentpb.Call_UNKNOWN.Enum()},
		subscribeAgentCall(""),
	}
	for _, c := range seeds {
		b, _ := proto.Marshal(c)
		f.Add(true, false, b)
		j, _ := codec.JSON.Marshal(c)
		f.Add(true, true, j)
	}
	f.Add(false, true, []byte(`{"type":"UPDATE","agent_id":{"value":"nope"}}`))
	f.Add(true, true, []byte(`{"type":"SUBSCRIBE","subscribe":{"protocol_version":4294967295,"agent_info":{"hostname":""},"endpoint":"x"}}`))
	f.Add(false, true, []byte(`[]`))

	cfg := DefaultConfig()
	cfg.Port = 0
	m, err := New(cfg, nil)
	if err != nil {
		f.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = m.Run(ctx); close(done) }()
	srv := httptest.NewServer(m.Handler())
	f.Cleanup(func() { cancel(); <-done; srv.Close() })

	// A real agent subscribes over loopback and holds its stream open.
	agentID, streamID := subscribeFuzzAgent(f, ctx, srv.URL+agentAPIPath)
	h := m.Handler()
	allowed := map[int]bool{200: true, 202: true, 400: true, 403: true, 404: true, 406: true,
		409: true, 415: true, 501: true, 503: true}

	f.Fuzz(func(t *testing.T, asAgent, asJSON bool, body []byte) {
		c := codec.Protobuf
		if asJSON {
			c = codec.JSON
		}
		headers := map[string]string{"Content-Type": c.MediaType(), "Accept": c.MediaType()}
		if asAgent {
			call := &agentpb.Call{}
			if c.Unmarshal(body, call) == nil && call.GetType() != agentpb.Call_SUBSCRIBE {
				call.AgentId = &mesos.AgentID{Value: proto.String(agentID)}
				if b, err := c.Marshal(call); err == nil {
					body = b
				}
			}
			headers[agentStreamHeader] = streamID
		}
		// A valid SUBSCRIBE opens a stream: bound it.
		rctx, rcancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer rcancel()
		req := httptest.NewRequestWithContext(rctx, http.MethodPost, agentAPIPath, bytes.NewReader(body))
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if !allowed[rec.Code] {
			t.Fatalf("POST %s %q: status %d %q", agentAPIPath, body, rec.Code, rec.Body.String())
		}
		if _, err := m.ConnectedAgents(); err != nil {
			t.Fatalf("master stopped answering: %v", err)
		}
	})
}

// subscribeFuzzAgent subscribes an agent and returns its id and stream id;
// the stream is read (and discarded) until ctx ends.
func subscribeFuzzAgent(f *testing.F, ctx context.Context, url string) (string, string) {
	body, _ := proto.Marshal(&agentpb.Call{Type: agentpb.Call_SUBSCRIBE.Enum(), Subscribe: &agentpb.Call_Subscribe{
		ProtocolVersion: proto.Uint32(version.AgentProtocol),
		AgentInfo:       agentInfo(""),
		Endpoint:        proto.String("127.0.0.1:5051"),
		Version:         proto.String(version.Mesos),
	}})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", codec.MediaProtobuf)
	req.Header.Set("Accept", codec.MediaProtobuf)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		f.Fatalf("agent SUBSCRIBE: %s", resp.Status)
	}
	r := recordio.NewReader(resp.Body)
	rec, err := r.ReadRecord()
	if err != nil {
		f.Fatal(err)
	}
	ev := &agentpb.Event{}
	if err := proto.Unmarshal(rec, ev); err != nil || ev.GetType() != agentpb.Event_SUBSCRIBED {
		f.Fatalf("first agent event %v, %v; want SUBSCRIBED", ev, err)
	}
	go func() {
		defer resp.Body.Close()
		for {
			if _, err := r.ReadRecord(); err != nil {
				return
			}
		}
	}()
	return ev.GetSubscribed().GetAgentId().GetValue(), resp.Header.Get(agentStreamHeader)
}
