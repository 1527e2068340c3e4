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
	"syscall"
	"testing"

	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	executorpb "github.com/agora-dev/agora/api/mesos/v1/executor"
	"github.com/agora-dev/agora/api/recordio"
	cmdexec "github.com/agora-dev/agora/internal/executor"
	"github.com/agora-dev/agora/internal/executor/defaultexec"
	"github.com/agora-dev/agora/internal/supervise"
	"google.golang.org/protobuf/proto"
)

func TestMain(m *testing.M) {
	switch os.Getenv("AGORA_TEST_EXEC") {
	case "1":
		if len(os.Args) > 1 && os.Args[1] == "supervise" {
			// The supervisor of a command task the agent runs itself.
			os.Exit(supervise.Main(os.Args[2:]))
		}
		// The real built-in command executor, as `agora executor` runs it,
		// or the default executor, as `agora default-executor` does.
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
		var code int
		if os.Args[len(os.Args)-1] == "default-executor" {
			code = defaultexec.Main(ctx, os.Getenv, logger)
		} else {
			code = cmdexec.Main(ctx, os.Getenv, logger)
		}
		stop()
		os.Exit(code)
	case "custom":
		os.Exit(testCustomExecutor())
	}
	os.Exit(m.Run())
}

// testCustomExecutor is a small custom executor speaking the v1 executor
// API with protobuf: its tasks report TASK_RUNNING and run until killed,
// it echoes framework messages back, and exits on SHUTDOWN.
func testCustomExecutor() int {
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
	update := func(taskID *mesos.TaskID, st mesos.TaskState) {
		u := make([]byte, 16)
		_, _ = rand.Read(u)
		post(&executorpb.Call{Type: executorpb.Call_UPDATE.Enum(), Update: &executorpb.Call_Update{
			Status: &mesos.TaskStatus{TaskId: taskID, State: st.Enum(), Uuid: u,
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
			update(ev.GetLaunch().GetTask().GetTaskId(), mesos.TaskState_TASK_RUNNING)
		case executorpb.Event_KILL:
			update(ev.GetKill().GetTaskId(), mesos.TaskState_TASK_KILLED)
		case executorpb.Event_MESSAGE:
			post(&executorpb.Call{Type: executorpb.Call_MESSAGE.Enum(),
				Message: &executorpb.Call_Message{Data: append([]byte("echo:"), ev.GetMessage().GetData()...)}})
		case executorpb.Event_SHUTDOWN:
			return 0
		}
	}
}
