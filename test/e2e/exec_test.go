package e2e

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// agoraIn is agora with stdin.
func agoraIn(t *testing.T, master, stdin string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, agoraBin, args...)
	cmd.Env = append(cmd.Environ(), "AGORA_MASTER="+master)
	cmd.Stdin = strings.NewReader(stdin)
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

// TestExecAndAttach runs commands in a running task's container with
// agora exec (LAUNCH_NESTED_CONTAINER_SESSION on the task's agent), and
// tries agora attach on a task without a tty.
func TestExecAndAttach(t *testing.T) {
	master, _ := cluster(t, 1)
	marker := "agora-e2e-exec-sleeper"
	killMarked(t, marker)
	run := start(t, "run", "--master="+master, "--name=execme", "--shell", "--", "sleep 600 # "+marker)
	waitFor(t, 30*time.Second, "the task to run", func() bool { return strings.Contains(run.output(), "TASK_RUNNING") })
	detail := jsonOut[struct {
		ID      string `json:"id"`
		Sandbox string `json:"sandbox"`
	}](t, master, "task", "execme")

	// stdin forwarded, stdout and stderr apart, the sandbox as working
	// directory, the command's exit status.
	out, errOut, code := agoraIn(t, master, "piped-input\n", "exec", detail.ID, "--", "sh", "-c", "pwd; cat; echo to-stderr >&2; exit 7")
	if code != 7 {
		t.Fatalf("agora exec: exit %d, want 7\nstdout %q\nstderr %q", code, out, errOut)
	}
	if want := detail.Sandbox + "\npiped-input\n"; out != want {
		t.Errorf("agora exec stdout %q, want %q", out, want)
	}
	if errOut != "to-stderr\n" {
		t.Errorf("agora exec stderr %q", errOut)
	}

	// -t: the command runs on a pty.
	out, errOut, code = agoraIn(t, master, "", "exec", "-t", detail.ID[:8], "--", "tty")
	if code != 0 || !strings.HasPrefix(out, "/dev/pts/") {
		t.Errorf("agora exec -t -- tty: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// Usage errors and a task without a tty to attach to.
	if _, errOut, code := agoraIn(t, master, "", "exec", detail.ID); code != 2 {
		t.Errorf("agora exec without a command: exit %d: %s", code, errOut)
	}
	if _, errOut, code := agoraIn(t, master, "", "attach", detail.ID); code != 1 || !strings.Contains(errOut, "not launched with a TTY") {
		t.Errorf("agora attach of a task without a tty: exit %d: %s", code, errOut)
	}
}
