package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/agora-dev/agora/internal/testutil"
	"golang.org/x/sys/unix"
)

// netns is a network namespace the test makes for itself: its own
// loopback, on which the test cuts single links with policy-routing rules
// (`ip rule … prohibit`), touching nothing outside it.
type netns struct {
	t    *testing.T
	name string
	fd   int
}

func newNetns(t *testing.T) *netns {
	t.Helper()
	_, err := exec.LookPath("ip")
	testutil.Require(t, "ip (iproute2) and root, for network namespaces", err == nil && os.Geteuid() == 0,
		"the partition test makes its own network namespace")
	n := &netns{t: t, name: fmt.Sprintf("agora-e2e-%d", os.Getpid()%100000*1000+int(time.Now().UnixNano()%1000))}
	n.ip("netns", "add", n.name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", n.name).Run() })
	n.ip("netns", "exec", n.name, "ip", "link", "set", "lo", "up")
	// Rules for the cuts go before the lookup of local addresses.
	n.ip("netns", "exec", n.name, "ip", "rule", "add", "pref", "1000", "lookup", "local")
	n.ip("netns", "exec", n.name, "ip", "rule", "del", "pref", "0")
	fd, err := unix.Open("/run/netns/"+n.name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	n.fd = fd
	t.Cleanup(func() { _ = unix.Close(fd) })
	return n
}

func (n *netns) ip(args ...string) {
	n.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		n.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// cut prohibits traffic between two addresses, both ways; heal undoes it.
func (n *netns) cut(a, b string) {
	for _, r := range [][2]string{{a, b}, {b, a}} {
		n.ip("netns", "exec", n.name, "ip", "rule", "add", "pref", "10", "from", r[0], "to", r[1], "prohibit")
	}
}

func (n *netns) heal(a, b string) {
	for _, r := range [][2]string{{a, b}, {b, a}} {
		n.ip("netns", "exec", n.name, "ip", "rule", "del", "pref", "10", "from", r[0], "to", r[1], "prohibit")
	}
}

// start runs agora inside the namespace.
func (n *netns) start(args ...string) *proc {
	n.t.Helper()
	return startProgram(n.t, "ip", append([]string{"netns", "exec", n.name, agoraBin}, args...)...)
}

// client is an HTTP client whose connections are made inside the
// namespace: the dialing thread enters it, dials, and comes back.
func (n *netns) client() *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		type res struct {
			c   net.Conn
			err error
		}
		ch := make(chan res, 1)
		go func() {
			runtime.LockOSThread()
			self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				runtime.UnlockOSThread()
				ch <- res{err: err}
				return
			}
			defer unix.Close(self)
			if err := unix.Setns(n.fd, unix.CLONE_NEWNET); err != nil {
				runtime.UnlockOSThread()
				ch <- res{err: err}
				return
			}
			c, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, network, addr)
			if unix.Setns(self, unix.CLONE_NEWNET) == nil {
				runtime.UnlockOSThread() // else the thread ends with this goroutine
			}
			ch <- res{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
	return &http.Client{
		Timeout:   3 * time.Second,
		Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

func nsGet(c *http.Client, url string, v any) (int, http.Header, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode == 200 {
		err = json.Unmarshal(b, v)
	}
	return resp.StatusCode, resp.Header, err
}

// TestHAPartitionedLeader is Mesos's classic split-brain case: the leader
// is cut off from the other masters (and only from them: it still reaches
// the agent, and the agent it). It steps down within the Raft lease,
// stops accepting work, the majority elects a new leader, the agent moves
// to it; when the partition heals the old leader follows the new one.
func TestHAPartitionedLeader(t *testing.T) {
	ns := newNetns(t)
	c := ns.client()
	ips := []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}
	var addrs []string
	for _, ip := range ips {
		addrs = append(addrs, ip+":5050")
	}
	list := strings.Join(addrs, ",")
	work := t.TempDir()
	for _, ip := range ips {
		ns.start("master", "--ip="+ip, "--port=5050", "--masters="+list, "--raft_timeout=500ms",
			"--work_dir="+filepath.Join(work, "master"+ip), "--agent_ping_timeout=250ms").waitListening(t)
	}
	ns.start("agent", "--ip=127.0.0.1", "--port=5051", "--master="+list, "--work_dir="+filepath.Join(work, "agent"),
		"--resources=cpus:1;mem:512;disk:512;ports:[31000-31009]").waitListening(t)

	leader := func() int {
		for i, a := range addrs {
			var li leaderInfo
			if code, _, err := nsGet(c, "http://"+a+"/agora/v1/leader", &li); err == nil && code == 200 && li.Elected {
				return i
			}
		}
		return -1
	}
	activeOn := func(i int) bool {
		var st struct{ Slaves []struct{ Active bool } }
		code, _, err := nsGet(c, "http://"+addrs[i]+"/master/state", &st)
		return err == nil && code == 200 && len(st.Slaves) == 1 && st.Slaves[0].Active
	}
	var l int
	waitFor(t, 20*time.Second, "a leader with the agent", func() bool { l = leader(); return l >= 0 && activeOn(l) })

	cutAt := time.Now()
	for i := range ips {
		if i != l {
			ns.cut(ips[l], ips[i])
		}
	}
	// The old leader stops leading within about the lease (half of
	// --raft_timeout), though it still reaches the agent.
	waitFor(t, 5*time.Second, "the cut-off leader to step down", func() bool {
		var li leaderInfo
		code, _, err := nsGet(c, "http://"+addrs[l]+"/agora/v1/leader", &li)
		return err == nil && code == 200 && !li.Elected
	})
	t.Logf("the cut-off leader stepped down after %v", time.Since(cutAt))
	// It takes no work: no framework can subscribe there, no state is served.
	code, _, _ := nsGet(c, "http://"+addrs[l]+"/master/state", nil)
	if code == 200 {
		t.Errorf("the cut-off master still serves /master/state")
	}
	var nl int
	waitFor(t, 15*time.Second, "the majority to elect a new leader with the agent", func() bool {
		nl = leader()
		return nl >= 0 && nl != l && activeOn(nl)
	})
	t.Logf("new leader %s with the agent after %v", addrs[nl], time.Since(cutAt))
	resp, err := c.Post("http://"+addrs[l]+"/api/v1/scheduler", "application/json",
		strings.NewReader(`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"split"}}}`))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Errorf("the cut-off master accepted a framework's SUBSCRIBE")
		}
	}

	for i := range ips {
		if i != l {
			ns.heal(ips[l], ips[i])
		}
	}
	waitFor(t, 15*time.Second, "the old leader to follow the new one", func() bool {
		var li leaderInfo
		code, _, err := nsGet(c, "http://"+addrs[l]+"/agora/v1/leader", &li)
		return err == nil && code == 200 && !li.Elected && li.Leader == addrs[nl]
	})
	code, h, _ := nsGet(c, "http://"+addrs[l]+"/master/state", nil)
	if code != 307 || h.Get("Location") != "//"+addrs[nl]+"/master/state" {
		t.Errorf("healed old leader: /master/state %d Location %q", code, h.Get("Location"))
	}
}
