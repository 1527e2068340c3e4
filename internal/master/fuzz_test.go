package master

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	schedpb "github.com/agora-dev/agora/api/mesos/v1/scheduler"
	"google.golang.org/protobuf/proto"
)

// FuzzSchedulerAPI posts arbitrary bodies to /api/v1/scheduler and the
// operator API: the master answers with one of Mesos's status codes and
// keeps working, whatever the input.
func FuzzSchedulerAPI(f *testing.F) {
	sub, _ := proto.Marshal(&schedpb.Call{Type: schedpb.Call_SUBSCRIBE.Enum(), Subscribe: &schedpb.Call_Subscribe{
		FrameworkInfo: &mesos.FrameworkInfo{User: proto.String("u"), Name: proto.String("n")}}})
	acc, _ := proto.Marshal(&schedpb.Call{Type: schedpb.Call_ACCEPT.Enum(), FrameworkId: &mesos.FrameworkID{Value: proto.String("x")},
		Accept: &schedpb.Call_Accept{OfferIds: []*mesos.OfferID{{Value: proto.String("o")}}}})
	for _, seed := range []struct {
		json bool
		body string
	}{
		{true, `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n","roles":["a","a"],"capabilities":[{"type":"MULTI_ROLE"}]}}}`},
		{true, `{"type":"TEARDOWN","framework_id":{"value":"x"}}`},
		{true, `{"type":"UNKNOWN"}`},
		{true, `{"type":"GET_STATE"}`},
		{true, `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n","failover_timeout":-1e308}}}`},
		{true, `[1,2,3]`},
		{false, string(sub)},
		{false, string(acc)},
	} {
		f.Add(seed.json, []byte(seed.body))
	}
	cfg := DefaultConfig()
	cfg.Port = 0
	m, err := New(cfg, nil)
	if err != nil {
		f.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = m.Run(ctx); close(done) }()
	f.Cleanup(func() { cancel(); <-done })
	h := m.Handler()
	allowed := map[int]bool{200: true, 202: true, 307: true, 400: true, 403: true, 404: true,
		406: true, 409: true, 415: true, 501: true, 503: true}

	f.Fuzz(func(t *testing.T, asJSON bool, body []byte) {
		ct := "application/x-protobuf"
		if asJSON {
			ct = "application/json"
		}
		for _, path := range []string{"/api/v1/scheduler", "/api/v1"} {
			// A valid SUBSCRIBE opens a stream: bound it.
			rctx, rcancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			req := httptest.NewRequestWithContext(rctx, http.MethodPost, path, bytes.NewReader(body))
			req.Header.Set("Content-Type", ct)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			rcancel()
			if !allowed[rec.Code] {
				t.Fatalf("POST %s %q: status %d %q", path, body, rec.Code, rec.Body.String())
			}
		}
		// The master still answers.
		if _, err := m.ConnectedAgents(); err != nil {
			t.Fatalf("master stopped answering: %v", err)
		}
	})
}
