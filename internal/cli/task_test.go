package cli

import (
	"strings"
	"testing"
	"time"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
)

func TestWhy(t *testing.T) {
	now := time.Now()
	task := func(s mesos.TaskState) *mesos.Task { return &mesos.Task{State: s.Enum()} }
	for _, tc := range []struct {
		task *mesos.Task
		d    taskDetail
		want string
	}{
		{task(mesos.TaskState_TASK_RUNNING), taskDetail{}, ""},
		{task(mesos.TaskState_TASK_STAGING), taskDetail{Launched: now.Add(-95 * time.Second)}, "staging for 1m35s: the agent has not reported the task starting yet"},
		{task(mesos.TaskState_TASK_FAILED), taskDetail{Message: "Command exited with status 3", Source: "SOURCE_EXECUTOR", Reason: "REASON_COMMAND_EXECUTOR_FAILED"},
			"Command exited with status 3 (REASON_COMMAND_EXECUTOR_FAILED, from EXECUTOR)"},
		{task(mesos.TaskState_TASK_LOST), taskDetail{Reason: "REASON_AGENT_REMOVED", Source: "SOURCE_MASTER"}, "(REASON_AGENT_REMOVED, from MASTER)"},
		{task(mesos.TaskState_TASK_KILLED), taskDetail{}, "no message or reason was reported"},
	} {
		if got := why(tc.task, &tc.d, now); !strings.HasPrefix(got, tc.want) || (tc.want == "" && got != "") {
			t.Errorf("why(%s, %+v) = %q, want prefix %q", tc.task.GetState(), tc.d, got, tc.want)
		}
	}
}
