package conformance

import (
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// haGroup is three `agora master --masters=…` processes and one agent
// given the whole list.
type haGroup struct {
	addrs   []string
	masters []*proc
}

func startGroup(t *testing.T) *haGroup {
	t.Helper()
	dir := t.TempDir()
	g := &haGroup{}
	var lns []net.Listener
	for range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		g.addrs = append(g.addrs, ln.Addr().String())
	}
	for _, ln := range lns {
		_ = ln.Close()
	}
	list := strings.Join(g.addrs, ",")
	for i, a := range g.addrs {
		_, port, _ := net.SplitHostPort(a)
		p := start(t, agoraBin, "master", "--ip=127.0.0.1", "--port="+port, "--masters="+list,
			"--raft_timeout=500ms", "--work_dir="+filepath.Join(dir, "master"+strconv.Itoa(i)))
		p.waitListening(t)
		g.masters = append(g.masters, p)
	}
	a := start(t, agoraBin, "agent", "--switch_user=false", "--master="+list, "--ip=127.0.0.1", "--port=0",
		"--work_dir="+filepath.Join(dir, "agent"), "--resources=cpus:2;mem:1024;disk:2048;ports:[31000-31099]")
	a.waitListening(t)
	waitFor(t, 30*time.Second, "a leader with the agent", func() bool {
		l := g.leader()
		if l == "" {
			return false
		}
		var st struct{ Slaves []struct{ Active bool } }
		return getJSON("http://"+l+"/master/state", &st) == nil && len(st.Slaves) == 1 && st.Slaves[0].Active
	})
	return g
}

func (g *haGroup) leader() string {
	for _, a := range g.addrs {
		resp, err := (&http.Client{Timeout: time.Second}).Get("http://" + a + "/agora/v1/leader")
		if err != nil {
			continue
		}
		var li struct {
			Elected bool `json:"elected"`
		}
		err = json.NewDecoder(resp.Body).Decode(&li)
		resp.Body.Close()
		if err == nil && li.Elected {
			return a
		}
	}
	return ""
}

// TestMshThroughStandby: msh given only a standby master's address runs
// its command: it follows the standby's 307 for SUBSCRIBE, and the calls
// it keeps sending to the address it was given reach the leader.
func TestMshThroughStandby(t *testing.T) {
	t.Parallel()
	g := startGroup(t)
	l := g.leader()
	standby := g.addrs[0]
	if standby == l {
		standby = g.addrs[1]
	}
	code, out := run(t, mshBin, "-master", standby, "--", "echo", "hello-through-a-standby")
	if code != 0 {
		t.Fatalf("msh -master=<standby> -- echo: exit %d, want 0; output:\n%s", code, out)
	}
	if !strings.Contains(out, "TASK_FINISHED") {
		t.Errorf("msh output lacks TASK_FINISHED:\n%s", out)
	}
}
