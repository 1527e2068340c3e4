package proc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agora-dev/agora/internal/testutil"
)

func waitExit(t *testing.T, p *Process) Exit {
	t.Helper()
	select {
	case <-p.Done():
		return p.Exit()
	case <-time.After(30 * time.Second):
		t.Fatal("process did not exit")
		return Exit{}
	}
}

// groupGone waits until no process of the group is left.
func groupGone(t *testing.T, pgid int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := syscall.Kill(-pgid, 0)
		if errors.Is(err, syscall.ESRCH) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process group %d still alive", pgid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestOutputAndExitCode(t *testing.T) {
	dir := t.TempDir()
	out, errf := filepath.Join(dir, "stdout"), filepath.Join(dir, "stderr")
	p, err := Start(Spec{Path: "/bin/sh", Args: []string{"sh", "-c", "echo out; echo err >&2; pwd; echo $FOO; exit 7"},
		Env: []string{"FOO=bar"}, Dir: dir, Stdout: out, Stderr: errf})
	if err != nil {
		t.Fatal(err)
	}
	e := waitExit(t, p)
	if e.Code != 7 || e.Signaled || e.String() != "Command exited with status 7" {
		t.Errorf("exit = %+v (%s)", e, e)
	}
	o, _ := os.ReadFile(out)
	if got := string(o); got != "out\n"+dir+"\nbar\n" {
		t.Errorf("stdout = %q", got)
	}
	if e, _ := os.ReadFile(errf); string(e) != "err\n" {
		t.Errorf("stderr = %q", e)
	}
}

func TestLookPathAndMissingProgram(t *testing.T) {
	p, err := Start(Spec{Path: "true"})
	if err != nil {
		t.Fatal(err)
	}
	if e := waitExit(t, p); e.Code != 0 {
		t.Errorf("true exited %v", e)
	}
	if _, err := Start(Spec{Path: "no-such-program-agora"}); err == nil {
		t.Error("starting a missing program succeeded")
	}
	if _, err := Start(Spec{}); err == nil {
		t.Error("starting an empty path succeeded")
	}
}

func TestKillGroupWithGrace(t *testing.T) {
	// The leader ignores SIGTERM and has a child: both must be gone after
	// the grace period.
	ready := filepath.Join(t.TempDir(), "ready")
	p, err := Start(Spec{Path: "/bin/sh", Args: []string{"sh", "-c", "trap '' TERM; sleep 600 & touch " + ready + "; wait"}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, err := os.Stat(ready); err != nil; _, err = os.Stat(ready) {
		if time.Now().After(deadline) {
			t.Fatal("the shell never became ready")
		}
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	p.Kill(200 * time.Millisecond)
	p.Kill(time.Hour) // a second kill does not change the first
	e := waitExit(t, p)
	if !e.Signaled || e.Signal != syscall.SIGKILL {
		t.Errorf("exit = %+v, want killed by SIGKILL", e)
	}
	if !strings.Contains(e.String(), "signal") {
		t.Errorf("exit string %q", e)
	}
	if time.Since(start) > 20*time.Second {
		t.Errorf("kill took %s", time.Since(start))
	}
	groupGone(t, p.Pid())
}

func TestKillNow(t *testing.T) {
	p, err := Start(Spec{Path: "sleep", Args: []string{"sleep", "600"}})
	if err != nil {
		t.Fatal(err)
	}
	p.Kill(0)
	if e := waitExit(t, p); !e.Signaled {
		t.Errorf("exit = %+v, want signaled", e)
	}
	groupGone(t, p.Pid())
}

// TestHeldRunsNothingUntilReleased: a held process does not run its
// program before Release, then runs it with its argv, environment and
// directory; a gate closed unreleased ends it without running anything.
func TestHeldRunsNothingUntilReleased(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "stdout")
	marker := filepath.Join(dir, "ran")
	p, err := Start(Spec{Path: "/bin/sh", Args: []string{"sh", "-c", `touch ran; echo "$FOO $# $1"`, "sh", "a b"},
		Env: []string{"FOO=bar"}, Dir: dir, Stdout: out, Held: true})
	if err != nil {
		t.Fatal(err)
	}
	// Held: the shim is blocked on its gate. Its pid is the program's.
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("shim blocked on its gate", func() bool {
		b, _ := os.ReadFile(filepath.Join("/proc", fmt.Sprint(p.Pid()), "wchan"))
		return strings.Contains(string(b), "pipe_read")
	})
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("held process ran its program before Release")
	}
	if err := p.Release(); err != nil {
		t.Fatal(err)
	}
	e := waitExit(t, p)
	if e.Code != 0 {
		t.Fatalf("exit %v", e)
	}
	if o, _ := os.ReadFile(out); string(o) != "bar 1 a b\n" {
		t.Errorf("stdout %q", o)
	}
	// The environment is the spec's: the shim adds no PWD.
	envOut := filepath.Join(dir, "env")
	p, err = Start(Spec{Path: "env", Env: []string{"FOO=bar"}, Dir: dir, Stdout: envOut, Held: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Release(); err != nil {
		t.Fatal(err)
	}
	waitExit(t, p)
	if o, _ := os.ReadFile(envOut); string(o) != "FOO=bar\n" {
		t.Errorf("environment %q, want only FOO=bar", o)
	}

	p, err = Start(Spec{Path: "/bin/sh", Args: []string{"sh", "-c", `touch "$1"`, "sh", marker + "2"}, Held: true})
	if err != nil {
		t.Fatal(err)
	}
	p.closeGate()
	if e := waitExit(t, p); e.Code != HeldExitCode {
		t.Errorf("unreleased exit %v, want %d", e, HeldExitCode)
	}
	if _, err := os.Stat(marker + "2"); err == nil {
		t.Error("unreleased process ran its program")
	}

	if _, err := Start(Spec{Path: filepath.Join(dir, "missing"), Held: true}); err == nil {
		t.Error("held start of a missing program succeeded")
	}
}

// TestCgroupFD: with UseCgroupFD the process is born in that cgroup v2
// directory (tried on the v2 hierarchy when one is writable here).
func TestCgroupFD(t *testing.T) {
	root := "/sys/fs/cgroup"
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err != nil {
		root = "/sys/fs/cgroup/unified"
	}
	if _, err := os.Stat(filepath.Join(root, "cgroup.procs")); err != nil {
		// Not a missing prerequisite: a kernel with only v1 hierarchies
		// mounted is a legitimate setup, where the agent never uses this.
		t.Skip("no cgroup v2 hierarchy mounted (only v1): CLONE_INTO_CGROUP is not used here")
	}
	own := ""
	b, _ := os.ReadFile("/proc/self/cgroup")
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			own = p
		}
	}
	d := filepath.Join(root, own, fmt.Sprintf("agora-proc-test-%d", os.Getpid()))
	err := os.Mkdir(d, 0o755)
	testutil.Require(t, "cgroups", err == nil, fmt.Sprintf("the cgroup v2 hierarchy is not writable: %v", err))
	defer os.Remove(d)
	f, err := os.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := filepath.Join(t.TempDir(), "out")
	p, err := Start(Spec{Path: "/bin/cat", Args: []string{"cat", "/proc/self/cgroup"}, Stdout: out,
		UseCgroupFD: true, CgroupFD: int(f.Fd())})
	testutil.Require(t, "clone3 with CLONE_INTO_CGROUP", err == nil, fmt.Sprintf("the kernel refused it: %v", err))
	waitExit(t, p)
	o, _ := os.ReadFile(out)
	if want := "0::" + filepath.Join(own, filepath.Base(d)) + "\n"; !strings.Contains(string(o), want) {
		t.Errorf("cgroups of the child %q, want the line %q", o, want)
	}
}
