package conformance

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
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
			code, out := run(t, schedBin, schedulerArgs(c, codec, tasks)...)
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
			if n := strings.Count(out, "connecting..."); n != 1 {
				t.Errorf("example-scheduler subscribed %d times, want 1 (a stream it cannot decode makes it resubscribe)", n)
			}
			// The executor was fetched once and reused for every task: one
			// executor run, one downloaded binary.
			if got := c.sandboxFiles("example-executor"); len(got) != 1 {
				t.Errorf("example-executor fetched into %d sandboxes, want 1: %v", len(got), got)
			} else if runs := runDirs(filepath.Dir(filepath.Dir(got[0]))); len(runs) != 1 {
				t.Errorf("executor default ran %d times, want 1: %v", len(runs), runs)
			}
			// The framework is still registered (failover_timeout 1000h)
			// and its executor still runs: stopping the agent must shut it
			// down with a SHUTDOWN event, which it obeys.
			c.agents[0].stop()
			stderr := c.sandboxFiles("stderr")
			if len(stderr) != 1 {
				t.Fatalf("executor stderr files: %v", stderr)
			}
			if b, _ := os.ReadFile(stderr[0]); !strings.Contains(string(b), "gracefully shutting down because we were told to") {
				t.Errorf("example-executor did not get SHUTDOWN when the agent stopped; its stderr:\n%s", b)
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

func schedulerArgs(c *cluster, codec string, tasks int) []string {
	return []string{
		"-url", "http://" + c.master + "/api/v1/scheduler",
		"-codec", codec,
		"-tasks", fmt.Sprint(tasks),
		"-executor", executorBin,
		"-exec.image", "",
		// Its artifact and metrics servers, on loopback only.
		"-server.address", "127.0.0.1", "-server.port", "0", "-metrics.port", "0",
		"-verbose",
	}
}

// TestExampleSchedulerMasterRestart restarts the master under a subscribed
// example-scheduler: mesos-go reconnects and resubscribes with its
// framework id, which the new master (which has never seen it) must accept
// and keep, as a Mesos master does after a failover. The restart happens
// before the cluster has any agent, so no offer or ACCEPT is in flight:
// example-scheduler counts a task as launched before its ACCEPT succeeds
// and never reconciles, so a restart mid-ACCEPT would strand it against
// any master (a limitation of the client, seen while writing this test).
func TestExampleSchedulerMasterRestart(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	const tasks = 5
	s := start(t, schedBin, schedulerArgs(c, "protobuf", tasks)...)
	subscribed := regexp.MustCompile(`Type:SUBSCRIBED[ ,]Subscribed:&Event_Subscribed\{FrameworkID:&mesos.FrameworkID\{Value:([^,}]+)`)
	waitFor(t, programTimeout, "example-scheduler to subscribe", func() bool {
		return subscribed.MatchString(s.output()) || exited(s)
	})
	c.restartMaster()
	waitFor(t, programTimeout, "example-scheduler to subscribe again", func() bool {
		return strings.Count(s.output(), "connecting...") == 2 &&
			len(subscribed.FindAllString(s.output(), -1)) >= 2 || exited(s)
	})
	c.addAgent()
	select {
	case <-s.done:
	case <-time.After(programTimeout):
		t.Fatalf("example-scheduler did not finish within %s of the agent joining", programTimeout)
	}
	out := s.output()
	if !strings.Contains(out, "mission accomplished") {
		t.Fatalf("example-scheduler: exit %d without \"mission accomplished\"; output:\n%s", s.exitCode(), out)
	}
	if n := strings.Count(out, "connecting..."); n != 2 {
		t.Errorf("example-scheduler subscribed %d times, want 2 (once to each master)", n)
	}
	// Every SUBSCRIBED carries the same framework id (mesos-go would abort
	// otherwise, failover_timeout being 1000h).
	ids := subscribed.FindAllStringSubmatch(out, -1)
	for _, id := range ids[1:] {
		if id[1] != ids[0][1] {
			t.Errorf("framework id changed across the restart: %s then %s", ids[0][1], id[1])
		}
	}
}

func exited(p *proc) bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}
