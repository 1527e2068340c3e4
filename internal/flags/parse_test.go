package flags

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func testSet() (*flag.FlagSet, *time.Duration, *bool, *string, *string) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var d time.Duration
	DurationVar(fs, &d, "agent_ping_timeout", 15*time.Second, "")
	b := fs.Bool("switch_user", true, "")
	s := fs.String("work_dir", "", "")
	m := fs.String("master", "", "")
	return fs, &d, b, s, m
}

var opts = Options{Env: true, Aliases: map[string]string{"slave_ping_timeout": "agent_ping_timeout"}, Verbatim: []string{"master"}}

func TestParseMesosConventions(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "wd")
	if err := os.WriteFile(p, []byte("/var/lib/agora\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fs, d, b, s, m := testSet()
	err := Parse(fs, []string{"--slave_ping_timeout=1mins", "--no-switch_user", "--work_dir", "file://" + p,
		"--master=file:///etc/masters"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if *d != time.Minute || *b || *s != "/var/lib/agora" || *m != "file:///etc/masters" {
		t.Errorf("got %v %v %q %q", *d, *b, *s, *m)
	}
}

func TestParseEnvironment(t *testing.T) {
	t.Setenv("MESOS_AGENT_PING_TIMEOUT", "3secs")
	t.Setenv("MESOS_WORK_DIR", "/mesos")
	t.Setenv("AGORA_WORK_DIR", "/agora")
	t.Setenv("MESOS_SWITCH_USER", "false")
	fs, d, b, s, _ := testSet()
	if err := Parse(fs, nil, opts); err != nil {
		t.Fatal(err)
	}
	if *d != 3*time.Second || *s != "/agora" || *b {
		t.Errorf("from the environment: %v %q %v", *d, *s, *b)
	}
	// The command line wins over the environment, an alias counts as set.
	fs, d, _, _, _ = testSet()
	if err := Parse(fs, []string{"--slave_ping_timeout=9secs"}, opts); err != nil {
		t.Fatal(err)
	}
	if *d != 9*time.Second {
		t.Errorf("the environment overrode the command line: %v", *d)
	}
	t.Setenv("MESOS_AGENT_PING_TIMEOUT", "soon")
	fs, _, _, _, _ = testSet()
	if err := Parse(fs, nil, opts); err == nil {
		t.Error("a bad environment value was accepted")
	}
}

func TestParseErrors(t *testing.T) {
	fs, _, _, _, _ := testSet()
	if err := Parse(fs, []string{"--no-such_flag"}, opts); err == nil {
		t.Error("an unknown flag was accepted")
	}
	fs, _, _, _, _ = testSet()
	if err := Parse(fs, []string{"--work_dir=file:///nonexistent/x"}, opts); err == nil {
		t.Error("an unreadable file:// value was accepted")
	}
	fs, _, _, _, _ = testSet()
	if err := Parse(fs, []string{"--no-work_dir"}, opts); err == nil {
		t.Error("--no- of a string flag was accepted")
	}
}
