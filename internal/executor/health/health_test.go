package health

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"google.golang.org/protobuf/proto"
)

// fast returns a check with tiny intervals and no grace period.
func fast(hc *mesos.HealthCheck) *mesos.HealthCheck {
	hc.DelaySeconds = proto.Float64(0)
	hc.IntervalSeconds = proto.Float64(0.01)
	hc.TimeoutSeconds = proto.Float64(2)
	hc.GracePeriodSeconds = proto.Float64(0)
	if hc.ConsecutiveFailures == nil {
		hc.ConsecutiveFailures = proto.Uint32(3)
	}
	return hc
}

type recorder struct {
	mu      sync.Mutex
	results []Result
}

func (r *recorder) report(res Result) {
	r.mu.Lock()
	r.results = append(r.results, res)
	r.mu.Unlock()
}

func (r *recorder) get() []Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Result(nil), r.results...)
}

// run runs the check until it returns (Kill) or until cond holds.
func run(t *testing.T, hc *mesos.HealthCheck, opts Options, until func([]Result) bool) []Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rec := &recorder{}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, hc, opts, rec.report) }()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			return rec.get()
		case <-deadline:
			t.Fatalf("timed out; results so far %+v", rec.get())
		case <-time.After(5 * time.Millisecond):
			if until != nil && until(rec.get()) {
				cancel()
				<-done
				return rec.get()
			}
		}
	}
}

func TestCommandCheckFailsAndKills(t *testing.T) {
	t.Parallel()
	hc := fast(&mesos.HealthCheck{Type: mesos.HealthCheck_COMMAND.Enum(),
		Command: &mesos.CommandInfo{Value: proto.String("exit 1")}})
	got := run(t, hc, Options{}, nil)
	if len(got) != 2 || got[0].Healthy || got[0].Kill || got[0].ConsecutiveFailures != 1 ||
		got[1].Healthy || !got[1].Kill || got[1].ConsecutiveFailures != 3 {
		t.Fatalf("results %+v, want first failure then kill at 3", got)
	}
	if got[1].Message == "" {
		t.Error("no failure message")
	}
}

func TestCommandCheckUsesSandboxAndEnv(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ready"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	hc := fast(&mesos.HealthCheck{Type: mesos.HealthCheck_COMMAND.Enum(),
		Command: &mesos.CommandInfo{Value: proto.String(`test -f ready && test "$FOO" = bar`)}})
	got := run(t, hc, Options{Dir: dir, Env: []string{"FOO=bar", "PATH=" + os.Getenv("PATH")}},
		func(r []Result) bool { return len(r) > 0 })
	if !got[0].Healthy {
		t.Fatalf("results %+v, want healthy", got)
	}
}

func TestCommandCheckTimeout(t *testing.T) {
	t.Parallel()
	hc := fast(&mesos.HealthCheck{Command: &mesos.CommandInfo{Value: proto.String("sleep 30")},
		ConsecutiveFailures: proto.Uint32(1)})
	hc.TimeoutSeconds = proto.Float64(0.05)
	got := run(t, hc, Options{}, nil)
	if len(got) != 1 || !got[0].Kill {
		t.Fatalf("results %+v, want a kill after one timeout", got)
	}
}

func TestHTTPCheckTurnsHealthy(t *testing.T) {
	t.Parallel()
	var ready atomic.Bool
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			http.NotFound(w, r)
			return
		}
		// Unhealthy for the first requests, then a redirect (3xx counts
		// as healthy in Mesos).
		if hits.Add(1) >= 3 {
			ready.Store(true)
		}
		if !ready.Load() {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	hc := fast(&mesos.HealthCheck{Type: mesos.HealthCheck_HTTP.Enum(),
		Http: &mesos.HealthCheck_HTTPCheckInfo{Port: proto.Uint32(uint32(port)), Path: proto.String("/health")}})
	hc.ConsecutiveFailures = proto.Uint32(10)
	got := run(t, hc, Options{}, func(r []Result) bool { return len(r) > 0 && r[len(r)-1].Healthy })
	if len(got) != 2 || got[0].Healthy || got[0].ConsecutiveFailures != 1 || !got[1].Healthy {
		t.Fatalf("results %+v, want unhealthy then healthy", got)
	}
}

func TestHTTPCheckGracePeriod(t *testing.T) {
	t.Parallel()
	// Failures within the grace period are not reported; the first success
	// is.
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) < 4 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	hc := fast(&mesos.HealthCheck{Http: &mesos.HealthCheck_HTTPCheckInfo{Port: proto.Uint32(uint32(port))}})
	hc.GracePeriodSeconds = proto.Float64(60)
	hc.ConsecutiveFailures = proto.Uint32(1)
	got := run(t, hc, Options{}, func(r []Result) bool { return len(r) > 0 })
	if len(got) != 1 || !got[0].Healthy {
		t.Fatalf("results %+v, want only healthy", got)
	}
	if hits.Load() < 4 {
		t.Fatalf("%d checks, want at least 4", hits.Load())
	}
}

func TestTCPCheck(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	hc := fast(&mesos.HealthCheck{Type: mesos.HealthCheck_TCP.Enum(),
		Tcp: &mesos.HealthCheck_TCPCheckInfo{Port: proto.Uint32(uint32(port))}})
	got := run(t, hc, Options{}, func(r []Result) bool { return len(r) > 0 })
	if !got[0].Healthy {
		t.Fatalf("results %+v, want healthy", got)
	}

	// Once the listener is gone, the checks fail: one report of the
	// failure, then the kill.
	ln.Close()
	hc.ConsecutiveFailures = proto.Uint32(2)
	got = run(t, hc, Options{}, nil)
	if len(got) != 2 || got[0].Healthy || !got[1].Kill {
		t.Fatalf("results %+v after close, want failure then kill", got)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	bad := []*mesos.HealthCheck{
		{},
		{Type: mesos.HealthCheck_COMMAND.Enum()},
		{Type: mesos.HealthCheck_HTTP.Enum(), Http: &mesos.HealthCheck_HTTPCheckInfo{Port: proto.Uint32(0)}},
		{Type: mesos.HealthCheck_HTTP.Enum(), Http: &mesos.HealthCheck_HTTPCheckInfo{Port: proto.Uint32(80), Scheme: proto.String("ftp")}},
		{Type: mesos.HealthCheck_TCP.Enum(), Tcp: &mesos.HealthCheck_TCPCheckInfo{Port: proto.Uint32(70000)}},
		{Command: &mesos.CommandInfo{Value: proto.String("true")}, IntervalSeconds: proto.Float64(-1)},
	}
	for i, hc := range bad {
		if Validate(hc) == nil {
			t.Errorf("check %d (%v) accepted", i, hc)
		}
	}
	ok := &mesos.HealthCheck{Tcp: &mesos.HealthCheck_TCPCheckInfo{Port: proto.Uint32(80)}}
	if err := Validate(ok); err != nil {
		t.Errorf("%v: %v", ok, err)
	}
}
