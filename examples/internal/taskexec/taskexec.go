// Package taskexec is the executor side the example frameworks share. Each
// example is one binary: run by a user it is the scheduler; run by an agent
// as "PROGRAM --executor=ROLE" (the command of the ExecutorInfo the
// scheduler builds) it is the executor, and Main serves the agent with an
// Executor that runs every task in its own goroutine, so that one executor
// runs several tasks at once, as the seeds' executors do with threads.
package taskexec

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/protobuf/proto"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/sdk/executor"
)

// Flag is the hidden flag that selects executor mode.
const Flag = "--executor"

// Role reports whether args ask for executor mode ("--executor=ROLE" as
// the first argument) and with which role.
func Role(args []string) (role string, ok bool) {
	if len(args) == 0 {
		return "", false
	}
	if args[0] == Flag {
		return "", true
	}
	return strings.CutPrefix(args[0], Flag+"=")
}

// Result is a task's final status: its state (TASK_FINISHED,
// TASK_FAILED, …), a message and data for the scheduler.
type Result struct {
	State   mesos.TaskState
	Message string
	Data    []byte
}

// Finished is a TASK_FINISHED result carrying data.
func Finished(data []byte) Result { return Result{State: mesos.TaskState_TASK_FINISHED, Data: data} }

// Failed is a TASK_FAILED result with a message.
func Failed(format string, args ...any) Result {
	return Result{State: mesos.TaskState_TASK_FAILED, Message: fmt.Sprintf(format, args...)}
}

// Task is a running task as its Func sees it.
type Task struct {
	Info *mesos.TaskInfo
	d    *executor.Driver
	log  *slog.Logger
}

// Update sends a non-terminal status update (TASK_STARTING, TASK_RUNNING)
// with an optional message.
func (t *Task) Update(state mesos.TaskState, message string) {
	t.UpdateData(state, message, nil)
}

// UpdateData is Update with data for the scheduler.
func (t *Task) UpdateData(state mesos.TaskState, message string, data []byte) {
	st := &mesos.TaskStatus{TaskId: t.Info.GetTaskId(), State: state.Enum(), Data: data}
	if message != "" {
		st.Message = proto.String(message)
	}
	if err := t.d.SendStatusUpdate(st); err != nil {
		t.log.Warn("sending status update", "task", t.Info.GetTaskId().GetValue(), "state", state, "error", err)
	}
}

// Message sends a framework message to the scheduler.
func (t *Task) Message(data []byte) {
	if err := t.d.SendFrameworkMessage(data); err != nil {
		t.log.Warn("sending framework message", "task", t.Info.GetTaskId().GetValue(), "error", err)
	}
}

// Log is the executor's logger (its sandbox's stderr).
func (t *Task) Log() *slog.Logger { return t.log }

// Func runs one task and returns its final status. It sends its own
// TASK_STARTING / TASK_RUNNING updates. ctx ends when the task is killed
// or the executor shuts down; the task then ends TASK_KILLED whatever Func
// returns.
type Func func(ctx context.Context, t *Task) Result

// Executor runs tasks with a Func.
type Executor struct {
	executor.NopExecutor
	run Func
	log *slog.Logger

	wg     sync.WaitGroup
	mu     sync.Mutex
	cancel map[string]context.CancelFunc // running tasks
	killed map[string]bool               // kills that arrived before their launch
	down   bool                          // Shutdown has begun
}

// New returns an Executor for run.
func New(run Func, log *slog.Logger) *Executor {
	return &Executor{run: run, log: log, cancel: make(map[string]context.CancelFunc), killed: make(map[string]bool)}
}

// LaunchTask runs the task; the SDK calls it in a goroutine of its own.
func (e *Executor) LaunchTask(d *executor.Driver, info *mesos.TaskInfo) {
	id := info.GetTaskId().GetValue()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.mu.Lock()
	if e.killed[id] || e.down {
		delete(e.killed, id)
		e.mu.Unlock()
		e.final(d, info, Result{State: mesos.TaskState_TASK_KILLED, Message: "killed before it started"})
		return
	}
	e.cancel[id] = cancel
	e.wg.Add(1)
	e.mu.Unlock()
	defer e.wg.Done()

	e.log.Info("task started", "task", id)
	res := e.run(ctx, &Task{Info: info, d: d, log: e.log})
	e.mu.Lock()
	delete(e.cancel, id)
	e.mu.Unlock()
	if ctx.Err() != nil {
		res = Result{State: mesos.TaskState_TASK_KILLED, Message: "killed"}
	}
	e.log.Info("task ended", "task", id, "state", res.State, "message", res.Message)
	e.final(d, info, res)
}

func (e *Executor) final(d *executor.Driver, info *mesos.TaskInfo, res Result) {
	st := &mesos.TaskStatus{TaskId: info.GetTaskId(), State: res.State.Enum(), Data: res.Data}
	if res.Message != "" {
		st.Message = proto.String(res.Message)
	}
	if err := d.SendStatusUpdate(st); err != nil {
		e.log.Warn("sending final status update", "task", info.GetTaskId().GetValue(), "error", err)
	}
}

// KillTask cancels the task's context.
func (e *Executor) KillTask(_ *executor.Driver, id *mesos.TaskID, _ *mesos.KillPolicy) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if cancel, ok := e.cancel[id.GetValue()]; ok {
		cancel()
		return
	}
	e.killed[id.GetValue()] = true
}

// Shutdown kills every task and waits (within the grace period the agent
// gives) for their final updates.
func (e *Executor) Shutdown(d *executor.Driver) {
	e.mu.Lock()
	e.down = true
	for _, cancel := range e.cancel {
		cancel()
	}
	e.mu.Unlock()
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	grace := d.Config().ShutdownGracePeriod * 3 / 4
	select {
	case <-done:
	case <-time.After(grace):
		e.log.Warn("tasks did not end within the shutdown grace period", "grace", grace)
	}
}

// Main runs this process as an executor of the agent that started it and
// returns the exit status.
func Main(run Func) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg, err := executor.ConfigFromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "executor mode needs the environment an agent gives its executors: %v\n", err)
		return 2
	}
	cfg.Logger = log
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	d := executor.NewDriver(cfg, New(run, log))
	if err := d.Run(ctx); err != nil {
		log.Error("executor driver stopped", "error", err)
		return 1
	}
	return 0
}
