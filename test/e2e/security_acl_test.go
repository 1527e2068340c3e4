package e2e

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSecurityACLs runs `agora master` and `agora agent` with
// authentication and one ACL file in Mesos's format, and checks what each
// principal can do: dev may not register under prod nor run tasks, ops
// runs one and reads its output; dev sees none of ops' frameworks in
// /master/state (200, filtered) and may not read ops' sandbox, neither on
// the agent nor through the master's proxy.
func TestSecurityACLs(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string { return writeFile(t, dir, name, content) }
	creds := file("credentials.json", `{"credentials":[{"principal":"ops","secret":"o"},{"principal":"dev","secret":"d"},{"principal":"agent","secret":"a"}]}`)
	acls := file("acls.json", `{
	  "permissive": false,
	  "register_frameworks": [
	    {"principals": {"values": ["ops"]}, "roles": {"type": "ANY"}},
	    {"principals": {"type": "ANY"}, "roles": {"values": ["*"]}}
	  ],
	  "run_tasks": [
	    {"principals": {"values": ["dev"]}, "users": {"type": "NONE"}},
	    {"principals": {"type": "ANY"}, "users": {"type": "ANY"}}
	  ],
	  "view_frameworks": [{"principals": {"values": ["ops"]}, "users": {"type": "ANY"}}],
	  "view_tasks": [{"principals": {"values": ["ops"]}, "users": {"type": "ANY"}}],
	  "view_executors": [{"principals": {"values": ["ops"]}, "users": {"type": "ANY"}}],
	  "access_sandboxes": [{"principals": {"values": ["ops"]}, "users": {"type": "ANY"}}],
	  "register_agents": [{"principals": {"values": ["agent"]}, "agents": {"type": "ANY"}}],
	  "get_endpoints": [{"principals": {"values": ["ops"]}, "paths": {"values": ["/metrics/snapshot"]}}]
	}`)
	agentCred := file("agent.json", `{"principal":"agent","secret":"a"}`)

	master := start(t, "master", "--port=0", "--work_dir="+filepath.Join(dir, "master"),
		"--authenticate_http_frameworks", "--http_framework_authenticators=basic",
		"--authenticate_http_readonly", "--authenticate_http_readwrite", "--authenticate_agents",
		"--credentials="+creds, "--acls="+acls).waitListening(t)
	agentAddr := start(t, "agent", "--master="+master, "--port=0", "--work_dir="+filepath.Join(dir, "agent"),
		"--credential="+agentCred, "--authenticate_http_readonly", "--authenticate_http_readwrite",
		"--http_credentials="+creds, "--acls="+acls,
		"--resources=cpus:2;mem:1024;disk:1024;ports:[31200-31299]").waitListening(t)

	get := func(url, user, pass string, v any) int {
		req, _ := http.NewRequest("GET", url, nil)
		req.SetBasicAuth(user, pass)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if v != nil {
			_ = json.NewDecoder(resp.Body).Decode(v)
		}
		return resp.StatusCode
	}
	waitFor(t, 20*time.Second, "the agent to be admitted", func() bool {
		var st struct{ Slaves []struct{ ID string } }
		return get("http://"+master+"/master/state", "ops", "o", &st) == 200 && len(st.Slaves) == 1
	})

	run := func(principal, secret string, args ...string) (string, int) {
		o, e, code := agoraEnv(t, []string{"AGORA_PRINCIPAL=" + principal, "AGORA_SECRET=" + secret},
			append([]string{"run", "--master=" + master, "--timeout=20s"}, args...)...)
		return o + e, code
	}
	if out, code := run("dev", "d", "--role=prod", "--", "true"); code == 0 || !strings.Contains(out, "Not authorized to register framework") {
		t.Errorf("dev under role prod: exit %d\n%s", code, out)
	}
	if out, code := run("dev", "d", "--", "true"); code == 0 || !strings.Contains(out, "TASK_ERROR") || !strings.Contains(out, "is not authorized to launch task") {
		t.Errorf("dev's task: exit %d\n%s", code, out)
	}
	if out, code := run("ops", "o", "--role=prod", "--", "echo", "acl-ok"); code != 0 || !strings.Contains(out, "acl-ok") {
		t.Errorf("ops' task: exit %d\n%s", code, out)
	}

	type state struct {
		CompletedFrameworks []struct{ ID string } `json:"completed_frameworks"`
		Slaves              []struct{ ID string }
	}
	var asOps, asDev state
	if get("http://"+master+"/master/state", "ops", "o", &asOps) != 200 || len(asOps.CompletedFrameworks) == 0 {
		t.Fatalf("ops sees %d completed frameworks", len(asOps.CompletedFrameworks))
	}
	if code := get("http://"+master+"/master/state", "dev", "d", &asDev); code != 200 || len(asDev.CompletedFrameworks) != 0 {
		t.Errorf("dev: /master/state %d with %d completed frameworks, want 200 and none", code, len(asDev.CompletedFrameworks))
	}
	if code := get("http://"+master+"/metrics/snapshot", "dev", "d", nil); code != 403 {
		t.Errorf("dev: /metrics/snapshot %d, want 403", code)
	}
	// ops' sandbox, as the agent lists it to ops.
	var agentState struct {
		CompletedFrameworks []struct {
			CompletedExecutors []struct{ Directory string } `json:"completed_executors"`
		} `json:"completed_frameworks"`
	}
	if get("http://"+agentAddr+"/state", "ops", "o", &agentState) != 200 || len(agentState.CompletedFrameworks) == 0 ||
		len(agentState.CompletedFrameworks[0].CompletedExecutors) == 0 {
		t.Fatalf("the agent's /state as ops lists no completed executor: %+v", agentState)
	}
	sandbox := agentState.CompletedFrameworks[0].CompletedExecutors[0].Directory
	for who, want := range map[string]int{"ops": 200, "dev": 403} {
		pass := map[string]string{"ops": "o", "dev": "d"}[who]
		if code := get("http://"+agentAddr+"/files/read?offset=0&path="+sandbox+"/stdout", who, pass, nil); code != want {
			t.Errorf("%s reads the sandbox on the agent: %d, want %d", who, code, want)
		}
		proxy := "http://" + master + "/agora/v1/sandbox/" + asOps.Slaves[0].ID + "/files/read?offset=0&path=" + sandbox + "/stdout"
		if code := get(proxy, who, pass, nil); code != want {
			t.Errorf("%s reads the sandbox through the master: %d, want %d", who, code, want)
		}
	}
}
