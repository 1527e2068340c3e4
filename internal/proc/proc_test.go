package proc

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
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
