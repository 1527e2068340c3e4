package conformance

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// example-scheduler is a non-MULTI_ROLE framework (role "*", checkpoint,
// failover_timeout 1000h, RESERVATION_REFINEMENT) with a CUSTOM executor,
// id "default", that it serves over HTTP from its own process; the agent
// fetches it as a URI with executable: true and runs "./example-executor"
// in the sandbox. Every task goes to that one executor; the scheduler
// revives after each TASK_FINISHED and, after 5 tasks, logs "mission
// accomplished" and exits 1 (its main log.Fatal's the context error even on
// success), so the test asserts on the log, not the status.
func TestExampleScheduler(t *testing.T) {
	for _, codec := range []string{"protobuf", "json"} {
		t.Run(codec, func(t *testing.T) {
			t.Parallel()
			c := startCluster(t)
			const tasks = 5
			code, out := run(t, schedBin,
				"-url", "http://"+c.master+"/api/v1/scheduler",
				"-codec", codec,
				"-tasks", fmt.Sprint(tasks),
				"-executor", executorBin,
				"-exec.image", "",
				// Its artifact and metrics servers, on loopback only.
				"-server.address", "127.0.0.1", "-server.port", "0", "-metrics.port", "0",
				"-verbose")
			if !strings.Contains(out, "mission accomplished") {
				t.Fatalf("example-scheduler -codec %s: exit %d without \"mission accomplished\"; output:\n%s", codec, code, out)
			}
			if code != 1 {
				t.Errorf("example-scheduler exit %d; it has always exited 1 after its mission (log.Fatal of the context error)", code)
			}
			for i := 1; i <= tasks; i++ {
				if !regexp.MustCompile(fmt.Sprintf(`Task %d is in state TASK_FINISHED`, i)).MatchString(out) {
					t.Errorf("no TASK_FINISHED for task %d", i)
				}
			}
			if strings.Contains(out, "Exiting because task") {
				t.Errorf("a task ended badly:\n%s", out)
			}
			// The executor was fetched once and reused for every task: one
			// executor run, one downloaded binary.
			if got := c.sandboxFiles("example-executor"); len(got) != 1 {
				t.Errorf("example-executor fetched into %d sandboxes, want 1: %v", len(got), got)
			} else if runs := runDirs(filepath.Dir(filepath.Dir(got[0]))); len(runs) != 1 {
				t.Errorf("executor default ran %d times, want 1: %v", len(runs), runs)
			}
		})
	}
}

// runDirs lists an executor's runs/ directory, without the latest symlink.
func runDirs(runs string) []string {
	entries, _ := os.ReadDir(runs)
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	return dirs
}
