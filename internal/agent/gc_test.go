package agent

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"google.golang.org/protobuf/proto"
)

// The scheduler's core, driven by an explicit clock.
func TestGCSchedulerTake(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	g := newGCScheduler()
	if _, ok := g.next(); ok || g.pending() != 0 {
		t.Fatal("empty scheduler has a next removal")
	}
	g.schedule("/w/slaves/S/frameworks/f/executors/e", t0.Add(3*time.Second))
	g.schedule("/w/slaves/S/frameworks/f/executors/e/runs/c", t0.Add(3*time.Second))
	g.schedule("/w/slaves/S/frameworks/f/executors/old/runs/c", t0.Add(time.Second))
	g.schedule("/w/slaves/S/frameworks/g", t0.Add(time.Hour))
	if at, ok := g.next(); !ok || !at.Equal(t0.Add(time.Second)) {
		t.Fatalf("next = %v %v", at, ok)
	}
	if got := g.take(t0, 0); len(got) != 0 {
		t.Fatalf("take at t0 = %v, nothing is due", got)
	}
	// Rescheduling replaces the removal time.
	g.schedule("/w/slaves/S/frameworks/g", t0.Add(2*time.Second))
	got := g.take(t0.Add(3*time.Second), 0)
	want := []string{
		"/w/slaves/S/frameworks/f/executors/old/runs/c",
		"/w/slaves/S/frameworks/g",
		"/w/slaves/S/frameworks/f/executors/e", // ties: parent before child
		"/w/slaves/S/frameworks/f/executors/e/runs/c",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("take = %v, want %v (earliest first)", got, want)
	}
	if g.pending() != 0 {
		t.Fatalf("%d pending after taking all", g.pending())
	}
	g.schedule("/a", t0.Add(time.Minute))
	g.schedule("/b", t0.Add(2*time.Minute))
	if !g.unschedule("/a") || g.unschedule("/a") {
		t.Fatal("unschedule reports wrongly")
	}
	// Prune: everything whose remaining time is at most "within".
	if got := g.take(t0, 2*time.Minute); !slices.Equal(got, []string{"/b"}) {
		t.Fatalf("take within 2m = %v", got)
	}
}

// Mesos's rule: max age = gc_delay * max(0, 1 - headroom - usage); a disk
// check removes every path scheduled at least max age ago.
func TestGCMaxAge(t *testing.T) {
	const week = 7 * 24 * time.Hour
	for _, c := range []struct {
		headroom, usage float64
		want            time.Duration
	}{
		{0.1, 0, week * 9 / 10},
		{0.1, 0.5, week * 4 / 10},
		{0, 0.25, week * 3 / 4},
		{0.1, 0.9, 0},
		{0.1, 0.99, 0},
		{1, 0, 0},
	} {
		got := gcMaxAge(week, c.headroom, c.usage)
		if d := got - c.want; d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("gcMaxAge(1week, %v, %v) = %v, want %v", c.headroom, c.usage, got, c.want)
		}
		if w := gcPruneWithin(week, c.headroom, c.usage); w != week-got {
			t.Errorf("gcPruneWithin = %v, want %v", w, week-got)
		}
	}

	// Paths that ended 1, 3 and 5 days ago, with a 1-week delay: at 50%
	// usage (max age 0.4 weeks = 2.8 days) the two older ones go, oldest
	// first; at 95% everything goes.
	now := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	g := newGCScheduler()
	for _, d := range []int{1, 3, 5} {
		g.schedule(string(rune('0'+d)), now.Add(-time.Duration(d)*day).Add(week))
	}
	if got := g.take(now, gcPruneWithin(week, 0.1, 0.5)); !slices.Equal(got, []string{"5", "3"}) {
		t.Fatalf("at 50%% usage removed %v, want [5 3]", got)
	}
	if got := g.take(now, gcPruneWithin(week, 0.1, 0.95)); !slices.Equal(got, []string{"1"}) {
		t.Fatalf("at 95%% usage removed %v, want [1]", got)
	}
}

func TestDiskUsage(t *testing.T) {
	u, err := diskUsage(t.TempDir())
	if err != nil || u < 0 || u > 1 {
		t.Fatalf("diskUsage = %v, %v", u, err)
	}
	if _, err := diskUsage(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("no error for a missing path")
	}
}

// What may never be removed: anything outside <work_dir>/slaves, a live
// executor's sandbox and its ancestors, a live framework's directory.
func TestGCKeep(t *testing.T) {
	a := &Agent{cfg: Config{WorkDir: "/w"}}
	s := newState(a)
	s.agentID = "S"
	f := &framework{id: "f", executors: map[string]*executor{}}
	run := "/w/slaves/S/frameworks/f/executors/e/runs/c1"
	f.executors["e"] = &executor{fw: f, id: "e", directory: run}
	s.frameworks["f"] = f
	for p, keep := range map[string]bool{
		"/w/meta":                              true,
		"/w/fetcher-cache":                     true,
		"/w/slaves":                            true,
		"/w/slaves/../meta":                    true,
		"/w/slaves/S":                          true,
		"/w/slaves/S/frameworks/f":             true,
		"/w/slaves/S/frameworks/f/executors/e": true,
		run:                                    true,
		run + "/sub":                           true,
		"/w/slaves/S/frameworks/f/executors/e/runs/c0": false,
		"/w/slaves/S/frameworks/f/executors/x":         false,
		"/w/slaves/S/frameworks/g":                     false,
		"/w/slaves/OLD":                                false,
	} {
		if got := s.gcKeep(p) != ""; got != keep {
			t.Errorf("gcKeep(%s) = %q, want keep=%v", p, s.gcKeep(p), keep)
		}
	}
}

func gcMetric(t *testing.T, a *testAgent, key string) float64 {
	t.Helper()
	var m map[string]float64
	getJSON(t, a.url("/metrics/snapshot"), &m)
	v, ok := m[key]
	if !ok {
		t.Fatalf("/metrics/snapshot lacks %s", key)
	}
	return v
}

// sandboxOf is an executor's sandbox directory as /state names it, for
// live and completed executors.
func sandboxOf(t *testing.T, a *testAgent, fw, exec string) string {
	t.Helper()
	var dir string
	waitFor(t, 10*time.Second, "executor "+exec+" in /state", func() bool {
		var s struct {
			Frameworks []struct {
				ID        string `json:"id"`
				Executors []struct {
					ID        string `json:"id"`
					Directory string `json:"directory"`
				} `json:"executors"`
				Completed []struct {
					ID        string `json:"id"`
					Directory string `json:"directory"`
				} `json:"completed_executors"`
			} `json:"frameworks"`
		}
		getJSON(t, a.url("/state"), &s)
		for _, f := range s.Frameworks {
			if f.ID != fw {
				continue
			}
			for _, e := range append(f.Executors, f.Completed...) {
				if e.ID == exec {
					dir = e.Directory
					return true
				}
			}
		}
		return false
	})
	return dir
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// A finished command task's sandbox and executor directory are removed
// gc_delay after it ended; a running task's sandbox survives; the
// framework's directory goes once nothing of it runs.
func TestGCRemovesFinishedSandboxes(t *testing.T) {
	t.Parallel()
	m := newFakeMaster(t)
	a := startAgent(t, m, func(c *Config) {
		c.GCDelay = 200 * time.Millisecond
		c.DiskWatchInterval = time.Hour
	})
	m.send(runTaskEvent("fw1", commandTask("long", "sleep 60")))
	m.waitState(t, "long", mesos.TaskState_TASK_RUNNING)
	longDir := sandboxOf(t, a, "fw1", "long")

	m.send(runTaskEvent("fw1", commandTask("short", "echo done")))
	m.waitState(t, "short", mesos.TaskState_TASK_FINISHED)
	shortDir := sandboxOf(t, a, "fw1", "short")
	execDir := filepath.Dir(filepath.Dir(shortDir))
	if !strings.HasPrefix(shortDir, a.cfg.WorkDir) {
		t.Fatalf("sandbox %q is not in the work dir", shortDir)
	}
	waitFor(t, 20*time.Second, "the finished sandbox removed", func() bool {
		return !exists(shortDir) && !exists(execDir) && gcMetric(t, a, "gc/path_removals_succeeded") >= 1
	})
	if !exists(filepath.Join(longDir, "stdout")) {
		t.Fatalf("the running task's sandbox %s is gone", longDir)
	}
	fwDir := filepath.Dir(filepath.Dir(execDir))
	if !exists(fwDir) {
		t.Fatalf("the framework directory %s is gone while a task runs", fwDir)
	}
	if v := gcMetric(t, a, "gc/path_removals_failed"); v != 0 {
		t.Errorf("gc/path_removals_failed = %v", v)
	}

	// Prometheus has the counters too.
	resp, err := http.Get(a.url("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`mesos_agent_gc_path_removals_total{result="succeeded"}`, "mesos_agent_gc_path_removals_pending",
		"mesos_agent_fetcher_cache_size_total_bytes", `mesos_agent_fetcher_task_fetches_total{result="failed"}`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// Kill the last task: the framework is removed and its directory goes.
	m.send(&agentpb.Event{Type: agentpb.Event_KILL_TASK.Enum(), KillTask: &agentpb.Event_KillTask{
		FrameworkId: &mesos.FrameworkID{Value: proto.String("fw1")}, TaskId: &mesos.TaskID{Value: proto.String("long")},
	}})
	m.waitState(t, "long", mesos.TaskState_TASK_KILLED)
	waitFor(t, 20*time.Second, "the removed framework's directory removed", func() bool { return !exists(fwDir) })
	waitFor(t, 10*time.Second, "nothing pending", func() bool { return gcMetric(t, a, "gc/path_removals_pending") == 0 })
}

// On recovery, what a previous run left is scheduled by its mtime: what is
// already due goes at once, the rest waits.
func TestGCRecoveryUsesMtime(t *testing.T) {
	t.Parallel()
	work := t.TempDir()
	runs := filepath.Join(work, "slaves", "OLD", "frameworks", "fw", "executors", "e", "runs")
	oldRun, newRun := filepath.Join(runs, "c1"), filepath.Join(runs, "c2")
	oldFw := filepath.Join(work, "slaves", "OLD", "frameworks", "gone")
	for _, d := range []string{oldRun, newRun, filepath.Join(oldFw, "executors", "x", "runs", "c")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "stdout"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-3 * time.Hour)
	for _, d := range []string{oldRun, oldFw, filepath.Join(oldFw, "executors"), filepath.Join(oldFw, "executors", "x"),
		filepath.Join(oldFw, "executors", "x", "runs"), filepath.Join(oldFw, "executors", "x", "runs", "c")} {
		if err := os.Chtimes(d, past, past); err != nil {
			t.Fatal(err)
		}
	}
	m := newFakeMaster(t)
	a := startAgent(t, m, func(c *Config) {
		c.WorkDir = work
		c.GCDelay = time.Hour
		c.DiskWatchInterval = time.Hour
	})
	waitFor(t, 20*time.Second, "due paths removed", func() bool {
		return !exists(oldRun) && !exists(oldFw) && gcMetric(t, a, "gc/path_removals_succeeded") >= 2
	})
	if !exists(filepath.Join(newRun, "stdout")) {
		t.Fatal("a sandbox not yet due was removed")
	}
	// The recent run, its executor, framework and agent directories wait.
	if v := gcMetric(t, a, "gc/path_removals_pending"); v != 4 {
		t.Errorf("gc/path_removals_pending = %v, want 4", v)
	}
	var snap map[string]any
	getJSON(t, a.url("/metrics/snapshot"), &snap)
	b, _ := json.Marshal(snap)
	if !strings.Contains(string(b), `"containerizer/fetcher/cache_size_total_bytes":2147483648`) {
		t.Errorf("snapshot lacks the fetcher cache bound: %s", b)
	}
}

// A full disk removes sandboxes before gc_delay: at usage beyond
// 1 - headroom, every scheduled path goes at the next disk check.
func TestGCDiskPressure(t *testing.T) {
	t.Parallel()
	m := newFakeMaster(t)
	a := startAgent(t, m, func(c *Config) {
		c.GCDelay = 7 * 24 * time.Hour
		c.GCDiskHeadroom = 1 // max age 0 whatever the usage
		c.DiskWatchInterval = 50 * time.Millisecond
	})
	m.send(runTaskEvent("fw1", commandTask("keep", "sleep 60")))
	m.waitState(t, "keep", mesos.TaskState_TASK_RUNNING)
	m.send(runTaskEvent("fw1", commandTask("p1", "true")))
	m.waitState(t, "p1", mesos.TaskState_TASK_FINISHED)
	dir := sandboxOf(t, a, "fw1", "p1")
	waitFor(t, 20*time.Second, "sandbox removed under disk pressure", func() bool { return !exists(dir) })
	if !exists(sandboxOf(t, a, "fw1", "keep")) {
		t.Fatal("the running task's sandbox was removed")
	}
}
