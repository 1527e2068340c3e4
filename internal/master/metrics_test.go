package master

import (
	"strings"
	"testing"

	"github.com/agora-dev/agora/internal/metrics"
)

// Every /metrics/snapshot key reaches /metrics, except ratios of exported
// metrics and Agora's always-zero revocable resources.
func TestMetricsMappingsCoverSnapshot(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Port = 0
	m, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.ln.Close()
	defer m.reg.Close()
	snap := m.metricsSnapshot() // the loop is not running: this goroutine owns the state
	mapped := map[string]bool{}
	for _, k := range metrics.Keys(masterMappings()) {
		mapped[k] = true
		if _, ok := snap[k]; !ok {
			t.Errorf("mapping of %s, which the snapshot lacks", k)
		}
	}
	for k := range snap {
		if !mapped[k] && !strings.HasSuffix(k, "_percent") && !strings.Contains(k, "_revocable_") {
			t.Errorf("snapshot key %s is not exported to Prometheus", k)
		}
	}
	metrics.NewCollector(nil, masterMappings()) // panics on an inconsistent table
}
