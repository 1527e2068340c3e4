package master

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	"github.com/agora-dev/agora/api/codec"
	"github.com/agora-dev/agora/api/recordio"
)

// TestAgentStreamDetached: an agent's stream is served on a connection
// taken over from net/http: a well-formed chunked response marked
// Connection: close, which ends with its last chunk when the master
// closes the stream (the agent subscribed again elsewhere), and whose
// client going away makes the agent disconnected on the master.
func TestAgentStreamDetached(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Port = 0
	cfg.AllocationInterval = time.Hour
	m, base, _ := runMaster(t, cfg)
	open := func(id string) (*http.Response, *recordio.Reader) {
		t.Helper()
		call := subscribeAgentCall(id)
		if id != "" {
			call.AgentId = agentIDProto(id)
		}
		body, _ := codec.Protobuf.Marshal(call)
		req, _ := http.NewRequest(http.MethodPost, base+agentAPIPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", codec.Protobuf.MediaType())
		req.Header.Set("Accept", codec.Protobuf.MediaType())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || !resp.Close || len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" ||
			resp.Header.Get("Content-Type") != codec.Protobuf.MediaType() || resp.Header.Get(agentStreamHeader) == "" {
			t.Fatalf("response %s close=%v transfer-encoding=%v headers %v", resp.Status, resp.Close, resp.TransferEncoding, resp.Header)
		}
		return resp, recordio.NewReader(resp.Body)
	}
	subscribed := func(r *recordio.Reader) string {
		t.Helper()
		rec, err := r.ReadRecord()
		if err != nil {
			t.Fatal(err)
		}
		ev := &agentpb.Event{}
		if err := codec.Protobuf.Unmarshal(rec, ev); err != nil || ev.GetType() != agentpb.Event_SUBSCRIBED {
			t.Fatalf("first event %v (%v), want SUBSCRIBED", ev, err)
		}
		return ev.GetSubscribed().GetAgentId().GetValue()
	}
	resp1, r1 := open("")
	id := subscribed(r1)

	// Subscribing again closes the first stream: its body ends cleanly.
	resp2, r2 := open(id)
	subscribed(r2)
	for {
		if _, err := r1.ReadRecord(); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Errorf("the replaced stream ended with %v, want its last chunk (EOF)", err)
			}
			break
		}
	}
	resp1.Body.Close()

	// The agent closing its connection disconnects it.
	resp2.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var connected bool
		if err := m.do(func() { connected = m.agents[id] != nil && m.agents[id].stream != nil }); err != nil {
			t.Fatal(err)
		}
		if !connected {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the master still holds the stream of an agent that closed its connection")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
