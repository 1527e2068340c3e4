package supervise

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestMain lets the test binary be the supervisor.
func TestMain(m *testing.M) {
	if os.Getenv("AGORA_TEST_SUPERVISE") == "1" {
		os.Exit(Main(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// supervise runs the supervisor on argv and returns its exit code, its
// exit record and its start report.
func supervise(t *testing.T, argv ...string) (int, Record, string) {
	t.Helper()
	dir := t.TempDir()
	exitf, err := os.Create(filepath.Join(dir, "exit"))
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], argv...)
	cmd.Env = append(os.Environ(), "AGORA_TEST_SUPERVISE=1")
	cmd.ExtraFiles = []*os.File{nil, exitf, w} // fds 3 (no gate), 4, 5
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exitf.Close()
	w.Close()
	var report strings.Builder
	buf := make([]byte, 512)
	for {
		n, err := r.Read(buf)
		report.Write(buf[:n])
		if err != nil {
			break
		}
	}
	r.Close()
	_ = cmd.Wait()
	b, err := os.ReadFile(filepath.Join(dir, "exit"))
	if err != nil {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), Parse(b), report.String()
}

func TestExitRecorded(t *testing.T) {
	code, rec, report := supervise(t, "/bin/sh", "sh", "-c", "exit 3")
	if code != 3 || !rec.Written || rec.Err != "" || rec.Exit().Code != 3 || rec.Exit().Signaled {
		t.Fatalf("exit 3: code %d, record %+v", code, rec)
	}
	if !strings.HasPrefix(report, "started ") {
		t.Fatalf("start report %q", report)
	}
	code, rec, _ = supervise(t, "true", "true") // looked up in PATH
	if code != 0 || !rec.Written || rec.Exit().Code != 0 {
		t.Fatalf("true: code %d, record %+v", code, rec)
	}
}

func TestSignalRecorded(t *testing.T) {
	code, rec, _ := supervise(t, "/bin/sh", "sh", "-c", "kill -TERM $$")
	x := rec.Exit()
	if code != 128+int(syscall.SIGTERM) || !x.Signaled || x.Signal != syscall.SIGTERM {
		t.Fatalf("code %d, exit %+v", code, x)
	}
}

func TestStartFailureReported(t *testing.T) {
	code, rec, report := supervise(t, "agora-no-such-program", "x")
	if code != ExitCode || rec.Err == "" || !strings.Contains(rec.Err, "agora-no-such-program") {
		t.Fatalf("code %d, record %+v", code, rec)
	}
	if got := Parse([]byte(report)); got.Err != rec.Err {
		t.Fatalf("start report %q, record %q", report, rec.Err)
	}
}

// The command inherits neither descriptor, leads its own process group,
// and does not see the gate's variable.
func TestCommandIsolatedFromSupervisor(t *testing.T) {
	script := `for fd in 4 5; do [ -e /proc/self/fd/$fd ] && exit 10; done
[ "$(ps -o pgid= -p $$ | tr -d ' ')" = "$$" ] || exit 11
[ -z "$AGORA_HOLD_FD" ] || exit 12
exit 0`
	t.Setenv("AGORA_HOLD_FD", "")
	code, rec, _ := supervise(t, "/bin/sh", "sh", "-c", script)
	if code != 0 || rec.Exit().Code != 0 {
		t.Fatalf("code %d, record %+v", code, rec)
	}
}

func TestParse(t *testing.T) {
	for in, want := range map[string]Record{
		"":             {},
		"status 0":     {}, // no newline: partial
		"status x\n":   {},
		"bogus 1\n":    {},
		"status 256\n": {Written: true, Status: 256},
		"started 42\n": {Written: true},
		"error \n":     {Written: true, Err: "unknown error"},
		"error boom\n": {Written: true, Err: "boom"},
	} {
		if got := Parse([]byte(in)); got != want {
			t.Errorf("Parse(%q) = %+v, want %+v", in, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("status 0\n"))
	f.Add([]byte("error x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := Parse(b)
		if !r.Written && (r.Err != "" || r.Status != 0) {
			t.Fatalf("unwritten record with content: %+v", r)
		}
	})
}
