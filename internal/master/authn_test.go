package master

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	schedpb "github.com/agora-dev/agora/api/mesos/v1/scheduler"
	"github.com/agora-dev/agora/internal/auth"
	"google.golang.org/protobuf/proto"
)

func credentialsFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "credentials.json")
	err := os.WriteFile(p, []byte(`{"credentials":[{"principal":"ops","secret":"ops-secret"},{"principal":"fw","secret":"fw-secret"},{"principal":"agent","secret":"agent-secret"}]}`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func securedMaster(t *testing.T, edit func(*AuthConfig)) (*Master, string) {
	creds := credentialsFile(t)
	return startMaster(t, func(c *Config) {
		c.Auth = AuthConfig{
			AuthenticateHTTPFrameworks: true, HTTPFrameworkAuthenticators: "basic",
			AuthenticateHTTPReadonly: true, AuthenticateHTTPReadwrite: true, AuthenticateAgents: true,
			Credentials: creds,
		}
		if edit != nil {
			edit(&c.Auth)
		}
	})
}

func get(t *testing.T, url, authorization string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestHTTPAuthentication: each realm answers 401 with its challenge
// without good credentials and serves with them; open endpoints stay
// open.
func TestHTTPAuthentication(t *testing.T) {
	_, base := securedMaster(t, nil)
	for path, realm := range map[string]string{"/master/state": RealmReadonly, "/metrics/snapshot": RealmReadonly, "/state": RealmReadonly} {
		for _, h := range []string{"", auth.BasicHeader("ops", "wrong"), auth.BasicHeader("nobody", "ops-secret")} {
			resp := get(t, base+path, h)
			if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Basic realm="`+realm+`"` {
				t.Errorf("%s with %q: %d %q", path, h, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
			}
		}
		if resp := get(t, base+path, auth.BasicHeader("ops", "ops-secret")); resp.StatusCode != 200 {
			t.Errorf("%s with good credentials: %d", path, resp.StatusCode)
		}
	}
	for _, path := range []string{"/health", "/version", "/master/redirect", "/agora/v1/leader"} {
		if resp := get(t, base+path, ""); resp.StatusCode == 401 {
			t.Errorf("%s needs authentication", path)
		}
	}
	// The operator API is read-write.
	for _, c := range []codec.Codec{codec.JSON, codec.Protobuf} {
		code, _ := post(t, base+"/api/v1", c, &mesos.FrameworkID{Value: proto.String("x")}, nil)
		if code != 401 {
			t.Errorf("operator API without credentials (%s): %d", c.MediaType(), code)
		}
	}
}

// TestSchedulerAuthentication: the scheduler API's order of checks and
// codes (docs/mesos-security.md §5), in both codecs.
func TestSchedulerAuthentication(t *testing.T) {
	m, base := securedMaster(t, nil)
	url := base + "/api/v1/scheduler"
	for _, c := range []codec.Codec{codec.JSON, codec.Protobuf} {
		sub := &schedpb.Call{Type: schedpb.Call_SUBSCRIBE.Enum(), Subscribe: &schedpb.Call_Subscribe{FrameworkInfo: frameworkInfo("a")}}
		resp := postRaw(t, url, c.MediaType(), mustMarshal(t, c, sub), nil)
		resp.Body.Close()
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Basic realm="mesos-master-scheduler"` {
			t.Errorf("%s SUBSCRIBE without credentials: %d %q", c.MediaType(), resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		other := frameworkInfo("b")
		other.Principal = proto.String("someone-else")
		sub.Subscribe.FrameworkInfo = other
		code, body := post(t, url, c, sub, map[string]string{"Authorization": auth.BasicHeader("fw", "fw-secret")})
		want := "Failed to validate scheduler::Call: Authenticated principal 'fw' does not match principal 'someone-else' set in `FrameworkInfo`"
		if code != 400 || body != want {
			t.Errorf("%s mismatched principal: %d %q", c.MediaType(), code, body)
		}
	}
	// With good credentials and no principal, the master fills it in.
	s := &testScheduler{t: t, url: url, c: codec.JSON}
	call := &schedpb.Call{Type: schedpb.Call_SUBSCRIBE.Enum(), Subscribe: &schedpb.Call_Subscribe{FrameworkInfo: frameworkInfo("c")}}
	s.eventStream = openStream(t, url, codec.JSON, call, map[string]string{"Authorization": auth.BasicHeader("fw", "fw-secret")},
		func() *schedpb.Event { return &schedpb.Event{} })
	ev := s.next("SUBSCRIBED", func(e *schedpb.Event) bool { return e.GetType() == schedpb.Event_SUBSCRIBED })
	fid := ev.GetSubscribed().GetFrameworkId().GetValue()
	var principal string
	if err := m.do(func() { principal = m.frameworks[fid].info.GetPrincipal() }); err != nil || principal != "fw" {
		t.Errorf("framework principal %q, want the authenticated fw (%v)", principal, err)
	}
	// Another principal's call for this framework is a 400, not a 403.
	teardown := &schedpb.Call{Type: schedpb.Call_TEARDOWN.Enum(), FrameworkId: frameworkIDProto(fid)}
	code, body := post(t, url, codec.JSON, teardown, map[string]string{
		"Authorization": auth.BasicHeader("ops", "ops-secret"), streamIDHeader: s.headers.Get(streamIDHeader)})
	if code != 400 || !strings.Contains(body, "Authenticated principal 'ops' does not match principal 'fw'") {
		t.Errorf("call by another principal: %d %q", code, body)
	}
}

// TestAgentAuthentication: an agent without (good) credentials is never
// admitted; with them it is.
func TestAgentAuthentication(t *testing.T) {
	m, base := securedMaster(t, nil)
	for _, h := range []map[string]string{nil, {"Authorization": auth.BasicHeader("agent", "wrong")}} {
		code, _ := post(t, base+agentAPIPath, codec.Protobuf, subscribeAgentCall(""), h)
		if code != 401 {
			t.Errorf("agent SUBSCRIBE with %v: %d, want 401", h, code)
		}
	}
	var n int
	_ = m.do(func() { n = len(m.agents) })
	if n != 0 {
		t.Fatalf("%d agents admitted without credentials", n)
	}
	a := &fakeAgent{t: t, url: base + agentAPIPath}
	a.eventStream = openStream(t, a.url, codec.Protobuf, subscribeAgentCall(""),
		map[string]string{"Authorization": auth.BasicHeader("agent", "agent-secret")}, func() *agentpb.Event { return &agentpb.Event{} })
	a.next("agent SUBSCRIBED", func(e *agentpb.Event) bool { return e.GetType() == agentpb.Event_SUBSCRIBED })
}

// TestSchedulerRateLimit: --rate_limits answers 429 with Retry-After once
// a principal is over its rate.
func TestSchedulerRateLimit(t *testing.T) {
	_, base := securedMaster(t, func(a *AuthConfig) {
		a.RateLimits = `{"limits":[{"principal":"fw","qps":0.01,"capacity":2}]}`
	})
	url := base + "/api/v1/scheduler"
	s := &testScheduler{t: t, url: url, c: codec.JSON}
	hdr := map[string]string{"Authorization": auth.BasicHeader("fw", "fw-secret")}
	call := &schedpb.Call{Type: schedpb.Call_SUBSCRIBE.Enum(), Subscribe: &schedpb.Call_Subscribe{FrameworkInfo: frameworkInfo("r")}}
	s.eventStream = openStream(t, url, codec.JSON, call, hdr, func() *schedpb.Event { return &schedpb.Event{} })
	ev := s.next("SUBSCRIBED", func(e *schedpb.Event) bool { return e.GetType() == schedpb.Event_SUBSCRIBED })
	revive := &schedpb.Call{Type: schedpb.Call_REVIVE.Enum(), FrameworkId: ev.GetSubscribed().GetFrameworkId()}
	hdr[streamIDHeader] = s.headers.Get(streamIDHeader)
	if code, body := post(t, url, codec.JSON, revive, hdr); code != 202 {
		t.Fatalf("first call: %d %q", code, body)
	}
	resp := postRaw(t, url, codec.JSON.MediaType(), mustMarshal(t, codec.JSON, revive), hdr)
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("call over the rate: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// TestOpenWarning: a master configured for a non-loopback address without
// authentication says so on /agora/v1/leader (for the console); with
// authentication, or on loopback, it does not.
func TestOpenWarning(t *testing.T) {
	leader := func(base string) map[string]any {
		resp, err := http.Get(base + "/agora/v1/leader")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var o map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&o); err != nil {
			t.Fatal(err)
		}
		return o
	}
	open := func(c *Config) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		// Configured as if for 10.1.2.3; served on loopback.
		c.IP, c.Hostname, c.Listener = "10.1.2.3", "127.0.0.1", ln
	}
	_, base := startMaster(t, open)
	if w, _ := leader(base)["security_warning"].(string); !strings.Contains(w, "no authentication") {
		t.Errorf("open master: security_warning %q", w)
	}
	_, base = startMaster(t, nil)
	if w, ok := leader(base)["security_warning"]; ok {
		t.Errorf("loopback master: security_warning %v", w)
	}
	creds := credentialsFile(t)
	_, base = startMaster(t, func(c *Config) {
		open(c)
		c.Auth = AuthConfig{AuthenticateHTTPReadwrite: true, Credentials: creds}
	})
	if w, ok := leader(base)["security_warning"]; ok {
		t.Errorf("authenticating master: security_warning %v", w)
	}
}
