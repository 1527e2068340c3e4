package agent

import (
	"errors"
	"strings"
	"testing"

	"github.com/agora-dev/agora/internal/resources"
)

// TestDetectFailureStopsStart: an agent whose memory or disk cannot be
// detected does not start on a made-up fallback; it says what failed and
// what to do, and starts once --resources gives the missing amounts.
func TestDetectFailureStopsStart(t *testing.T) {
	// Not parallel: it replaces detectResources for the package.
	orig := detectResources
	t.Cleanup(func() { detectResources = orig })
	detectResources = func(dir string) (resources.Resources, error) {
		r, _ := orig(dir)
		return r, errors.Join(
			&resources.DetectError{Name: resources.Mem, Err: errors.New("sysinfo: operation not permitted")},
			&resources.DetectError{Name: resources.Disk, Err: errors.New(`statfs "/x": no such file or directory`)})
	}
	cfg := DefaultConfig()
	cfg.Master = "127.0.0.1:5050"
	cfg.Port = 0
	cfg.IP = "127.0.0.1"
	cfg.WorkDir = t.TempDir()
	cfg.Resources = "cpus:2"
	_, err := New(cfg, nil)
	if err == nil {
		t.Fatal("New started an agent whose mem and disk could not be detected")
	}
	for _, want := range []string{"cannot detect mem", "sysinfo: operation not permitted", "cannot detect disk", "--resources", "mem:", "disk:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}

	cfg.Resources = "cpus:2;mem:512" // disk still undetected
	if _, err := New(cfg, nil); err == nil || strings.Contains(err.Error(), "detect mem") || !strings.Contains(err.Error(), "detect disk") {
		t.Errorf("with mem given, New = %v; want an error about disk only", err)
	}

	cfg.Resources = "cpus:2;mem:512;disk:1000"
	a, err := New(cfg, nil)
	if err != nil {
		t.Fatalf("with mem and disk given, New: %v", err)
	}
	a.ln.Close()
	if got, err := resources.FromProto(a.resources); err != nil || got.Scalar(resources.Mem) != 512 || got.Scalar(resources.Disk) != 1000 {
		t.Errorf("resources = %v, %v", got, err)
	}
}
