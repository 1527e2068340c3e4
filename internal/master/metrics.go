package master

import (
	"net/http"

	"github.com/agora-dev/agora/internal/metrics"
)

// /metrics: the facts of /metrics/snapshot in the Prometheus text format,
// gathered from the loop on every scrape (internal/metrics).

func (m *Master) metricsRoutes(mux *http.ServeMux) {
	c := metrics.NewCollector(func() (map[string]float64, error) {
		var snap map[string]float64
		err := m.do(func() { snap = m.metricsSnapshot() })
		return snap, err
	}, masterMappings())
	mux.Handle("GET /metrics", metrics.Handler(c))
}

// moreMetrics adds the snapshot keys Mesos users alert on beyond the
// master's own bookkeeping: registrations, the event queue, the allocator,
// revocable resources (Agora has none) and the host.
func (m *Master) moreMetrics(out map[string]float64) {
	out["master/slave_registrations"] = float64(m.metrics.agentRegistrations)
	out["master/slave_reregistrations"] = float64(m.metrics.agentReregistrations)
	out["master/event_queue_messages"] = float64(len(m.calls))
	out["master/operator_event_stream_subscribers"] = float64(len(m.op.subscribers))
	m.messageMetrics(out)
	out["allocator/mesos/allocation_runs"] = float64(m.metrics.allocationRuns)
	out["allocator/mesos/allocation_run_ms"] = float64(m.metrics.lastAllocationRun.Microseconds()) / 1000
	for _, name := range []string{"cpus", "mem", "disk", "gpus"} {
		out["master/"+name+"_revocable_total"] = 0
		out["master/"+name+"_revocable_used"] = 0
		out["master/"+name+"_revocable_percent"] = 0
	}
	metrics.System(out)
}

// masterMappings maps every key of metricsSnapshot onto Prometheus.
// Percentages and revocable resources are left out: they are ratios of
// exported metrics, or always zero.
func masterMappings() []metrics.Mapping {
	g, c := metrics.Gauge, metrics.Counter
	out := []metrics.Mapping{
		g("master/elected", "mesos_master_elected", "1 if this master is the leader."),
		g("master/uptime_secs", "mesos_master_uptime_seconds", "Seconds since the master started."),
	}
	for _, s := range []string{"active", "inactive", "connected", "disconnected", "unreachable"} {
		out = append(out, g("master/slaves_"+s, "mesos_master_agents", "Agents, by state.", "state", s))
	}
	out = append(out,
		c("master/slave_registrations", "mesos_master_agent_registrations_total", "Agents that registered for the first time."),
		c("master/slave_reregistrations", "mesos_master_agent_reregistrations_total", "Agents that registered again."),
		c("master/slave_removals", "mesos_master_agent_removals_total", "Agents removed (unreachable or marked gone)."),
		c("master/recovery_slave_removals", "mesos_master_recovery_agent_removals_total",
			"Agents marked unreachable because they did not re-subscribe after a master failover."),
	)
	for _, s := range []string{"active", "inactive", "connected", "disconnected"} {
		out = append(out, g("master/frameworks_"+s, "mesos_master_frameworks", "Frameworks, by state.", "state", s))
	}
	for _, s := range []string{"staging", "starting", "running", "killing", "unreachable"} {
		out = append(out, g("master/tasks_"+s, "mesos_master_tasks", "Live tasks, by state.", "state", s))
	}
	for _, s := range []string{"finished", "failed", "killed", "lost", "error", "dropped", "gone", "gone_by_operator"} {
		out = append(out, c("master/tasks_"+s, "mesos_master_task_states_exit_total", "Tasks that reached a terminal state, by state.", "state", s))
	}
	out = append(out, metrics.Resources("master", "mesos_master", "total", "used", "offered")...)
	out = append(out,
		g("master/outstanding_offers", "mesos_master_outstanding_offers", "Offers sent and not yet answered."),
		c("master/offers_sent", "mesos_master_offers_sent_total", "Offers sent to frameworks."),
		c("master/offers_declined", "mesos_master_offers_declined_total", "Offers declined by frameworks."),
		c("master/offers_rescinded", "mesos_master_offers_rescinded_total", "Offers rescinded by the master."),
		c("master/valid_status_updates", "mesos_master_status_updates_total", "Status updates received from agents."),
		c("master/status_update_resends_acknowledged", "agora_master_status_update_resends_acknowledged_total",
			"Agents' resends of updates the framework had acknowledged, acknowledged by the master instead of relayed."),
		c("master/status_update_resends_held", "agora_master_status_update_resends_held_total",
			"Agents' resends of updates relayed to the framework's stream less than 25 s before, not relayed again."),
		c("master/messages_framework_to_executor", "mesos_master_framework_messages_total", "Framework messages relayed to executors."),
		c("master/calls_scheduler", "mesos_master_scheduler_calls_total", "Scheduler API calls received."),
		c("master/invalid_calls", "mesos_master_invalid_scheduler_calls_total", "Scheduler API calls refused as invalid."),
		g("master/event_queue_messages", "mesos_master_event_queue_messages", "Requests waiting for the master's loop."),
		g("master/operator_event_stream_subscribers", "mesos_master_operator_event_stream_subscribers", "Open operator API event streams."),
		c("allocator/mesos/allocation_runs", "mesos_master_allocation_runs_total", "Allocation cycles run."),
		g("allocator/mesos/allocation_run_ms", "mesos_master_allocation_run_seconds", "Duration of the last allocation cycle.").Scaled(metrics.Milliseconds),
	)
	for _, k := range messageKeys {
		out = append(out, c("master/messages_"+k, "mesos_master_messages_total", "Messages (calls) handled, by Mesos message name.", "type", k))
	}
	return append(out, metrics.SystemMappings()...)
}
