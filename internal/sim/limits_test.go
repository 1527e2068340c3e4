package sim

import (
	"strings"
	"syscall"
	"testing"
)

// TestOpenFilesLimit: a fleet larger than the process's open-file limit
// is refused with what to do; a smaller one raises the soft limit to
// what it needs.
func TestOpenFilesLimit(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skip(err)
	}
	if lim.Max > 1<<24 {
		t.Skipf("the hard limit (%d) is too high to exceed", lim.Max)
	}
	cfg := DefaultConfig()
	cfg.Masters = []string{"127.0.0.1:1"}
	cfg.Agents = int(lim.Max)
	if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), "open files") || !strings.Contains(err.Error(), "several `agora sim` processes") {
		t.Errorf("%d agents with a limit of %d: %v", cfg.Agents, lim.Max, err)
	}

	low := lim
	low.Cur = 200
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { _ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim) })
	cfg.Agents = 500
	if _, err := New(cfg, nil); err != nil {
		t.Fatalf("500 agents, soft limit 200, hard %d: %v", lim.Max, err)
	}
	var now syscall.Rlimit
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &now)
	if now.Cur < openFilesNeeded(cfg) {
		t.Errorf("soft limit %d after New, want at least %d", now.Cur, openFilesNeeded(cfg))
	}
}
