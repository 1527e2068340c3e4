package master

import (
	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	schedpb "github.com/agora-dev/agora/api/mesos/v1/scheduler"
)

// Mesos counts every message its master handles under master/messages_*;
// monitoring built for Mesos alerts on them. Agora counts the calls that
// play the same part under the same names.

// messageKeys are the master/messages_* counters, always reported.
var messageKeys = []string{
	"register_framework", "reregister_framework", "unregister_framework",
	"launch_tasks", "decline_offers", "revive_offers", "suppress_offers",
	"kill_task", "reconcile_tasks", "resource_request",
	"status_update", "status_update_acknowledgement",
	"exited_executor", "executor_to_framework",
	"register_slave", "reregister_slave",
}

// schedulerMessage names the Mesos message a scheduler call stands for.
var schedulerMessage = map[schedpb.Call_Type]string{
	schedpb.Call_TEARDOWN:    "unregister_framework",
	schedpb.Call_ACCEPT:      "launch_tasks",
	schedpb.Call_DECLINE:     "decline_offers",
	schedpb.Call_REVIVE:      "revive_offers",
	schedpb.Call_SUPPRESS:    "suppress_offers",
	schedpb.Call_KILL:        "kill_task",
	schedpb.Call_RECONCILE:   "reconcile_tasks",
	schedpb.Call_REQUEST:     "resource_request",
	schedpb.Call_ACKNOWLEDGE: "status_update_acknowledgement",
}

// agentMessage names the Mesos message an agent call stands for.
var agentMessage = map[agentpb.Call_Type]string{
	agentpb.Call_UPDATE:          "status_update",
	agentpb.Call_EXECUTOR_EXITED: "exited_executor",
	agentpb.Call_MESSAGE:         "executor_to_framework",
}

// countMessage counts one master/messages_<name>.
func (m *Master) countMessage(name string) {
	if name == "" {
		return
	}
	if m.metrics.messages == nil {
		m.metrics.messages = make(map[string]int64)
	}
	m.metrics.messages[name]++
}

// messageMetrics adds the master/messages_* counters to a snapshot.
func (m *Master) messageMetrics(out map[string]float64) {
	for _, k := range messageKeys {
		out["master/messages_"+k] = float64(m.metrics.messages[k])
	}
}
