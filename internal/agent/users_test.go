package agent

import (
	"context"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/internal/testutil"
	"google.golang.org/protobuf/proto"
)

// requireSwitchUser skips (or fails under AGORA_REQUIRE_PREREQS) unless
// the test runs as root on a machine with user nobody.
func requireSwitchUser(t *testing.T) *user.User {
	t.Helper()
	testutil.Require(t, "root", os.Geteuid() == 0, "switching users needs root")
	u, err := user.Lookup("nobody")
	testutil.Require(t, "user nobody", err == nil, "no user nobody on this machine")
	return u
}

// worldExecutable copies the test binary (the command executor) where
// any user can run it, and makes dir traversable.
func worldExecutable(t *testing.T, dir string) string {
	t.Helper()
	for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	p := filepath.Join(dir, "executor.test")
	dst, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSwitchUserRunsTaskAsNobody(t *testing.T) {
	nobody := requireSwitchUser(t)
	bin := worldExecutable(t, t.TempDir())
	m := newFakeMaster(t)
	var workDir string
	startAgent(t, m, func(c *Config) {
		c.SwitchUser = true
		c.ExecutorPath, c.SupervisorPath = bin, bin
		workDir = c.WorkDir
		worldExecutable(t, workDir) // only for the chmod of its parents
	})
	ti := commandTask("t1", "id -un")
	ti.Command.User = proto.String("nobody")
	m.send(runTaskEvent("fw1", ti))
	m.waitState(t, "t1", mesos.TaskState_TASK_FINISHED)

	runs, _ := filepath.Glob(filepath.Join(workDir, "slaves", "*", "frameworks", "fw1", "executors", "t1", "runs", "*-*"))
	if len(runs) != 1 {
		t.Fatalf("sandboxes %v, want one", runs)
	}
	out, err := os.ReadFile(filepath.Join(runs[0], "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "nobody\n") {
		t.Fatalf("task stdout %q, want it to say nobody", out)
	}
	fi, err := os.Stat(runs[0])
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != 0o750 || itoa(st.Uid) != nobody.Uid {
		t.Fatalf("sandbox mode %v uid %d, want 0750 owned by nobody (%s)", fi.Mode().Perm(), st.Uid, nobody.Uid)
	}
}

func TestSwitchUserUnknownUserDropsTask(t *testing.T) {
	testutil.Require(t, "root", os.Geteuid() == 0, "switching users needs root")
	m := newFakeMaster(t)
	startAgent(t, m, func(c *Config) { c.SwitchUser = true })
	ti := commandTask("t1", "true")
	ti.Command.User = proto.String("agora-no-such-user")
	m.send(runTaskEvent("fw1", ti)) // not partition-aware: TASK_LOST
	u := m.waitState(t, "t1", mesos.TaskState_TASK_LOST)
	msg := u.GetStatus().GetMessage()
	if !strings.Contains(msg, "Failed to chown directory to 'agora-no-such-user': No such user 'agora-no-such-user'") ||
		u.GetStatus().GetReason() != mesos.TaskStatus_REASON_EXECUTOR_TERMINATED {
		t.Fatalf("update %v", u.GetStatus())
	}
}

func TestNoSwitchUserRunsAsAgentUser(t *testing.T) {
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	m := newFakeMaster(t)
	var workDir string
	startAgent(t, m, func(c *Config) { c.SwitchUser = false; workDir = c.WorkDir })
	ti := commandTask("t1", "id -un")
	ti.Command.User = proto.String("agora-no-such-user") // ignored
	m.send(runTaskEvent("fw1", ti))
	m.waitState(t, "t1", mesos.TaskState_TASK_FINISHED)
	runs, _ := filepath.Glob(filepath.Join(workDir, "slaves", "*", "frameworks", "fw1", "executors", "t1", "runs", "*-*"))
	if len(runs) != 1 {
		t.Fatalf("sandboxes %v", runs)
	}
	out, _ := os.ReadFile(filepath.Join(runs[0], "stdout"))
	if !strings.Contains(string(out), me.Username+"\n") {
		t.Fatalf("stdout %q, want %s", out, me.Username)
	}
}

func itoa(n uint32) string { return uintString(n) }

func uintString(n uint32) string {
	b := []byte{}
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
		if n == 0 {
			return string(b)
		}
	}
}

// TestSwitchUserUnknownUserDropsTaskGroup: a task group whose default
// executor would run as a user this machine lacks is refused on arrival,
// every task with Mesos's message, and no executor is launched.
func TestSwitchUserUnknownUserDropsTaskGroup(t *testing.T) {
	t.Parallel()
	m := newFakeMaster(t)
	a := startAgent(t, m, func(c *Config) { c.SwitchUser = true })
	ev := groupEvent("fw1", "grp", commandTask("g1", "true"), commandTask("g2", "true"))
	ev.RunTask.FrameworkInfo.User = proto.String("agora-no-such-user")
	m.send(ev)
	for _, id := range []string{"g1", "g2"} {
		u := m.waitState(t, id, mesos.TaskState_TASK_LOST)
		if !strings.Contains(u.GetStatus().GetMessage(), "No such user 'agora-no-such-user'") ||
			u.GetStatus().GetReason() != mesos.TaskStatus_REASON_EXECUTOR_TERMINATED {
			t.Errorf("%s: %v", id, u.GetStatus())
		}
	}
	var execs int
	a.do(context.Background(), func() {
		for _, f := range a.st.frameworks {
			execs += len(f.executors)
		}
	})
	if execs != 0 {
		t.Errorf("%d executors registered for a missing user", execs)
	}
}
