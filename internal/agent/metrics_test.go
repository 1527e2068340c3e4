package agent

import (
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
