package flags

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"15secs": 15 * time.Second, "10mins": 10 * time.Minute, "500ms": 500 * time.Millisecond,
		"2hrs": 2 * time.Hour, "1weeks": 7 * 24 * time.Hour, "1m30s": 90 * time.Second,
	} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "10", "ten mins", "5parsecs"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	var d time.Duration
	DurationVar(fs, &d, "t", time.Second, "")
	if err := fs.Parse([]string{"--t=3mins"}); err != nil || d != 3*time.Minute {
		t.Errorf("flag: %v %v", d, err)
	}
}

func TestPercent(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(new(nopWriter))
	var p float64
	PercentVar(fs, &p, "l", 1, "")
	if err := fs.Parse([]string{"--l=50%"}); err != nil || p != 0.5 {
		t.Errorf("50%%: %v %v", p, err)
	}
	for _, bad := range []string{"50", "101%", "-1%", "x%"} {
		if err := fs.Parse([]string{"--l=" + bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestAddresses(t *testing.T) {
	got, err := Addresses("a:1, http://b:2/,c:3")
	if want := []string{"a:1", "b:2", "c:3"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("list: %v %v", got, err)
	}
	p := filepath.Join(t.TempDir(), "masters")
	if err := os.WriteFile(p, []byte("10.0.0.1:5050\n10.0.0.2:5050\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err = Addresses("file://" + p)
	if want := []string{"10.0.0.1:5050", "10.0.0.2:5050"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("file: %v %v", got, err)
	}
	for _, bad := range []string{"", "a", "a:b", "a:1,b", "file:///nonexistent"} {
		if _, err := Addresses(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

type nopWriter struct{}

func (*nopWriter) Write(p []byte) (int, error) { return len(p), nil }
