package agent

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	executorpb "github.com/agora-dev/agora/api/mesos/v1/executor"
	"github.com/agora-dev/agora/internal/auth"
)

// writeAuthFiles writes an HTTP credentials file (ops:secret) and a JWT
// key into dir.
func writeAuthFiles(t *testing.T, dir string) (creds, key string) {
	t.Helper()
	creds = filepath.Join(dir, "http-credentials.json")
	key = filepath.Join(dir, "jwt.key")
	if err := os.WriteFile(creds, []byte(`{"credentials":[{"principal":"ops","secret":"s3cret"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, []byte("a-key-for-executors\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return creds, key
}

// TestAgentHTTPAuthentication runs an agent with its three realms on: the
// read-only and read-write endpoints need Basic credentials, executors
// get a token whose claims must match their calls, and nothing about the
// agent's state is answered before that check.
func TestAgentHTTPAuthentication(t *testing.T) {
	t.Parallel()
	creds, keyFile := writeAuthFiles(t, t.TempDir())
	m := newFakeMaster(t)
	a := startAgent(t, m, func(c *Config) {
		c.Auth = AuthConfig{AuthenticateHTTPReadonly: true, AuthenticateHTTPReadwrite: true,
			AuthenticateHTTPExecutors: true, HTTPCredentials: creds, JWTSecretKey: keyFile}
	})
	ops := map[string]string{"Authorization": auth.BasicHeader("ops", "s3cret")}
	for _, tc := range []struct {
		method, path, ct string
		body             []byte
		hdr              map[string]string
		code             int
		challenge        string
	}{
		{"GET", "/state", "", nil, nil, 401, `Basic realm="mesos-agent-readonly"`},
		{"GET", "/slave(1)/state", "", nil, map[string]string{"Authorization": auth.BasicHeader("ops", "wrong")}, 401, `Basic realm="mesos-agent-readonly"`},
		{"GET", "/state", "", nil, ops, 200, ""},
		{"GET", "/flags", "", nil, nil, 401, `Basic realm="mesos-agent-readonly"`},
		{"GET", "/metrics/snapshot", "", nil, nil, 401, `Basic realm="mesos-agent-readonly"`},
		{"GET", "/files/browse?path=/", "", nil, nil, 401, `Basic realm="mesos-agent-readonly"`},
		{"GET", "/health", "", nil, nil, 200, ""},
		{"GET", "/version", "", nil, nil, 200, ""},
		{"POST", "/api/v1", "application/json", []byte(`{"type":"GET_HEALTH"}`), nil, 401, `Basic realm="mesos-agent-readwrite"`},
		{"POST", "/api/v1", "application/json", []byte(`{"type":"GET_HEALTH"}`), ops, 200, ""},
		{"POST", "/api/v1/executor", "application/json", []byte(`{}`), nil, 401, `Bearer realm="mesos-agent-executor"`},
	} {
		resp, body := doRequest(t, tc.method, a.url(tc.path), tc.ct, tc.body, tc.hdr)
		if resp.StatusCode != tc.code {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, resp.StatusCode, body, tc.code)
		}
		if got := strings.Join(resp.Header.Values("WWW-Authenticate"), "; "); tc.challenge != "" && !strings.Contains(got, tc.challenge) {
			t.Errorf("%s %s: WWW-Authenticate %q, want %q", tc.method, tc.path, got, tc.challenge)
		}
	}

	// The executor writes the token it was given into its sandbox.
	m.send(runTaskEvent("fw1", customTask("x1", "raw", `printf %s "$MESOS_EXECUTOR_AUTHENTICATION_TOKEN" > token; sleep 60`, nil)))
	var cid, dir string
	waitFor(t, 10*time.Second, "executor in /state", func() bool {
		_, body := doRequest(t, "GET", a.url("/state"), "", nil, ops)
		var s struct {
			Frameworks []struct {
				Executors []struct{ ID, Container, Directory string } `json:"executors"`
			} `json:"frameworks"`
		}
		if json.Unmarshal(body, &s) != nil || len(s.Frameworks) == 0 || len(s.Frameworks[0].Executors) == 0 {
			return false
		}
		cid, dir = s.Frameworks[0].Executors[0].Container, s.Frameworks[0].Executors[0].Directory
		return true
	})
	key, _ := os.ReadFile(keyFile)
	token := auth.SignExecutorToken(key, auth.ExecutorClaims{FrameworkID: "fw1", ExecutorID: "raw", ContainerID: cid})
	waitFor(t, 10*time.Second, "the executor's token file", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "token"))
		return string(b) == token
	})

	bearer := func(c auth.ExecutorClaims) map[string]string {
		return map[string]string{"Authorization": "Bearer " + auth.SignExecutorToken(key, c)}
	}
	hb := jsonBody(t, execCall(t, executorpb.Call_HEARTBEAT, "fw1", "raw"))
	api := a.url("/api/v1/executor")
	for _, tc := range []struct {
		name string
		body []byte
		hdr  map[string]string
		code int
		msg  string
	}{
		{"Basic principal", hb, ops, 403, `Authenticated principal 'ops' does not contain an 'fid' claim with the framework ID fw1, which is set in the call`},
		{"other executor's token", hb, bearer(auth.ExecutorClaims{FrameworkID: "fw1", ExecutorID: "other", ContainerID: cid}), 403, `does not contain an 'eid' claim with the executor ID raw`},
		{"other framework's token", hb, bearer(auth.ExecutorClaims{FrameworkID: "fw2", ExecutorID: "raw", ContainerID: cid}), 403, `does not contain an 'fid' claim`},
		{"unknown framework, no state told", jsonBody(t, execCall(t, executorpb.Call_HEARTBEAT, "nofw", "raw")), map[string]string{"Authorization": "Bearer " + token}, 403, `'fid' claim with the framework ID nofw`},
		{"old container's token", hb, bearer(auth.ExecutorClaims{FrameworkID: "fw1", ExecutorID: "raw", ContainerID: "old"}), 403, `does not contain a 'cid' claim with the correct active ContainerID`},
		{"forged token", hb, map[string]string{"Authorization": "Bearer " + auth.SignExecutorToken([]byte("guess"), auth.ExecutorClaims{FrameworkID: "fw1", ExecutorID: "raw", ContainerID: cid})}, 401, ""},
		{"own token, not subscribed", hb, map[string]string{"Authorization": "Bearer " + token}, 403, `is not subscribed`},
	} {
		resp, body := doRequest(t, "POST", api, "application/json", tc.body, tc.hdr)
		if resp.StatusCode != tc.code || !strings.Contains(string(body), tc.msg) {
			t.Errorf("%s: %d %q, want %d %q", tc.name, resp.StatusCode, body, tc.code, tc.msg)
		}
	}
	resp, body := doRequest(t, "POST", api, "application/json", jsonBody(t, execCall(t, executorpb.Call_SUBSCRIBE, "fw1", "raw")),
		map[string]string{"Authorization": "Bearer " + token, "Accept": "application/json"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("SUBSCRIBE with the executor's token: %d %s", resp.StatusCode, body)
	}
}

// TestAgentAuthenticationStartErrors checks the start-up errors, worded
// as Mesos's.
func TestAgentAuthenticationStartErrors(t *testing.T) {
	t.Parallel()
	creds, key := writeAuthFiles(t, t.TempDir())
	for _, tc := range []struct {
		cfg  AuthConfig
		want string
	}{
		{AuthConfig{AuthenticateHTTPExecutors: true}, "--jwt_secret_key must be specified when --authenticate_http_executors is set to true"},
		{AuthConfig{AuthenticateHTTPReadonly: true}, "No credentials provided for the default 'basic' HTTP authenticator for realm 'mesos-agent-readonly'"},
		{AuthConfig{AuthenticateHTTPReadwrite: true, HTTPCredentials: creds, HTTPAuthenticators: "basic,kerberos"}, "HTTP authenticator 'kerberos' not found"},
		{AuthConfig{AuthenticateHTTPReadwrite: true, HTTPCredentials: "/nonexistent/creds.json"}, "Failed to read credentials file '/nonexistent/creds.json'"},
		{AuthConfig{AuthenticateHTTPExecutors: true, JWTSecretKey: "/nonexistent/key"}, "Failed to read credentials file '/nonexistent/key'"},
	} {
		cfg := DefaultConfig()
		cfg.Master, cfg.WorkDir, cfg.IP, cfg.Auth = "127.0.0.1:1", t.TempDir(), "127.0.0.1", tc.cfg
		cfg.Resources = "cpus:1;mem:128;disk:128"
		if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
	// Executor authentication alone needs no Basic credentials.
	cfg := DefaultConfig()
	cfg.Master, cfg.WorkDir, cfg.IP = "127.0.0.1:1", t.TempDir(), "127.0.0.1"
	cfg.Resources = "cpus:1;mem:128;disk:128"
	cfg.Auth = AuthConfig{AuthenticateHTTPExecutors: true, JWTSecretKey: key}
	a, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = a.ln.Close()
}

// TestAgentACLs checks the agent's authorization: /state and GET_STATE
// filtered with 200, /flags 403, sandboxes readable only with
// access_sandboxes, ATTACH_CONTAINER_OUTPUT only with its action or the
// executor's own token.
func TestAgentACLs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, keyFile := writeAuthFiles(t, dir)
	creds := filepath.Join(dir, "two.json")
	if err := os.WriteFile(creds, []byte(`{"credentials":[{"principal":"ops","secret":"o"},{"principal":"dev","secret":"d"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	ops := map[string]string{"Authorization": auth.BasicHeader("ops", "o")}
	dev := map[string]string{"Authorization": auth.BasicHeader("dev", "d")}
	m := newFakeMaster(t)
	a := startAgent(t, m, func(c *Config) {
		c.Auth = AuthConfig{AuthenticateHTTPReadonly: true, AuthenticateHTTPReadwrite: true,
			AuthenticateHTTPExecutors: true, HTTPCredentials: creds, JWTSecretKey: keyFile}
		c.ACLs = `{"permissive": false,
		  "view_frameworks": [{"principals": {"values": ["ops"]}, "users": {"type": "ANY"}}],
		  "view_executors": [{"principals": {"values": ["ops"]}, "users": {"type": "ANY"}}],
		  "view_tasks": [{"principals": {"values": ["ops"]}, "users": {"type": "ANY"}}],
		  "access_sandboxes": [{"principals": {"values": ["ops"]}, "users": {"type": "ANY"}}],
		  "attach_containers_output": [{"principals": {"values": ["ops"]}, "users": {"type": "ANY"}}]}`
	})
	m.send(runTaskEvent("fw1", customTask("x1", "raw", "sleep 60", nil)))
	var cid, sandbox string
	waitFor(t, 10*time.Second, "executor in /state", func() bool {
		_, body := doRequest(t, "GET", a.url("/state"), "", nil, ops)
		var s struct {
			Frameworks []struct {
				Executors []struct{ Container, Directory string } `json:"executors"`
			} `json:"frameworks"`
		}
		if json.Unmarshal(body, &s) != nil || len(s.Frameworks) == 0 || len(s.Frameworks[0].Executors) == 0 {
			return false
		}
		cid, sandbox = s.Frameworks[0].Executors[0].Container, s.Frameworks[0].Executors[0].Directory
		return true
	})
	waitFor(t, 10*time.Second, "the sandbox in /files", func() bool {
		resp, _ := doRequest(t, "GET", a.url("/files/browse?path="+sandbox), "", nil, ops)
		return resp.StatusCode == 200
	})
	var st struct {
		Frameworks []any `json:"frameworks"`
		Flags      any   `json:"flags"`
	}
	resp, body := doRequest(t, "GET", a.url("/state"), "", nil, dev)
	if err := json.Unmarshal(body, &st); err != nil || resp.StatusCode != 200 || len(st.Frameworks) != 0 || st.Flags != nil {
		t.Errorf("/state as dev: %d, %d frameworks, flags %v (%v)", resp.StatusCode, len(st.Frameworks), st.Flags != nil, err)
	}
	resp, body = doRequest(t, "POST", a.url("/api/v1"), "application/json", []byte(`{"type":"GET_FRAMEWORKS"}`), dev)
	if resp.StatusCode != 200 || strings.Contains(string(body), "fw1") {
		t.Errorf("GET_FRAMEWORKS as dev: %d %s", resp.StatusCode, body)
	}
	for _, tc := range []struct {
		method, path, ct string
		body             []byte
		hdr              map[string]string
		code             int
	}{
		{"GET", "/flags", "", nil, ops, 403},
		{"POST", "/api/v1", "application/json", []byte(`{"type":"GET_FLAGS"}`), ops, 403},
		{"GET", "/files/browse?path=" + sandbox, "", nil, dev, 403},
		{"GET", "/files/read?offset=0&path=" + sandbox + "/stdout", "", nil, dev, 403},
		{"GET", "/files/browse?path=" + sandbox, "", nil, ops, 200},
		{"GET", "/files/browse?path=/frameworks/fw1/executors/raw/runs/latest/../latest", "", nil, dev, 403},
	} {
		resp, body := doRequest(t, tc.method, a.url(tc.path), tc.ct, tc.body, tc.hdr)
		if resp.StatusCode != tc.code {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, resp.StatusCode, body, tc.code)
		}
	}
	key, _ := os.ReadFile(keyFile)
	attach := []byte(`{"type":"ATTACH_CONTAINER_OUTPUT","attach_container_output":{"container_id":{"value":"` + cid + `"}}}`)
	own := map[string]string{"Accept": "application/recordio", "Message-Accept": "application/json",
		"Authorization": "Bearer " + auth.SignExecutorToken(key, auth.ExecutorClaims{FrameworkID: "fw1", ExecutorID: "raw", ContainerID: cid})}
	other := map[string]string{"Accept": "application/recordio", "Message-Accept": "application/json",
		"Authorization": "Bearer " + auth.SignExecutorToken(key, auth.ExecutorClaims{FrameworkID: "fw1", ExecutorID: "raw", ContainerID: "another"})}
	if resp, body := doRequest(t, "POST", a.url("/api/v1"), "application/json", attach, map[string]string{"Authorization": dev["Authorization"], "Accept": "application/recordio"}); resp.StatusCode != 403 {
		t.Errorf("ATTACH_CONTAINER_OUTPUT as dev: %d %s", resp.StatusCode, body)
	}
	if resp, body := doRequest(t, "POST", a.url("/api/v1"), "application/json", attach, other); resp.StatusCode != 403 {
		t.Errorf("ATTACH_CONTAINER_OUTPUT with another container's token: %d %s", resp.StatusCode, body)
	}
	if resp, body := doRequest(t, "POST", a.url("/api/v1"), "application/json", []byte(`{"type":"GET_STATE"}`), own); resp.StatusCode != 403 {
		t.Errorf("GET_STATE with an executor's token: %d %s", resp.StatusCode, body)
	}
	// The executor's own token passes the ACLs (the custom executor has no
	// output switchboard, so the handler's own answer follows).
	if resp, body := doRequest(t, "POST", a.url("/api/v1"), "application/json", attach, own); resp.StatusCode == 403 || resp.StatusCode == 401 {
		t.Errorf("ATTACH_CONTAINER_OUTPUT with the executor's token: %d %s", resp.StatusCode, body)
	}
}
