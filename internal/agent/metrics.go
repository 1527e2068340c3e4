package agent

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/agora-dev/agora/internal/metrics"
)

// /metrics: the facts of /metrics/snapshot in the Prometheus text format,
// read from the loop on every scrape (internal/metrics).

// metricsHandler serves GET /metrics.
func (a *Agent) metricsHandler() http.Handler {
	c := metrics.NewCollector(func() (map[string]float64, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var snap map[string]float64
		if !a.do(ctx, func() { snap = a.st.metrics() }) {
			return nil, errors.New("agent is shutting down")
		}
		return snap, nil
	}, agentMappings())
	return metrics.Handler(c)
}

// agentMappings maps the keys of the agent's snapshot onto Prometheus;
// percentages are left out (ratios of exported metrics).
func agentMappings() []metrics.Mapping {
	g, c := metrics.Gauge, metrics.Counter
	out := []metrics.Mapping{
		g("slave/registered", "mesos_agent_registered", "1 while the agent is subscribed to a master."),
		g("slave/uptime_secs", "mesos_agent_uptime_seconds", "Seconds since the agent started."),
		g("slave/frameworks_active", "mesos_agent_frameworks_active", "Frameworks with executors on this agent."),
	}
	for _, s := range []string{"staging", "starting", "running", "killing"} {
		out = append(out, g("slave/tasks_"+s, "mesos_agent_tasks", "Live tasks, by state.", "state", s))
	}
	for _, s := range []string{"finished", "failed", "killed", "lost", "gone", "dropped", "error"} {
		out = append(out, c("slave/tasks_"+s, "mesos_agent_task_states_exit_total", "Tasks that reached a terminal state, by state.", "state", s))
	}
	for _, s := range []string{"registering", "running", "terminating"} {
		out = append(out, g("slave/executors_"+s, "mesos_agent_executors", "Executors, by state.", "state", s))
	}
	out = append(out,
		c("slave/valid_status_updates", "mesos_agent_status_updates_total", "Status updates from executors, by validity.", "valid", "true"),
		c("slave/invalid_status_updates", "mesos_agent_status_updates_total", "Status updates from executors, by validity.", "valid", "false"),
		c("slave/valid_framework_messages", "mesos_agent_framework_messages_total", "Framework messages for executors, by whether they were delivered.", "valid", "true"),
		c("slave/invalid_framework_messages", "mesos_agent_framework_messages_total", "Framework messages for executors, by whether they were delivered.", "valid", "false"),
		c("slave/executors_terminated", "mesos_agent_executors_terminated_total", "Executors that ended."),
		c("slave/container_launch_errors", "mesos_agent_container_launch_errors_total", "Executors that failed to launch (fetch, start)."),
		c("gc/path_removals_succeeded", "mesos_agent_gc_path_removals_total", "Sandbox paths garbage-collected, by result.", "result", "succeeded"),
		c("gc/path_removals_failed", "mesos_agent_gc_path_removals_total", "Sandbox paths garbage-collected, by result.", "result", "failed"),
		g("gc/path_removals_pending", "mesos_agent_gc_path_removals_pending", "Sandbox paths scheduled for garbage collection."),
		g("containerizer/fetcher/cache_size_total_bytes", "mesos_agent_fetcher_cache_size_total_bytes", "Size bound of the fetcher cache."),
		g("containerizer/fetcher/cache_size_used_bytes", "mesos_agent_fetcher_cache_size_used_bytes", "Bytes of completed downloads in the fetcher cache."),
		c("containerizer/fetcher/task_fetches_succeeded", "mesos_agent_fetcher_task_fetches_total", "Fetches of a task's URIs, by result.", "result", "succeeded"),
		c("containerizer/fetcher/task_fetches_failed", "mesos_agent_fetcher_task_fetches_total", "Fetches of a task's URIs, by result.", "result", "failed"),
	)
	out = append(out, metrics.Resources("slave", "mesos_agent", "total", "used")...)
	return append(out, metrics.SystemMappings()...)
}

// agentEventKeys are the slave/* event counters Mesos users alert on,
// always present in /metrics/snapshot.
var agentEventKeys = []string{
	"valid_status_updates", "invalid_status_updates",
	"valid_framework_messages", "invalid_framework_messages",
	"executors_terminated", "container_launch_errors",
}
