package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestHostileInput throws what an attacker on the network would at a
// master and an agent: oversized and deeply nested bodies, garbage in
// both codecs, path tricks on every file endpoint, slow clients holding
// connections and a flood of subscriptions. Every input must get a clear
// 4xx (never a 5xx, a hang or a file outside a sandbox), and both
// daemons must stay up and keep serving. It reports how many inputs it
// tried.
func TestHostileInput(t *testing.T) {
	work := t.TempDir()
	mp := start(t, "master", "--port=0", "--work_dir="+filepath.Join(work, "master"))
	master := mp.waitListening(t)
	ap := start(t, "agent", "--master="+master, "--port=0", "--work_dir="+filepath.Join(work, "agent"),
		"--resources=cpus:2;mem:1024;disk:1024;ports:[31500-31599]")
	agent := ap.waitListening(t)
	var agentID string
	waitFor(t, 20*time.Second, "the agent", func() bool {
		var st struct{ Slaves []struct{ ID string } }
		if getJSON(t, "http://"+master+"/master/state", &st) != nil || len(st.Slaves) != 1 {
			return false
		}
		agentID = st.Slaves[0].ID
		return true
	})

	client := &http.Client{Timeout: 30 * time.Second}
	tried := 0
	send := func(method, u, ct string, body io.Reader, ok func(code int, body string) bool) {
		t.Helper()
		tried++
		req, err := http.NewRequest(method, u, body)
		if err != nil {
			t.Fatal(err)
		}
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		req.Header.Set("Accept", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			// The server may close a connection on a body it refuses
			// before reading it all; that is not a crash (checked below).
			return
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
		if !ok(resp.StatusCode, string(b)) {
			t.Errorf("%s %.300s (%s): %d %.200q", method, u, ct, resp.StatusCode, b)
		}
	}
	refused := func(code int, _ string) bool { return code >= 400 && code < 500 }

	endpoints := []string{
		"http://" + master + "/api/v1/scheduler", "http://" + master + "/api/v1",
		"http://" + agent + "/api/v1", "http://" + agent + "/api/v1/executor",
	}
	nested := strings.Repeat(`{"type":"SUBSCRIBE","subscribe":`, 20000) + "{}" + strings.Repeat("}", 20000)
	arrays := `{"type":"ACCEPT","accept":{"offer_ids":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}}`
	rng := rand.New(rand.NewPCG(1, 2))
	for _, ep := range endpoints {
		for _, ct := range []string{"application/json", "application/x-protobuf"} {
			if ct == "application/x-protobuf" {
				// Over the 64 MiB bound: 413, the body not read to its end.
				send("POST", ep, ct, io.LimitReader(zeros{}, 65<<20), func(code int, _ string) bool { return code == 413 })
			}
			send("POST", ep, ct, strings.NewReader(nested), refused)
			send("POST", ep, ct, strings.NewReader(arrays), refused)
			for i := 0; i < 25; i++ {
				garbage := make([]byte, rng.IntN(4096))
				for j := range garbage {
					garbage[j] = byte(rng.UintN(256))
				}
				send("POST", ep, ct, bytes.NewReader(garbage), refused)
			}
		}
		send("POST", ep, "text/html", strings.NewReader("<html>"), refused)
		send("GET", ep+"?jsonp=alert", "", nil, refused)
	}

	// Path tricks on every file endpoint, the agent's and the master's
	// proxy: nothing outside a sandbox is ever served.
	tricks := []string{"/etc/passwd", "../../../../etc/passwd", "/frameworks/../../../../etc/passwd",
		"/%2e%2e/%2e%2e/etc/passwd", "/etc/passwd\x00.txt", "//etc//passwd", "/proc/self/environ",
		filepath.Join(work, "agent") + "/../../../etc/passwd", filepath.Join(work, "agent"), "~root/.ssh/id_rsa", strings.Repeat("/a", 5000)}
	notServed := func(code int, body string) bool { return code >= 400 && code < 500 && !strings.Contains(body, "root:") }
	// /files/debug lists the attached sandboxes whatever the path says.
	noLeak := func(code int, body string) bool { return code < 500 && !strings.Contains(body, "root:") }
	for _, p := range tricks {
		for _, op := range []string{"browse", "read", "download", "debug"} {
			q := url.Values{"path": {p}, "offset": {"0"}, "length": {"100000"}}.Encode()
			check := notServed
			if op == "debug" {
				check = noLeak
			}
			send("GET", "http://"+agent+"/files/"+op+"?"+q, "", nil, check)
			if op != "debug" {
				send("GET", "http://"+master+"/agora/v1/sandbox/"+agentID+"/files/"+op+"?"+q, "", nil, notServed)
			}
		}
	}
	for _, id := range []string{"..", "../../etc", agentID + "/../..", "%2e%2e", "127.0.0.1:22"} {
		send("GET", "http://"+master+"/agora/v1/sandbox/"+id+"/files/read?path=/etc/passwd", "", nil, notServed)
	}

	// Slow clients: 200 connections that send half a request and wait.
	var slow []net.Conn
	for i := 0; i < 100; i++ {
		for _, addr := range []string{master, agent} {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatalf("slow client %d: %v", i, err)
			}
			_, _ = c.Write([]byte("POST /api/v1 HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n"))
			slow = append(slow, c)
			tried++
		}
	}
	for _, addr := range []string{master, agent} {
		start := time.Now()
		send("GET", "http://"+addr+"/health", "", nil, func(code int, _ string) bool { return code == 200 })
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s /health took %v with slow clients connected", addr, d)
		}
	}

	// A flood of subscriptions, dropped at once.
	var wg sync.WaitGroup
	var mu sync.Mutex
	opened := 0
	for i := 0; i < 300; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			body := fmt.Sprintf(`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"flood","name":"flood-%d"}}}`, i)
			req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+master+"/api/v1/scheduler", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			if resp.StatusCode == 200 {
				mu.Lock()
				opened++
				mu.Unlock()
			}
			resp.Body.Close()
		}(i)
	}
	wg.Wait()
	tried += 300
	for _, c := range slow {
		_ = c.Close()
	}

	for name, p := range map[string]*proc{"master": mp, "agent": ap} {
		select {
		case <-p.done:
			t.Fatalf("the %s died:\n%s", name, p.output())
		default:
		}
	}
	// Both still serve: the flood's frameworks go away, a task still runs.
	out := mustAgora(t, master, "run", "--timeout=30s", "--", "echo", "still-serving")
	if !strings.Contains(out, "still-serving") {
		t.Errorf("agora run after the attack:\n%s", out)
	}
	t.Logf("hostile inputs tried: %d (subscription flood: %d streams opened); master and agent stayed up and kept serving", tried, opened)
}

// zeros is an endless reader of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
