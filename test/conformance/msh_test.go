package conformance

import (
	"os"
	"strings"
	"testing"
)

// msh is a MULTI_ROLE framework (roles ["*"], REGION_AWARE,
// RESERVATION_REFINEMENT, failover_timeout 0) that launches one command
// task with no executor: Agora's built-in command executor must run it.
// It exits 0 on TASK_FINISHED, 3 on TASK_FAILED/KILLED/LOST/ERROR and 4 on
// any other terminal state.

func TestMshEchoHello(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	code, out := run(t, mshBin, "-master", c.master, "--", "echo", "hello-from-msh")
	if code != 0 {
		t.Fatalf("msh -- echo: exit %d, want 0; output:\n%s", code, out)
	}
	for _, want := range []string{"TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"} {
		if !strings.Contains(out, want) {
			t.Errorf("msh output lacks %s:\n%s", want, out)
		}
	}
	// The command really ran, in a sandbox, with its stdout kept there.
	ran := false
	for _, f := range c.sandboxFiles("stdout") {
		if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), "hello-from-msh") {
			ran = true
		}
	}
	if !ran {
		t.Errorf("no sandbox stdout contains hello-from-msh (stdout files: %v)", c.sandboxFiles("stdout"))
	}
}

func TestMshFailingCommand(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	for _, tc := range []struct {
		name    string
		command []string
	}{
		{"exit 3", []string{"sh", "-c", "exit 3"}},
		{"false", []string{"false"}},
		{"no such program", []string{"/nonexistent/program"}},
	} {
		// One framework after another on the same cluster: each msh
		// tears its framework down (failover_timeout 0) when it exits.
		code, out := run(t, mshBin, append([]string{"-master", c.master, "--"}, tc.command...)...)
		if code != 3 {
			t.Errorf("%s: msh exit %d, want 3 (TASK_FAILED); output:\n%s", tc.name, code, out)
		} else if !strings.Contains(out, "TASK_FAILED") {
			t.Errorf("%s: msh output lacks TASK_FAILED:\n%s", tc.name, out)
		}
	}
}

// TestMshPod launches the command in a task group (LAUNCH_GROUP with a
// DEFAULT executor).
func TestMshPod(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	code, out := run(t, mshBin, "-master", c.master, "-pod", "--", "echo", "hello-from-pod")
	if code != 0 {
		t.Fatalf("msh -pod -- echo: exit %d, want 0; output:\n%s", code, out)
	}
	if !strings.Contains(out, "TASK_FINISHED") {
		t.Errorf("msh -pod output lacks TASK_FINISHED:\n%s", out)
	}
}

func failureLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], "unexpected state") {
			return lines[i]
		}
	}
	return lines[len(lines)-1]
}
