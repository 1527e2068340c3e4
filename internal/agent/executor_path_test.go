package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultExecutorPath(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	// No agora-executor beside the binary: the binary itself.
	if got := defaultExecutorPath(""); got != self {
		t.Errorf("defaultExecutorPath(\"\") = %q, want the test binary %q", got, self)
	}
	if got := defaultExecutorPath(dir); got != self {
		t.Errorf("defaultExecutorPath(empty dir) = %q, want the fallback %q", got, self)
	}
	exe := filepath.Join(dir, ExecutorBinary)
	// Not executable: not taken.
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := defaultExecutorPath(dir); got != self {
		t.Errorf("non-executable agora-executor taken: %q", got)
	}
	if err := os.Chmod(exe, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := defaultExecutorPath(dir); got != exe {
		t.Errorf("defaultExecutorPath(dir) = %q, want %q", got, exe)
	}

	cfg := DefaultConfig()
	cfg.WorkDir = t.TempDir()
	cfg.Master = "127.0.0.1:5050"
	cfg.LauncherDir = dir
	if err := cfg.Validate(); err != nil {
		t.Errorf("launcher_dir with agora-executor refused: %v", err)
	}
	if got := cfg.withDefaults().ExecutorPath; got != exe {
		t.Errorf("ExecutorPath with launcher_dir = %q, want %q", got, exe)
	}
	cfg.LauncherDir = t.TempDir()
	err = cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "no executable agora-executor") {
		t.Errorf("launcher_dir without agora-executor: err = %v", err)
	}
	// An explicit ExecutorPath wins over launcher_dir.
	cfg.ExecutorPath = self
	if err := cfg.Validate(); err != nil {
		t.Errorf("ExecutorPath with an empty launcher_dir refused: %v", err)
	}
}
