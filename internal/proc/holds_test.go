package proc

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary be a program that holds itself.
func TestMain(m *testing.M) {
	if marker := os.Getenv("AGORA_PROC_TEST_MARKER"); marker != "" {
		if !AwaitRelease(os.Getenv) {
			os.Exit(HeldExitCode)
		}
		// The gate is closed once released: nothing the program starts
		// inherits it.
		fd3, _ := os.Readlink("/proc/self/fd/3")
		closed := !strings.HasPrefix(fd3, "pipe:")
		if err := os.WriteFile(marker, fmt.Appendf(nil, "%d %v", os.Getpid(), closed), 0o644); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestHoldsItself: a program started held that holds itself runs
// directly (no shim: the pid blocked on the gate is the program's own),
// does nothing before Release, and exits with HeldExitCode without
// running when its gate closes unreleased.
func TestHoldsItself(t *testing.T) {
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	start := func(marker string) *Process {
		t.Helper()
		p, err := Start(Spec{Path: self, Args: []string{self, "-test.run=^$"}, Held: true, HoldsItself: true,
			Env: []string{"AGORA_PROC_TEST_MARKER=" + marker}, Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			b, _ := os.ReadFile(filepath.Join("/proc", fmt.Sprint(p.Pid()), "wchan"))
			if strings.Contains(string(b), "pipe_read") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("program not blocked on its gate (wchan %q)", b)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if exe, _ := os.Readlink(filepath.Join("/proc", fmt.Sprint(p.Pid()), "exe")); exe != self {
			t.Errorf("held process runs %q, want the program itself %q (no shim)", exe, self)
		}
		return p
	}
	marker := filepath.Join(dir, "ran")
	p := start(marker)
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the program ran before Release")
	}
	if err := p.Release(); err != nil {
		t.Fatal(err)
	}
	if e := waitExit(t, p); e.Code != 0 {
		t.Fatalf("exit %v", e)
	}
	if b, _ := os.ReadFile(marker); string(b) != fmt.Sprintf("%d true", p.Pid()) {
		t.Errorf("the program wrote %q, want its pid %d and its gate closed", b, p.Pid())
	}

	p = start(marker + "2")
	p.closeGate()
	if e := waitExit(t, p); e.Code != HeldExitCode {
		t.Errorf("unreleased exit %v, want %d", e, HeldExitCode)
	}
	if _, err := os.Stat(marker + "2"); err == nil {
		t.Error("the unreleased program ran")
	}
}
