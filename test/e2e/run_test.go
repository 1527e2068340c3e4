package e2e

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLocalAndRun drives the README's flow: `agora local`, then `agora run`
// for a command that succeeds, one that fails, and one interrupted.
func TestLocalAndRun(t *testing.T) {
	l := start(t, "local", "--port=0", "--agents=2", "--work_dir="+t.TempDir())
	var master string
	re := regexp.MustCompile(`master http://([0-9.]+:[0-9]+)`)
	waitFor(t, 20*time.Second, "agora local to be ready", func() bool {
		out := l.output()
		if m := re.FindStringSubmatch(out); m != nil && strings.Contains(out, "ready in") {
			master = m[1]
			return true
		}
		return false
	})

	run := func(args ...string) (stdout, stderr string, code int) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, agoraBin, append([]string{"run", "--master=" + master}, args...)...)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("agora run %v: %v", args, err)
		}
		return o.String(), e.String(), code
	}

	out, errOut, code := run("--", "sh", "-c", "echo hello-from-task; echo oops >&2")
	if code != 0 || !strings.Contains(out, "hello-from-task") || !strings.Contains(errOut, "oops") ||
		!strings.Contains(errOut, "TASK_RUNNING") || !strings.Contains(errOut, "TASK_FINISHED") {
		t.Errorf("successful run: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	out, errOut, code = run("--codec=json", "--", "sh", "-c", "echo about-to-fail; exit 3")
	if code != 3 || !strings.Contains(out, "about-to-fail") || !strings.Contains(errOut, "Command exited with status 3") {
		t.Errorf("failing run: exit %d, want 3\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}

	// No agent has room: after 3s it says why, naming the largest agent's
	// free resources and the ask.
	_, errOut, code = run("--cpus=1000", "--timeout=4s", "--", "true")
	if code != 1 || !strings.Contains(errOut, "no offer fitting cpus:1000;mem:32 after 3s: the largest of 2 agents, ") ||
		!strings.Contains(errOut, "; this task asks cpus:1000;mem:32\n") {
		t.Errorf("run too big for the cluster: exit %d\nstderr:\n%s", code, errOut)
	}

	// Ctrl-C kills the task.
	marker := "agora-e2e-run-interrupt"
	killMarked(t, marker)
	r := start(t, "run", "--master="+master, "--shell", "--", "sleep 600 # "+marker)
	waitFor(t, 30*time.Second, "the task to run", func() bool { return strings.Contains(r.output(), "TASK_RUNNING") })
	_ = r.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		t.Fatal("agora run did not exit after SIGINT")
	}
	if code := r.cmd.ProcessState.ExitCode(); code != 130 || !strings.Contains(r.output(), "TASK_KILLED") {
		t.Errorf("interrupted run: exit %d, want 130\n%s", code, r.output())
	}
	waitNoProcess(t, marker)
	var st struct {
		Frameworks []any
	}
	waitFor(t, 10*time.Second, "no framework left registered", func() bool {
		return getJSON(t, "http://"+master+"/master/state", &st) == nil && len(st.Frameworks) == 0
	})
}
