package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	executorpb "github.com/agora-dev/agora/api/mesos/v1/executor"
	"github.com/agora-dev/agora/api/recordio"
	cmdexec "github.com/agora-dev/agora/internal/executor"
	"github.com/agora-dev/agora/internal/proc"
	"google.golang.org/protobuf/proto"
)

func TestMain(m *testing.M) {
	switch os.Getenv("AGORA_TEST_EXEC") {
	case "1":
		// The real built-in command executor, as `agora executor` runs it.
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		code := cmdexec.Main(ctx, os.Getenv, slog.New(slog.NewTextHandler(os.Stderr, nil)))
		stop()
		os.Exit(code)
	case "custom":
		os.Exit(testExecutorMain(false))
	}
	os.Exit(m.Run())
}

// testExecutorMain is a small v1 executor run from the test binary. As a
// command executor it runs each task's command with sh -c and reports
// STARTING, RUNNING and the exit; as a custom executor its tasks just run
// until killed, and it echoes framework messages back.
func testExecutorMain(command bool) int {
	ep := os.Getenv("MESOS_AGENT_ENDPOINT")
	fwID := &mesos.FrameworkID{Value: proto.String(os.Getenv("MESOS_FRAMEWORK_ID"))}
	exID := &mesos.ExecutorID{Value: proto.String(os.Getenv("MESOS_EXECUTOR_ID"))}
	url := "http://" + ep + "/api/v1/executor"
	post := func(c *executorpb.Call) {
		c.FrameworkId, c.ExecutorId = fwID, exID
		b, _ := proto.Marshal(c)
		resp, err := http.Post(url, codec.MediaProtobuf, bytes.NewReader(b))
		if err == nil {
			resp.Body.Close()
		}
	}
	var mu sync.Mutex
	terminal := map[string][]byte{} // task -> uuid of its terminal update
	update := func(taskID *mesos.TaskID, st mesos.TaskState, msg string) {
		u := make([]byte, 16)
		_, _ = rand.Read(u)
		if isTerminal(st) {
			mu.Lock()
			terminal[taskID.GetValue()] = u
			mu.Unlock()
		}
		post(&executorpb.Call{Type: executorpb.Call_UPDATE.Enum(), Update: &executorpb.Call_Update{
			Status: &mesos.TaskStatus{TaskId: taskID, State: st.Enum(), Uuid: u, Message: proto.String(msg),
				Source: mesos.TaskStatus_SOURCE_EXECUTOR.Enum()},
		}})
	}

	body, _ := proto.Marshal(&executorpb.Call{Type: executorpb.Call_SUBSCRIBE.Enum(), FrameworkId: fwID,
		ExecutorId: exID, Subscribe: &executorpb.Call_Subscribe{}})
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", codec.MediaProtobuf)
	req.Header.Set("Accept", codec.MediaProtobuf)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "subscribe failed:", err, resp)
		return 2
	}
	procs := map[string]*proc.Process{}
	killed := map[string]bool{}
	r := recordio.NewReader(resp.Body)
	for {
		rec, err := r.ReadRecord()
		if err != nil {
			return 1
		}
		ev := &executorpb.Event{}
		if err := proto.Unmarshal(rec, ev); err != nil {
			return 3
		}
		switch ev.GetType() {
		case executorpb.Event_LAUNCH:
			ti := ev.GetLaunch().GetTask()
			if !command {
				update(ti.TaskId, mesos.TaskState_TASK_RUNNING, "")
				continue
			}
			update(ti.TaskId, mesos.TaskState_TASK_STARTING, "")
			p, err := proc.Start(proc.Spec{Path: "/bin/sh", Args: []string{"sh", "-c", ti.GetCommand().GetValue()},
				Env: os.Environ(), Stdout: "stdout", Stderr: "stderr"})
			if err != nil {
				update(ti.TaskId, mesos.TaskState_TASK_FAILED, err.Error())
				continue
			}
			mu.Lock()
			procs[ti.GetTaskId().GetValue()] = p
			mu.Unlock()
			update(ti.TaskId, mesos.TaskState_TASK_RUNNING, "")
			go func() {
				ex := p.Exit()
				mu.Lock()
				k := killed[ti.GetTaskId().GetValue()]
				mu.Unlock()
				switch {
				case k:
					update(ti.TaskId, mesos.TaskState_TASK_KILLED, "Command terminated with signal")
				case ex.Code == 0:
					update(ti.TaskId, mesos.TaskState_TASK_FINISHED, "Command exited with status 0")
				default:
					update(ti.TaskId, mesos.TaskState_TASK_FAILED, ex.String())
				}
			}()
		case executorpb.Event_KILL:
			id := ev.GetKill().GetTaskId()
			mu.Lock()
			p := procs[id.GetValue()]
			killed[id.GetValue()] = true
			mu.Unlock()
			if p != nil {
				p.Kill(time.Second)
			} else {
				update(id, mesos.TaskState_TASK_KILLED, "killed")
			}
		case executorpb.Event_ACKNOWLEDGED:
			a := ev.GetAcknowledged()
			mu.Lock()
			done := command && bytes.Equal(terminal[a.GetTaskId().GetValue()], a.GetUuid())
			mu.Unlock()
			if done {
				return 0
			}
		case executorpb.Event_MESSAGE:
			post(&executorpb.Call{Type: executorpb.Call_MESSAGE.Enum(),
				Message: &executorpb.Call_Message{Data: append([]byte("echo:"), ev.GetMessage().GetData()...)}})
		case executorpb.Event_SHUTDOWN:
			mu.Lock()
			for _, p := range procs {
				_ = p.Signal(syscall.SIGKILL)
			}
			mu.Unlock()
			return 0
		}
	}
}
