package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSecurityAuthn runs `agora master` with every authentication on and
// `agora agent` with its credential: a task runs for a principal with the
// right secret; without credentials the read-only, read-write and
// scheduler endpoints answer 401 with their realm; an agent with a wrong
// credential stops with an error and is never admitted.
func TestSecurityAuthn(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string { return writeFile(t, dir, name, content) }
	creds := file("credentials.json", `{"credentials":[{"principal":"ops","secret":"ops-secret"},{"principal":"agent","secret":"agent-secret"}]}`)
	good := file("agent.json", `{"principal":"agent","secret":"agent-secret"}`)
	bad := file("bad.json", `{"principal":"agent","secret":"guess"}`)
	secret := file("secret", "ops-secret\n")
	jwtKey := file("jwt.key", "key-that-signs-executor-tokens\n")

	m := start(t, "master", "--port=0", "--work_dir="+filepath.Join(dir, "master"),
		"--authenticate_http_frameworks", "--http_framework_authenticators=basic",
		"--authenticate_http_readonly", "--authenticate_http_readwrite", "--authenticate_agents",
		"--credentials="+creds)
	master := m.waitListening(t)

	status := func(method, path, body, user, pass string) (int, string) {
		req, _ := http.NewRequest(method, "http://"+master+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
	}
	for _, c := range []struct{ method, path, body, realm string }{
		{"GET", "/master/state", "", "mesos-master-readonly"},
		{"POST", "/api/v1", `{"type":"GET_HEALTH"}`, "mesos-master-readwrite"},
		{"POST", "/api/v1/scheduler", `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n"}}}`, "mesos-master-scheduler"},
	} {
		for _, pass := range []string{"", "wrong"} {
			user := ""
			if pass != "" {
				user = "ops"
			}
			code, challenge := status(c.method, c.path, c.body, user, pass)
			if code != 401 || challenge != `Basic realm="`+c.realm+`"` {
				t.Errorf("%s %s as %q: %d %q, want 401 with realm %s", c.method, c.path, user, code, challenge, c.realm)
			}
		}
	}
	if code, _ := status("GET", "/health", "", "", ""); code != 200 {
		t.Errorf("/health: %d", code)
	}

	// An agent with a wrong secret stops, saying why.
	b := start(t, "agent", "--master="+master, "--port=0", "--work_dir="+filepath.Join(dir, "bad-agent"), "--credential="+bad,
		"--resources=cpus:1;mem:256;disk:256;ports:[31100-31199]")
	select {
	case <-b.done:
	case <-time.After(20 * time.Second):
		t.Fatal("an agent with a wrong credential is still running")
	}
	if b.cmd.ProcessState.ExitCode() == 0 || !strings.Contains(b.output(), "refused authentication of principal 'agent'") {
		t.Errorf("bad agent: exit %d\n%s", b.cmd.ProcessState.ExitCode(), b.output())
	}

	agentAddr := start(t, "agent", "--master="+master, "--port=0", "--work_dir="+filepath.Join(dir, "agent"), "--credential="+good,
		"--authenticate_http_readonly", "--authenticate_http_readwrite", "--authenticate_http_executors",
		"--http_credentials="+creds, "--jwt_secret_key="+jwtKey,
		"--resources=cpus:2;mem:1024;disk:1024;ports:[31000-31099]").waitListening(t)
	for _, c := range []struct{ method, path, body, challenge string }{
		{"GET", "/state", "", `Basic realm="mesos-agent-readonly"`},
		{"GET", "/files/browse?path=/", "", `Basic realm="mesos-agent-readonly"`},
		{"POST", "/api/v1", `{"type":"GET_HEALTH"}`, `Basic realm="mesos-agent-readwrite"`},
		{"POST", "/api/v1/executor", `{"type":"HEARTBEAT"}`, `Bearer realm="mesos-agent-executor"`},
	} {
		req, _ := http.NewRequest(c.method, "http://"+agentAddr+c.path, strings.NewReader(c.body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || !strings.Contains(strings.Join(resp.Header.Values("WWW-Authenticate"), ","), c.challenge) {
			t.Errorf("agent %s %s: %d %q, want 401 %s", c.method, c.path, resp.StatusCode, resp.Header.Values("WWW-Authenticate"), c.challenge)
		}
	}
	waitFor(t, 20*time.Second, "the agent to be admitted", func() bool {
		req, _ := http.NewRequest("GET", "http://"+master+"/master/state", nil)
		req.SetBasicAuth("ops", "ops-secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var st struct{ Slaves []struct{ Active bool } }
		return json.NewDecoder(resp.Body).Decode(&st) == nil && len(st.Slaves) == 1 && st.Slaves[0].Active
	})

	run := func(env []string, args ...string) (string, int) {
		o, e, code := agoraEnv(t, env, append([]string{"run", "--master=" + master}, args...)...)
		return o + e, code
	}
	if out, code := run(nil, "--principal=ops", "--secret_file="+secret, "--", "echo", "authenticated"); code != 0 ||
		!strings.Contains(out, "authenticated") || !strings.Contains(out, "TASK_FINISHED") {
		t.Errorf("agora run --principal=ops --secret_file: exit %d\n%s", code, out)
	}
	if out, code := run([]string{"AGORA_PRINCIPAL=ops", "AGORA_SECRET=ops-secret"}, "--", "true"); code != 0 {
		t.Errorf("agora run with $AGORA_PRINCIPAL: exit %d\n%s", code, out)
	}
	if out, code := run([]string{"AGORA_PRINCIPAL=ops", "AGORA_SECRET=wrong"}, "--timeout=5s", "--", "true"); code == 0 ||
		!strings.Contains(out, "401") {
		t.Errorf("agora run with a wrong secret: exit %d\n%s", code, out)
	}
	// The operator CLI takes the same credentials.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, agoraBin, "agents", "--master="+master, "--principal=ops", "--secret_file="+secret)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "127.0.0.1") {
		t.Errorf("agora agents with credentials: %v\n%s", err, out)
	}
}

// TestSecurityRaftSecret: a group of three masters sharing
// --raft_secret_file elects a leader, survives losing it, and refuses a
// Raft connection that does not know the secret (401).
func TestSecurityRaftSecret(t *testing.T) {
	secret := writeFile(t, t.TempDir(), "raft.secret", "a secret the three masters share\n")
	c := startHA(t, 3, 0, "--raft_secret_file="+secret)
	first := c.waitLeader(20 * time.Second)
	c.kill9(first)
	waitFor(t, 30*time.Second, "another leader", func() bool { l := c.leader(); return l >= 0 && l != first })
	for _, addr := range c.addrs {
		req, _ := http.NewRequest("GET", "http://"+addr+"/agora/v1/raft", nil)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "agora-raft/1")
		req.Header.Set("Authorization", "Bearer guess")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			continue // the killed master
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: a Raft upgrade without the secret got %d, want 401", addr, resp.StatusCode)
		}
	}
}
