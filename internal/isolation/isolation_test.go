package isolation

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agora-dev/agora/internal/proc"
	"github.com/agora-dev/agora/internal/testutil"
)

// cgroupsOrSkip returns the cgroup isolator, skipping when the machine
// has no writable cgroups.
func cgroupsOrSkip(t *testing.T) Isolator {
	t.Helper()
	iso, err := New(Cgroups)
	testutil.Require(t, "cgroups", err == nil, fmt.Sprintf("not writable on this machine: %v", err))
	return iso
}

func TestParseMode(t *testing.T) {
	for _, s := range []string{"", "auto", "cgroups", "posix"} {
		if _, err := ParseMode(s); err != nil {
			t.Errorf("ParseMode(%q): %v", s, err)
		}
	}
	if _, err := ParseMode("docker"); err == nil {
		t.Error("ParseMode(docker) succeeded")
	}
}

func TestCgroupOOMAndDestroy(t *testing.T) {
	iso := cgroupsOrSkip(t)
	c, err := iso.Create("test-oom-"+strings.ReplaceAll(t.Name(), "/", "-"), Limits{MemBytes: 32 << 20, CPUs: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	cc := c.(*cgContainer)
	events, stop, err := cc.NotifyOOM()
	if err != nil {
		t.Fatalf("NotifyOOM: %v", err)
	}
	// A shell that puts a background sleep in a session of its own, then
	// allocates past the limit.
	cmd := exec.Command("/bin/sh", "-c", `read x; setsid sleep 300 & exec python3 -c 'b = bytearray(100 << 20); print(len(b))'`)
	stdin, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := c.Add(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	err = cmd.Wait()
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("allocation ended with %v, want SIGKILL by the OOM killer", err)
	}
	if n := c.OOMKills(); n < 1 {
		t.Fatalf("OOMKills = %d", n)
	}
	// The kernel told the watcher: no polling needed.
	select {
	case <-events:
	case <-time.After(10 * time.Second):
		t.Fatal("no OOM notification within 10s of the OOM kill")
	}
	stop()
	for range events { // drained and closed once stopped
	}
	if limit, peak := c.Memory(); limit != 32<<20 || peak == 0 {
		t.Errorf("Memory() = %d, %d", limit, peak)
	}
	if len(cc.procs()) == 0 {
		t.Fatal("background sleep not in the container")
	}
	if _, err := c.Destroy(); err != nil {
		t.Fatal(err)
	}
	for _, d := range cc.dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s still exists: %v", d, err)
		}
	}
}

func TestPosixRlimits(t *testing.T) {
	iso, _ := New(Posix)
	c, _ := iso.Create("x", Limits{})
	cmd := exec.Command("/bin/sh", "-c", "read x; ulimit -n; ulimit -c")
	stdin, _ := cmd.StdinPipe()
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := c.Add(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(out.String())
	if len(f) != 2 || f[1] != "0" {
		t.Fatalf("ulimits = %q", out.String())
	}
	if c.Exact() {
		t.Error("posix container claims to be exact")
	}
}

// TestLaunchStartsInsideContainer: a process started by Launch is in
// every cgroup of its container from its first instruction on: its very
// first action, reading /proc/self/cgroup, already sees them.
func TestLaunchStartsInsideContainer(t *testing.T) {
	iso := cgroupsOrSkip(t)
	dir := t.TempDir()
	for i := range 20 {
		id := fmt.Sprintf("test-launch-%d-%d", os.Getpid(), i)
		c, err := iso.Create(id, Limits{MemBytes: 64 << 20})
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, id)
		p, err := Launch(c, proc.Spec{Path: "/bin/cat", Args: []string{"cat", "/proc/self/cgroup"}, Stdout: out})
		if err != nil {
			t.Fatal(err)
		}
		<-p.Done()
		if e := p.Exit(); e.Code != 0 {
			t.Fatalf("cat: %v", e)
		}
		b, _ := os.ReadFile(out)
		for _, ctl := range []string{"memory", "freezer"} {
			if iso.Name() == "cgroups/v2" {
				ctl = ""
			}
			found := false
			for line := range strings.Lines(string(b)) {
				parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
				if len(parts) == 3 && slices.Contains(strings.Split(parts[1], ","), ctl) {
					found = true
					if !strings.HasSuffix(parts[2], "/agora/"+id) {
						t.Errorf("run %d: %s cgroup %q, not the container's", i, ctl, parts[2])
					}
				}
			}
			if !found {
				t.Errorf("run %d: no %q line in %q", i, ctl, b)
			}
		}
		if _, err := c.Destroy(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLaunchPosixRlimits: the posix container's rlimits are in place
// before the program runs.
func TestLaunchPosixRlimits(t *testing.T) {
	c, _ := posix{}.Create("x", Limits{})
	out := filepath.Join(t.TempDir(), "out")
	p, err := Launch(c, proc.Spec{Path: "/bin/sh", Args: []string{"sh", "-c", "ulimit -c"}, Stdout: out})
	if err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	if b, _ := os.ReadFile(out); strings.TrimSpace(string(b)) != "0" {
		t.Errorf("ulimit -c = %q, want 0", b)
	}
}
