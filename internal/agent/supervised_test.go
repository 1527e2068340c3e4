package agent

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	executorpb "github.com/agora-dev/agora/api/mesos/v1/executor"
	"google.golang.org/protobuf/proto"
)

// commandProcesses counts the live processes of a container that run
// the (test binary as) command executor or supervisor, by argv.
func commandProcesses(marker, arg string) int {
	n := 0
	for _, pid := range processesWith(marker) {
		b, err := os.ReadFile("/proc/" + pid + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) > 1 && args[0] == os.Args[0] && args[1] == arg {
			n++
		}
	}
	return n
}

// With CommandExecutor "agent" (the default) a command task's container
// holds a supervisor and the command, no command executor; the updates
// are still the command executor's, and its kill policy holds. With
// "process" the task gets its executor process, as before.
func TestCommandTaskRunByAgent(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{CommandExecutorAgent, CommandExecutorProcess} {
		t.Run(mode, func(t *testing.T) {
			m := newFakeMaster(t)
			a := startAgent(t, m, func(c *Config) { c.CommandExecutor = mode })
			ev := runTaskEvent("fw1", commandTask("s1", "trap 'exit 7' TERM; sleep 60 & wait"))
			ev.RunTask.FrameworkInfo.Capabilities = []*mesos.FrameworkInfo_Capability{
				{Type: mesos.FrameworkInfo_Capability_TASK_KILLING_STATE.Enum()}}
			m.send(ev)
			running := m.waitState(t, "s1", mesos.TaskState_TASK_RUNNING)
			if got := running.GetStatus().GetSource(); got != mesos.TaskStatus_SOURCE_EXECUTOR {
				t.Errorf("TASK_RUNNING source %s, want SOURCE_EXECUTOR", got)
			}
			if running.GetStatus().GetContainerStatus().GetExecutorPid() == 0 {
				t.Error("TASK_RUNNING without container_status.executor_pid")
			}
			marker := containerMarker(t, a, "fw1", "s1")
			sup, exec := commandProcesses(marker, "supervise"), commandProcesses(marker, "-test.run=^$")
			if mode == CommandExecutorAgent && (sup != 1 || exec != 0) {
				t.Fatalf("agent mode: %d supervisors and %d executors, want 1 and 0", sup, exec)
			}
			if mode == CommandExecutorProcess && (sup != 0 || exec != 1) {
				t.Fatalf("process mode: %d supervisors and %d executors, want 0 and 1", sup, exec)
			}
			if mode == CommandExecutorAgent {
				// Nobody may speak for the executor the agent plays.
				body, _ := proto.Marshal(&executorpb.Call{Type: executorpb.Call_SUBSCRIBE.Enum(),
					FrameworkId: &mesos.FrameworkID{Value: proto.String("fw1")},
					ExecutorId:  &mesos.ExecutorID{Value: proto.String("s1")}, Subscribe: &executorpb.Call_Subscribe{}})
				resp, _ := doRequest(t, http.MethodPost, a.url("/api/v1/executor"), codec.MediaProtobuf, body,
					map[string]string{"Accept": codec.MediaProtobuf})
				if resp.StatusCode != http.StatusForbidden {
					t.Errorf("SUBSCRIBE for the agent's command task: %d, want 403", resp.StatusCode)
				}
			}
			m.send(&agentpb.Event{Type: agentpb.Event_KILL_TASK.Enum(), KillTask: &agentpb.Event_KillTask{
				FrameworkId: &mesos.FrameworkID{Value: proto.String("fw1")}, TaskId: &mesos.TaskID{Value: proto.String("s1")},
				KillPolicy: &mesos.KillPolicy{GracePeriod: &mesos.DurationInfo{Nanoseconds: proto.Int64(int64(20 * time.Second))}},
			}})
			m.waitState(t, "s1", mesos.TaskState_TASK_KILLING)
			u := m.waitState(t, "s1", mesos.TaskState_TASK_KILLED)
			// The command's TERM trap ran: SIGTERM first, within the grace.
			if msg := u.GetStatus().GetMessage(); msg != "Command exited with status 7" {
				t.Errorf("TASK_KILLED message %q, want the command's exit", msg)
			}
			waitFor(t, 10*time.Second, "no process left", func() bool { return len(processesWith(marker)) == 0 })
		})
	}
}

// A command that cannot start fails as with the command executor:
// TASK_STARTING, then TASK_FAILED saying why.
func TestCommandTaskRunByAgentStartFailure(t *testing.T) {
	t.Parallel()
	m := newFakeMaster(t)
	startAgent(t, m, nil)
	ti := commandTask("nx", "/agora/no/such/program")
	ti.Command.Shell = proto.Bool(false)
	m.send(runTaskEvent("fw1", ti))
	u := m.waitState(t, "nx", mesos.TaskState_TASK_FAILED)
	if msg := u.GetStatus().GetMessage(); !strings.HasPrefix(msg, "Failed to launch command: ") || !strings.Contains(msg, "no such file") {
		t.Errorf("message %q", msg)
	}
	var states []string
	for _, x := range m.updates("nx") {
		states = append(states, x.GetStatus().GetState().String())
	}
	if strings.Join(states, ",") != "TASK_STARTING,TASK_FAILED" {
		t.Errorf("states %v, want TASK_STARTING then TASK_FAILED", states)
	}
}
