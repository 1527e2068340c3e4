// Package e2e drives the agora binary as separate processes: a master and
// agents started the way a user starts them, and frameworks written from
// the Mesos documentation alone (JSON over HTTP, no Agora code).
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var agoraBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "agora-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Agents switch to the framework's user (--switch_user is on by
	// default): that user must reach the binary, the command executor.
	_ = os.Chmod(dir, 0o755)
	agoraBin = filepath.Join(dir, "agora")
	// The binary is built with the race detector, except for measurements
	// (AGORA_E2E_NORACE=1), where it would distort the figures.
	// Agents run the agora-executor beside it for task groups and the
	// agora-supervisor for command tasks, as after `make build`.
	for _, pkg := range []string{"cmd/agora", "cmd/agora-executor", "cmd/agora-supervisor"} {
		bin := filepath.Join(dir, filepath.Base(pkg))
		args := []string{"build", "-race", "-o", bin, "github.com/agora-dev/agora/" + pkg}
		if os.Getenv("AGORA_E2E_NORACE") != "" {
			args = append(args[:1], args[2:]...)
		}
		build := exec.Command("go", args...)
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building", pkg+":", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running agora process whose output is captured.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	mu   sync.Mutex
	out  bytes.Buffer
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// start runs agora with args and stops it (SIGTERM, then SIGKILL) when the
// test ends.
//
// An agent switches to each framework's user by default (--switch_user);
// tests that make their agents' work dirs with t.TempDir (mode 0700, out of
// other users' reach) run them with --switch_user=false unless they say
// otherwise. cluster() makes reachable work dirs and keeps the default.
func start(t *testing.T, args ...string) *proc {
	t.Helper()
	return startEnv(t, nil, args...)
}

// startEnv is start with variables added to the environment.
func startEnv(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	if len(args) > 0 && args[0] == "agent" && !slices.ContainsFunc(args, func(a string) bool {
		return strings.HasPrefix(a, "--switch_user") || strings.HasPrefix(a, "--no-switch_user")
	}) {
		args = append(slices.Clone(args), "--switch_user=false")
	}
	return startProgramEnv(t, env, agoraBin, args...)
}

// startProgram is start for any program (`ip netns exec NS agora ...`).
func startProgram(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	return startProgramEnv(t, nil, name, args...)
}

func startProgramEnv(t *testing.T, env []string, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(name, args...)}
	if env != nil {
		p.cmd.Env = append(os.Environ(), env...)
	}
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start agora %v: %v", args, err)
	}
	done := make(chan struct{})
	p.done = done
	go func() { _ = p.cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("output of agora %s:\n%s", strings.Join(args, " "), p.output())
		}
	})
	return p
}

var listenRE = regexp.MustCompile(`listening on https?://([0-9.]+:[0-9]+)`)

// waitListening waits for the process to print its address.
func (p *proc) waitListening(t *testing.T) string {
	t.Helper()
	var addr string
	waitFor(t, 20*time.Second, "process to listen", func() bool {
		if m := listenRE.FindStringSubmatch(p.output()); m != nil {
			addr = m[1]
			return true
		}
		return false
	})
	return addr
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cluster starts a master and n agents as separate processes.
func cluster(t *testing.T, n int, masterArgs ...string) (master string, agents []string) {
	t.Helper()
	work := traversableTempDir(t)
	m := start(t, append([]string{"master", "--port=0", "--work_dir=" + filepath.Join(work, "master")}, masterArgs...)...)
	master = m.waitListening(t)
	for i := 0; i < n; i++ {
		a := start(t, "agent", "--master="+master, "--port=0", "--work_dir="+filepath.Join(work, "agent"+strconv.Itoa(i)),
			"--resources=cpus:2;mem:1024;disk:2048;ports:[31000-31099]", "--switch_user")
		agents = append(agents, a.waitListening(t))
	}
	waitFor(t, 20*time.Second, "agents to register", func() bool {
		var st struct{ Slaves []struct{ Active bool } }
		if getJSON(t, "http://"+master+"/master/state", &st) != nil {
			return false
		}
		active := 0
		for _, s := range st.Slaves {
			if s.Active {
				active++
			}
		}
		return active == n
	})
	return master, agents
}

func getJSON(t *testing.T, url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// jsonScheduler is a framework written from the Mesos scheduler HTTP API
// documentation: JSON calls, a RecordIO event stream, nothing from Agora.
type jsonScheduler struct {
	t         *testing.T
	url       string
	streamID  string
	id        string
	events    chan map[string]any
	cancel    context.CancelFunc
	streamEnd chan struct{}
}

func subscribe(t *testing.T, master string, info map[string]any) *jsonScheduler {
	t.Helper()
	s := &jsonScheduler{t: t, url: "http://" + master + "/api/v1/scheduler", events: make(chan map[string]any, 1024),
		streamEnd: make(chan struct{})}
	call := map[string]any{"type": "SUBSCRIBE", "subscribe": map[string]any{"framework_info": info}}
	if id, ok := info["id"]; ok {
		call["framework_id"] = id
	}
	body, _ := json.Marshal(call)
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	req, _ := http.NewRequestWithContext(ctx, "POST", s.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("subscribe: %s: %s", resp.Status, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("subscribe Content-Type %q", ct)
	}
	s.streamID = resp.Header.Get("Mesos-Stream-Id")
	if s.streamID == "" {
		t.Fatal("subscribe: no Mesos-Stream-Id header")
	}
	go s.read(resp.Body)
	t.Cleanup(func() { cancel(); <-s.streamEnd })
	ev := s.next("SUBSCRIBED", 10*time.Second)
	s.id = ev["subscribed"].(map[string]any)["framework_id"].(map[string]any)["value"].(string)
	return s
}

// read parses the RecordIO stream: "<length>\n<json>".
func (s *jsonScheduler) read(body io.ReadCloser) {
	defer close(s.streamEnd)
	defer body.Close()
	r := bufio.NewReader(body)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		n, err := strconv.Atoi(strings.TrimSpace(line))
		if err != nil {
			s.t.Errorf("bad RecordIO length %q", line)
			return
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return
		}
		var ev map[string]any
		if err := json.Unmarshal(buf, &ev); err != nil {
			s.t.Errorf("bad event JSON %q: %v", buf, err)
			return
		}
		s.events <- ev
	}
}

// next returns the next event of the given type, skipping heartbeats and
// acknowledging every update with a uuid; other events are handed to skip.
func (s *jsonScheduler) next(typ string, d time.Duration) map[string]any {
	s.t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev := <-s.events:
			if ev["type"] == typ {
				return ev
			}
		case <-timer.C:
			s.t.Fatalf("no %s event within %s", typ, d)
		}
	}
}

// call posts a call and returns the HTTP status and body.
func (s *jsonScheduler) call(c map[string]any) (int, string) {
	c["framework_id"] = map[string]any{"value": s.id}
	body, _ := json.Marshal(c)
	req, _ := http.NewRequest("POST", s.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Mesos-Stream-Id", s.streamID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("call %v: %v", c["type"], err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (s *jsonScheduler) mustCall(c map[string]any) {
	s.t.Helper()
	if code, body := s.call(c); code != 202 {
		s.t.Fatalf("call %v: %d %s", c["type"], code, body)
	}
}

// updates collects UPDATE events (acknowledging those with a uuid) until
// done returns true for the statuses seen so far.
func (s *jsonScheduler) updates(d time.Duration, done func(map[string][]string) bool) map[string][]string {
	s.t.Helper()
	seen := make(map[string][]string)
	timer := time.NewTimer(d)
	defer timer.Stop()
	for !done(seen) {
		select {
		case ev := <-s.events:
			if ev["type"] != "UPDATE" {
				continue
			}
			st := ev["update"].(map[string]any)["status"].(map[string]any)
			id := st["task_id"].(map[string]any)["value"].(string)
			state := st["state"].(string)
			if msg, ok := st["message"].(string); ok && state != "TASK_RUNNING" && state != "TASK_STARTING" {
				state += ": " + msg
			}
			seen[id] = append(seen[id], state)
			if uuid, ok := st["uuid"]; ok {
				s.mustCall(map[string]any{"type": "ACKNOWLEDGE", "acknowledge": map[string]any{
					"agent_id": st["agent_id"], "task_id": st["task_id"], "uuid": uuid}})
			}
		case <-timer.C:
			s.t.Fatalf("timed out waiting for updates; seen %v", seen)
		}
	}
	return seen
}

func last(states []string) string {
	if len(states) == 0 {
		return ""
	}
	return states[len(states)-1]
}

type rawResponse struct {
	code int
	body string
}

// postJSON posts a call and reads the status and, for a stream, its first
// record (bounded).
func postJSON(url string, v any) (rawResponse, error) {
	body, _ := json.Marshal(v)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return rawResponse{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return rawResponse{resp.StatusCode, string(b)}, nil
}

// traversableTempDir is t.TempDir with itself and its parent mode 0755, so
// that the users tasks switch to can reach their sandboxes.
func traversableTempDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	for _, p := range []string{filepath.Dir(d), d} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}
