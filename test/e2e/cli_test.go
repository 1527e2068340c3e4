package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// agora runs an operator command against master and returns its stdout,
// stderr and exit status.
func agora(t *testing.T, master string, args ...string) (string, string, int) {
	t.Helper()
	return agoraEnv(t, []string{"AGORA_MASTER=" + master}, args...)
}

// agoraEnv runs the agora binary with variables added to its environment,
// and returns its stdout, stderr and exit status.
func agoraEnv(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, agoraBin, args...)
	cmd.Env = append(cmd.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("agora %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

// writeFile writes a file of the test (mode 0600) and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustAgora(t *testing.T, master string, args ...string) string {
	t.Helper()
	out, errOut, code := agora(t, master, args...)
	if code != 0 {
		t.Fatalf("agora %v: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, out, errOut)
	}
	return out
}

func jsonOut[T any](t *testing.T, master string, args ...string) T {
	t.Helper()
	var v T
	out := mustAgora(t, master, append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("agora %v --json: %v\n%s", args, err, out)
	}
	return v
}

// TestOperatorCLI drives agents, frameworks, tasks, task, logs, kill and
// teardown against a master and two agents, with tasks run by `agora run`.
func TestOperatorCLI(t *testing.T) {
	master, _ := cluster(t, 2)
	// A task that fails, kept in the completed tasks.
	if _, errOut, code := agora(t, master, "run", "--name=sad", "--", "sh", "-c", "echo failing-out; exit 3"); code != 3 {
		t.Fatalf("agora run failer: exit %d\n%s", code, errOut)
	}
	// A task that writes a line now and then and runs until killed.
	marker := "agora-e2e-cli-sleeper"
	killMarked(t, marker)
	run := start(t, "run", "--master="+master, "--name=sleeper", "--shell", "--",
		"echo first-line; echo to-stderr >&2; while :; do sleep 0.2; echo tick; done # "+marker)
	waitFor(t, 30*time.Second, "the sleeper to run", func() bool { return strings.Contains(run.output(), "TASK_RUNNING") })

	// agents
	out := mustAgora(t, master, "agents")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 ||
		!strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[0], "ADDRESS") || !strings.Contains(out, "0.1/2") {
		t.Errorf("agents table:\n%s", out)
	}
	agents := jsonOut[[]struct {
		ID     string  `json:"id"`
		Active bool    `json:"active"`
		CPUs   float64 `json:"cpus_total"`
		Tasks  int     `json:"tasks"`
	}](t, master, "agents")
	tasksOnAgents := 0
	for _, a := range agents {
		tasksOnAgents += a.Tasks
		if !a.Active || a.CPUs != 2 {
			t.Errorf("agent %+v", a)
		}
	}
	if len(agents) != 2 || tasksOnAgents != 1 {
		t.Errorf("agents --json: %+v", agents)
	}

	// frameworks
	fws := jsonOut[[]struct {
		ID        string   `json:"id"`
		Name      string   `json:"name"`
		Connected bool     `json:"connected"`
		Roles     []string `json:"roles"`
		Running   int      `json:"tasks_running"`
	}](t, master, "frameworks")
	if len(fws) != 1 || fws[0].Name != "agora-run" || !fws[0].Connected || fws[0].Running != 1 || fws[0].Roles[0] != "*" {
		t.Fatalf("frameworks --json: %+v", fws)
	}
	if out := mustAgora(t, master, "frameworks"); !strings.Contains(out, "CONNECTED") || !strings.Contains(out, fws[0].ID) {
		t.Errorf("frameworks table:\n%s", out)
	}

	// tasks: the live one; --all adds the failed one.
	out = mustAgora(t, master, "tasks")
	if !strings.Contains(out, "sleeper-") || !strings.Contains(out, "TASK_RUNNING") || strings.Contains(out, "sad-") {
		t.Errorf("tasks table:\n%s", out)
	}
	type taskRow struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	all := jsonOut[[]taskRow](t, master, "tasks", "--all")
	var failerID, sleeperID string
	for _, r := range all {
		switch {
		case strings.HasPrefix(r.ID, "sad-"):
			failerID = r.ID
		case strings.HasPrefix(r.ID, "sleeper-"):
			sleeperID = r.ID
		}
	}
	if len(all) != 2 || failerID == "" || sleeperID == "" {
		t.Fatalf("tasks --all --json: %+v", all)
	}

	// task: prefixes, the reason of a failed task, errors.
	out = mustAgora(t, master, "task", "sa")
	for _, want := range []string{failerID, "TASK_FAILED", "Why", "Command exited with status 3", "Sandbox", "/executors/" + failerID + "/runs/", "TASK_RUNNING"} {
		if !strings.Contains(out, want) {
			t.Errorf("task sa: no %q in\n%s", want, out)
		}
	}
	detail := jsonOut[struct {
		ID      string `json:"id"`
		State   string `json:"state"`
		Sandbox string `json:"sandbox"`
		States  []struct {
			State string `json:"state"`
		} `json:"states"`
	}](t, master, "task", "slee")
	if detail.ID != sleeperID || detail.State != "TASK_RUNNING" || detail.Sandbox == "" || len(detail.States) < 2 {
		t.Errorf("task slee --json: %+v", detail)
	}
	if _, errOut, code := agora(t, master, "task", "nope"); code != 1 || !strings.Contains(errOut, `no task matches "nope"`) {
		t.Errorf("task nope: exit %d: %s", code, errOut)
	}
	if _, errOut, code := agora(t, master, "task", "s"); code != 1 || !strings.Contains(errOut, "ambiguous") ||
		!strings.Contains(errOut, failerID) || !strings.Contains(errOut, sleeperID) {
		t.Errorf("task s (ambiguous): exit %d: %s", code, errOut)
	}
	if _, errOut, code := agora(t, master, "task", ""); code != 2 {
		t.Errorf("task '': exit %d: %s", code, errOut)
	}
	if _, errOut, code := agora(t, master, "task", "--master=127.0.0.1:1", "x"); code != 1 ||
		!strings.Contains(errOut, "cannot reach the master at 127.0.0.1:1") || !strings.Contains(errOut, "AGORA_MASTER") {
		t.Errorf("unreachable master: exit %d: %s", code, errOut)
	}

	// logs
	if out := mustAgora(t, master, "logs", failerID); out != "failing-out\n" {
		t.Errorf("logs failer: %q", out)
	}
	if out := mustAgora(t, master, "logs", "--stderr", sleeperID); out != "to-stderr\n" {
		t.Errorf("logs --stderr sleeper: %q", out)
	}
	follow := start(t, "logs", "--master="+master, "-f", sleeperID)
	waitFor(t, 20*time.Second, "logs -f to show ticks", func() bool { return strings.Count(follow.output(), "tick") >= 2 })

	// kill: logs -f ends once the task is terminal and the file drained.
	out = mustAgora(t, master, "kill", "sleeper")
	if !strings.Contains(out, "TASK_KILLED") {
		t.Errorf("kill: %s", out)
	}
	select {
	case <-follow.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("logs -f did not end after the kill:\n%s", follow.output())
	}
	if code := follow.cmd.ProcessState.ExitCode(); code != 0 || !strings.HasPrefix(follow.output(), "first-line\ntick\n") {
		t.Errorf("logs -f: exit %d:\n%s", code, follow.output())
	}
	select {
	case <-run.done:
	case <-time.After(20 * time.Second):
		t.Fatal("agora run did not end after the kill")
	}
	if !strings.Contains(run.output(), "TASK_KILLED") {
		t.Errorf("agora run after kill:\n%s", run.output())
	}
	if _, errOut, code := agora(t, master, "kill", sleeperID); code != 1 || !strings.Contains(errOut, "already ended") {
		t.Errorf("kill of an ended task: exit %d: %s", code, errOut)
	}
	waitNoProcess(t, marker)

	// teardown
	marker2 := "agora-e2e-cli-teardown"
	killMarked(t, marker2)
	run2 := start(t, "run", "--master="+master, "--name=victim", "--shell", "--", "sleep 600 # "+marker2)
	waitFor(t, 30*time.Second, "the victim to run", func() bool { return strings.Contains(run2.output(), "TASK_RUNNING") })
	fws = jsonOut[[]struct {
		ID        string   `json:"id"`
		Name      string   `json:"name"`
		Connected bool     `json:"connected"`
		Roles     []string `json:"roles"`
		Running   int      `json:"tasks_running"`
	}](t, master, "frameworks")
	if len(fws) != 1 {
		t.Fatalf("frameworks: %+v", fws)
	}
	id := fws[0].ID
	if _, errOut, code := agora(t, master, "teardown", "x"+id); code != 1 || !strings.Contains(errOut, "no framework matches") {
		t.Errorf("teardown of an unknown framework: exit %d: %s", code, errOut)
	}
	if out := mustAgora(t, master, "teardown", id[:len(id)-2]); !strings.Contains(out, "torn down") || !strings.Contains(out, id) {
		t.Errorf("teardown: %s", out)
	}
	waitNoProcess(t, marker2)
	waitFor(t, 20*time.Second, "the victim to be killed", func() bool {
		out := mustAgora(t, master, "tasks", "--all")
		return strings.Contains(out, "victim") && strings.Contains(out, "TASK_KILLED")
	})
}

// TestPrometheusMetrics scrapes /metrics on a master and an agent and
// checks that the terminal-task counter moves when a task finishes.
func TestPrometheusMetrics(t *testing.T) {
	master, agents := cluster(t, 1)
	scrape := func(addr string) map[string]*dto {
		t.Helper()
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			t.Fatalf("GET /metrics: %s %s", resp.Status, resp.Header.Get("Content-Type"))
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(resp.Body)
		if err != nil {
			t.Fatalf("parse /metrics: %v", err)
		}
		out := map[string]*dto{}
		for name, f := range fams {
			out[name] = &dto{f.GetType().String(), map[string]float64{}}
			for _, m := range f.GetMetric() {
				var labels []string
				for _, l := range m.GetLabel() {
					labels = append(labels, l.GetName()+"="+l.GetValue())
				}
				v := m.GetGauge().GetValue() + m.GetCounter().GetValue() + m.GetUntyped().GetValue()
				out[name].values[strings.Join(labels, ",")] = v
			}
		}
		return out
	}
	before := scrape(master)
	for name, typ := range map[string]string{
		"mesos_master_task_states_exit_total": "COUNTER", "mesos_master_tasks": "GAUGE",
		"mesos_master_agents": "GAUGE", "mesos_master_memory_bytes": "GAUGE", "mesos_build_info": "GAUGE",
		"mesos_master_offers_sent_total": "COUNTER", "mesos_master_uptime_seconds": "GAUGE",
	} {
		if f := before[name]; f == nil || f.typ != typ {
			t.Errorf("%s: %+v, want type %s", name, f, typ)
		}
	}
	if v := before["mesos_master_agents"].values["state=active"]; v != 1 {
		t.Errorf("active agents %v", v)
	}
	if v := before["mesos_master_memory_bytes"].values["type=total"]; v != 1024*1024*1024 {
		t.Errorf("total memory %v bytes, want 1 GiB", v)
	}
	finished := before["mesos_master_task_states_exit_total"].values["state=finished"]
	mustAgora(t, master, "run", "--", "true")
	after := scrape(master)
	if v := after["mesos_master_task_states_exit_total"].values["state=finished"]; v != finished+1 {
		t.Errorf("finished tasks %v -> %v", finished, v)
	}
	if v := after["mesos_master_offers_sent_total"].values[""]; v < 1 {
		t.Errorf("offers sent %v", v)
	}
	ag := scrape(agents[0])
	if ag["mesos_agent_registered"] == nil || ag["mesos_agent_registered"].values[""] != 1 {
		t.Errorf("agent registered: %+v", ag["mesos_agent_registered"])
	}
	waitFor(t, 10*time.Second, "the agent to count the finished task", func() bool {
		f := scrape(agents[0])["mesos_agent_task_states_exit_total"]
		return f != nil && f.values["state=finished"] == 1
	})

	// The snapshot carries the Mesos keys users alert on.
	var snap map[string]float64
	if err := getJSON(t, "http://"+master+"/metrics/snapshot", &snap); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"master/uptime_secs", "master/elected", "master/slaves_active", "master/tasks_lost",
		"master/cpus_percent", "master/mem_percent", "master/slave_registrations", "master/slave_reregistrations",
		"master/event_queue_messages", "allocator/mesos/allocation_runs", "system/cpus_total", "master/cpus_revocable_total"} {
		if _, ok := snap[k]; !ok {
			t.Errorf("/metrics/snapshot lacks %s", k)
		}
	}
	if snap["master/slave_registrations"] != 1 {
		t.Errorf("slave_registrations %v", snap["master/slave_registrations"])
	}
}

type dto struct {
	typ    string
	values map[string]float64
}
