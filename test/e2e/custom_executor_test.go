package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// buildExecutorTarball builds testdata/jsonexecutor and packs it, mode
// 0755, into a tar.gz with a config file of mode 0640.
func buildExecutorTarball(t *testing.T) []byte {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "jsonexecutor")
	build := exec.Command("go", "build", "-o", bin, "./testdata/jsonexecutor")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build jsonexecutor: %v\n%s", err, out)
	}
	exe, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, m := range []struct {
		name string
		mode int64
		body []byte
	}{{"jsonexecutor", 0o755, exe}, {"conf/greeting.txt", 0o640, []byte("hello\n")}} {
		if err := tw.WriteHeader(&tar.Header{Name: m.name, Mode: m.mode, Size: int64(len(m.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(m.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestCustomExecutorFetchedByURI: a custom executor that nobody here wrote,
// speaking the v1 executor API in JSON, fetched by URI inside a tar.gz with
// extract, driven through the real master by a JSON framework.
func TestCustomExecutorFetchedByURI(t *testing.T) {
	tarball := buildExecutorTarball(t)
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/jsonexecutor.tar.gz" {
			http.NotFound(w, r)
			return
		}
		requests.Add(1)
		_, _ = w.Write(tarball)
	}))
	defer srv.Close()

	master, _ := cluster(t, 1)
	s := subscribe(t, master, map[string]any{"user": "nobody", "name": "e2e-custom-executor"})
	executor := func(id string) map[string]any {
		return map[string]any{
			"executor_id": map[string]any{"value": id},
			"type":        "CUSTOM",
			"name":        "jsonexecutor",
			"command": map[string]any{
				"value": "./jsonexecutor",
				"uris": []any{map[string]any{
					"value": srv.URL + "/jsonexecutor.tar.gz", "extract": true, "cache": true,
				}},
			},
			"resources": []any{
				map[string]any{"name": "cpus", "type": "SCALAR", "scalar": map[string]any{"value": 0.1}},
				map[string]any{"name": "mem", "type": "SCALAR", "scalar": map[string]any{"value": 32}},
			},
		}
	}
	task := func(id, agentID, execID string) map[string]any {
		tk := commandTask(id, agentID, "")
		delete(tk, "command")
		tk["executor"] = executor(execID)
		return tk
	}
	ev := newEventLog(s)

	// Two tasks, one executor process.
	agentID, offers := ev.offers(t)
	s.mustCall(acceptAll(offers, task("t1", agentID, "jx")))
	pid1 := ev.waitUpdate(t, "t1", "TASK_RUNNING")["message"]
	_, offers = ev.offers(t)
	if !listsExecutor(offers, "jx") {
		t.Errorf("offers after the executor started do not list it in executor_ids: %v", offers)
	}
	s.mustCall(acceptAll(offers, task("t2", agentID, "jx")))
	pid2 := ev.waitUpdate(t, "t2", "TASK_RUNNING")["message"]
	if pid1 == nil || pid1 != pid2 {
		t.Errorf("t1 and t2 run in different executor processes: %v, %v", pid1, pid2)
	}

	// Framework messages both ways.
	s.mustCall(map[string]any{"type": "MESSAGE", "message": map[string]any{
		"agent_id": map[string]any{"value": agentID}, "executor_id": map[string]any{"value": "jx"},
		"data": base64.StdEncoding.EncodeToString([]byte("ping")),
	}})
	msg := ev.waitType(t, "MESSAGE")["message"].(map[string]any)
	if d, _ := base64.StdEncoding.DecodeString(msg["data"].(string)); string(d) != "echo:ping" ||
		msg["executor_id"].(map[string]any)["value"] != "jx" {
		t.Errorf("executor's message: %v (data %q)", msg, d)
	}

	// KILL of one task.
	s.mustCall(map[string]any{"type": "KILL", "kill": map[string]any{"task_id": map[string]any{"value": "t2"}}})
	ev.waitUpdate(t, "t2", "TASK_KILLED")

	// The sandbox through /files, modes of the fetched files intact.
	agentAddr, dir := executorSandbox(t, master, s.id, "jx")
	modes := browse(t, agentAddr, dir)
	if modes["jsonexecutor"] != "-rwxr-xr-x" {
		t.Errorf("jsonexecutor mode %q in /files/browse, want -rwxr-xr-x (all: %v)", modes["jsonexecutor"], modes)
	}
	if m := browse(t, agentAddr, dir+"/conf"); m["greeting.txt"] != "-rw-r-----" {
		t.Errorf("conf/greeting.txt mode %q, want -rw-r-----", m["greeting.txt"])
	}
	var stderr struct{ Data string }
	if err := getJSON(t, "http://"+agentAddr+"/files/read?offset=0&path="+url.QueryEscape(dir+"/stderr"), &stderr); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Fetching URI '" + srv.URL + "/jsonexecutor.tar.gz'", "Extracted "} {
		if !strings.Contains(stderr.Data, want) {
			t.Errorf("sandbox stderr lacks %q:\n%s", want, stderr.Data)
		}
	}

	// A crash: the executor exits 3 on the task crash-3; its other task is
	// lost with it, and the scheduler hears of the executor's end.
	_, offers = ev.offers(t)
	s.mustCall(acceptAll(offers, task("crash-3", agentID, "jx")))
	for _, id := range []string{"t1", "crash-3"} {
		st := ev.waitTerminal(t, id)
		if (st["state"] != "TASK_LOST" && st["state"] != "TASK_FAILED") || st["reason"] != "REASON_EXECUTOR_TERMINATED" {
			t.Errorf("%s after the executor crashed: %v", id, st)
		}
	}
	f := ev.waitType(t, "FAILURE")["failure"].(map[string]any)
	if f["executor_id"].(map[string]any)["value"] != "jx" || f["status"] != float64(3<<8) {
		t.Errorf("FAILURE after the crash: %v (want executor jx, wait status %d)", f, 3<<8)
	}

	// A new executor: its tarball comes from the agent's fetcher cache.
	_, offers = ev.offers(t)
	s.mustCall(acceptAll(offers, task("t4", agentID, "jx2")))
	ev.waitUpdate(t, "t4", "TASK_RUNNING")
	if n := requests.Load(); n != 1 {
		t.Errorf("the HTTP server saw %d requests for the cached tarball, want 1", n)
	}

	// SHUTDOWN of the executor: it kills its task and exits.
	s.mustCall(map[string]any{"type": "SHUTDOWN", "shutdown": map[string]any{
		"executor_id": map[string]any{"value": "jx2"}, "agent_id": map[string]any{"value": agentID}}})
	ev.waitUpdate(t, "t4", "TASK_KILLED")
	f = ev.waitType(t, "FAILURE")["failure"].(map[string]any)
	if f["executor_id"].(map[string]any)["value"] != "jx2" {
		t.Errorf("FAILURE after SHUTDOWN: %v", f)
	}
	waitNoProcess(t, "jsonexecutor")
}

// TestFetchFailureE2E: a URI that 404s fails the task, naming the URI.
func TestFetchFailureE2E(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	master, _ := cluster(t, 1)
	s := subscribe(t, master, map[string]any{"user": "nobody", "name": "e2e-fetch-failure"})
	ev := newEventLog(s)
	agentID, offers := ev.offers(t)
	uri := srv.URL + "/missing.tar.gz"
	tk := commandTask("f", agentID, "true")
	tk["command"].(map[string]any)["uris"] = []any{map[string]any{"value": uri}}
	s.mustCall(acceptAll(offers, tk))
	st := ev.waitTerminal(t, "f")
	if st["state"] != "TASK_FAILED" || st["reason"] != "REASON_CONTAINER_LAUNCH_FAILED" ||
		!strings.Contains(fmt.Sprint(st["message"]), uri) {
		t.Errorf("task with a missing URI: %v", st)
	}
}

// eventLog reads a scheduler's events in order, acknowledging updates, and
// keeps those not yet asked for.
type eventLog struct {
	s       *jsonScheduler
	pending []map[string]any
}

func newEventLog(s *jsonScheduler) *eventLog { return &eventLog{s: s} }

// wait returns the first event (pending or new) that match accepts.
func (l *eventLog) wait(t *testing.T, what string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	for i, ev := range l.pending {
		if match(ev) {
			l.pending = append(l.pending[:i], l.pending[i+1:]...)
			return ev
		}
	}
	timer := time.NewTimer(60 * time.Second)
	defer timer.Stop()
	for {
		select {
		case ev := <-l.s.events:
			if ev["type"] == "UPDATE" {
				st := ev["update"].(map[string]any)["status"].(map[string]any)
				if uuid, ok := st["uuid"]; ok {
					l.s.mustCall(map[string]any{"type": "ACKNOWLEDGE", "acknowledge": map[string]any{
						"agent_id": st["agent_id"], "task_id": st["task_id"], "uuid": uuid}})
				}
			}
			if match(ev) {
				return ev
			}
			if ev["type"] != "HEARTBEAT" {
				l.pending = append(l.pending, ev)
			}
		case <-timer.C:
			t.Fatalf("timed out waiting for %s; other events: %v", what, l.pending)
		}
	}
}

func statusOf(ev map[string]any) map[string]any {
	if ev["type"] != "UPDATE" {
		return nil
	}
	return ev["update"].(map[string]any)["status"].(map[string]any)
}

func (l *eventLog) waitUpdate(t *testing.T, taskID, state string) map[string]any {
	t.Helper()
	return statusOf(l.wait(t, taskID+" "+state, func(ev map[string]any) bool {
		st := statusOf(ev)
		return st != nil && st["task_id"].(map[string]any)["value"] == taskID && st["state"] == state
	}))
}

func (l *eventLog) waitTerminal(t *testing.T, taskID string) map[string]any {
	t.Helper()
	return statusOf(l.wait(t, taskID+" terminal", func(ev map[string]any) bool {
		st := statusOf(ev)
		if st == nil || st["task_id"].(map[string]any)["value"] != taskID {
			return false
		}
		switch st["state"] {
		case "TASK_RUNNING", "TASK_STARTING", "TASK_STAGING", "TASK_KILLING":
			return false
		}
		return true
	}))
}

func (l *eventLog) waitType(t *testing.T, typ string) map[string]any {
	t.Helper()
	return l.wait(t, typ, func(ev map[string]any) bool { return ev["type"] == typ })
}

// offers waits for an offer and returns every offer received and not yet
// used (the cluster has one agent, so they can be accepted together).
func (l *eventLog) offers(t *testing.T) (agentID string, offers []any) {
	t.Helper()
	l.pending = append(l.pending, l.waitType(t, "OFFERS"))
	rest := l.pending[:0]
	for _, ev := range l.pending {
		if ev["type"] == "OFFERS" {
			offers = append(offers, ev["offers"].(map[string]any)["offers"].([]any)...)
		} else {
			rest = append(rest, ev)
		}
	}
	l.pending = rest
	return offers[0].(map[string]any)["agent_id"].(map[string]any)["value"].(string), offers
}

func acceptAll(offers []any, tasks ...any) map[string]any {
	var ids []any
	for _, o := range offers {
		ids = append(ids, o.(map[string]any)["id"])
	}
	return map[string]any{"type": "ACCEPT", "accept": map[string]any{
		"offer_ids":  ids,
		"operations": []any{map[string]any{"type": "LAUNCH", "launch": map[string]any{"task_infos": tasks}}},
		"filters":    map[string]any{"refuse_seconds": 0},
	}}
}

// listsExecutor reports whether an offer names the executor in executor_ids.
func listsExecutor(offers []any, execID string) bool {
	for _, o := range offers {
		for _, e := range asList(o.(map[string]any)["executor_ids"]) {
			if e.(map[string]any)["value"] == execID {
				return true
			}
		}
	}
	return false
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// executorSandbox finds an executor's sandbox through the agent's /state.
func executorSandbox(t *testing.T, master, frameworkID, execID string) (agentAddr, dir string) {
	t.Helper()
	var ms struct{ Slaves []struct{ PID string } }
	if err := getJSON(t, "http://"+master+"/master/state", &ms); err != nil {
		t.Fatal(err)
	}
	for _, sl := range ms.Slaves {
		addr := sl.PID[strings.Index(sl.PID, "@")+1:]
		var as struct {
			Frameworks []struct {
				ID        string
				Executors []struct{ ID, Directory string }
			}
		}
		if err := getJSON(t, "http://"+addr+"/state", &as); err != nil {
			t.Fatal(err)
		}
		for _, f := range as.Frameworks {
			for _, e := range f.Executors {
				if f.ID == frameworkID && e.ID == execID {
					return addr, e.Directory
				}
			}
		}
	}
	t.Fatalf("no sandbox for executor %s", execID)
	return "", ""
}

// browse lists a sandbox directory through /files/browse: name → mode.
func browse(t *testing.T, agentAddr, dir string) map[string]string {
	t.Helper()
	var entries []struct{ Path, Mode string }
	if err := getJSON(t, "http://"+agentAddr+"/files/browse?path="+url.QueryEscape(dir), &entries); err != nil {
		t.Fatal(err)
	}
	modes := make(map[string]string)
	for _, e := range entries {
		modes[filepath.Base(e.Path)] = e.Mode
	}
	return modes
}
