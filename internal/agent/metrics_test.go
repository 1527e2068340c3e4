package agent

import (
	"strings"
	"testing"

	"github.com/agora-dev/agora/internal/metrics"
)

// The agent's mapping table is consistent (NewCollector panics otherwise)
// and names only keys its snapshot has.
func TestAgentMetricsMappings(t *testing.T) {
	metrics.NewCollector(nil, agentMappings())
	known := map[string]bool{}
	for _, s := range []string{"staging", "starting", "running", "killing", "finished", "failed", "killed", "lost", "gone", "dropped", "error"} {
		known["slave/tasks_"+s] = true
	}
	for _, k := range []string{"slave/registered", "slave/uptime_secs", "slave/frameworks_active",
		"slave/executors_registering", "slave/executors_running", "slave/executors_terminating"} {
		known[k] = true
	}
	for _, k := range []string{"gc/path_removals_succeeded", "gc/path_removals_failed", "gc/path_removals_pending",
		"containerizer/fetcher/cache_size_total_bytes", "containerizer/fetcher/cache_size_used_bytes",
		"containerizer/fetcher/task_fetches_succeeded", "containerizer/fetcher/task_fetches_failed"} {
		known[k] = true
	}
	for _, k := range agentEventKeys {
		known["slave/"+k] = true
	}
	for _, r := range []string{"cpus", "mem", "disk", "gpus"} {
		known["slave/"+r+"_total"], known["slave/"+r+"_used"] = true, true
	}
	for _, k := range []string{"system/cpus_total", "system/load_1min", "system/load_5min", "system/load_15min", "system/mem_total_bytes", "system/mem_free_bytes"} {
		known[k] = true
	}
	for _, k := range metrics.Keys(agentMappings()) {
		if !known[k] {
			t.Errorf("mapping of unknown key %s", k)
		}
	}
}

// Every key of the agent's /metrics/snapshot reaches /metrics, except
// ratios of exported metrics.
func TestAgentMetricsMappingsCoverSnapshot(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Master = "127.0.0.1:1"
	cfg.Port = 0
	cfg.WorkDir = t.TempDir()
	cfg.Resources = "cpus:1;mem:128;disk:100"
	cfg.Isolation = "posix"
	a, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.ln.Close()
	snap := a.st.metrics() // the loop is not running: this goroutine owns the state
	mapped := map[string]bool{}
	for _, k := range metrics.Keys(agentMappings()) {
		mapped[k] = true
		if _, ok := snap[k]; !ok {
			t.Errorf("mapping of %s, which the snapshot lacks", k)
		}
	}
	for k := range snap {
		if !mapped[k] && !strings.HasSuffix(k, "_percent") {
			t.Errorf("snapshot key %s is not exported to Prometheus", k)
		}
	}
}
