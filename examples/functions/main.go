// Command functions runs Go functions as tasks on the cluster: the
// function tasks of the seed "Custom mesos executor in Scala", the Go way.
//
//	functions [--count=N]
//
// The Scala post serializes a closure (FunctionTask) into TaskInfo.data
// and a custom executor (TaskExecutor) deserializes it and runs it on a
// thread pool, so that several tasks run at once. Go cannot ship code, so
// here a task carries the name of a function registered in this program
// and its arguments, JSON-encoded, in TaskInfo.data; the executor — this
// same program, fetched by the agent from an HTTP server the scheduler
// runs, and started with --executor — looks the function up, runs each
// task in a goroutine of its own, and returns the function's result,
// JSON-encoded, in the data of the task's TASK_FINISHED update (an error
// ends the task TASK_FAILED with the error as message).
//
// The demo is the post's: greet(index) returns "hi"+index, for indexes 0
// and 1 and on up to --count, plus fib(25) to show a function with a
// result of another type. It prints every call with its result, in call
// order, and tears the framework down.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/examples/internal/framework"
	"github.com/agora-dev/agora/examples/internal/taskexec"
	"github.com/agora-dev/agora/sdk/scheduler"
)

const name = "functions"

const usage = `usage: functions [flags]

Runs Go functions as tasks on a custom executor and prints each call's
result: greet(0) .. greet(COUNT-1), which return "hi0", "hi1", ..., and
fib(25).

Flags:
  --count=N           how many greet calls (default 2, as in the seed)
` + framework.CommonUsage

// function is a registered function: JSON arguments in, a result out.
type function func(ctx context.Context, args json.RawMessage) (any, error)

var registry = map[string]function{}

// register makes f callable by name from a task.
func register[A, R any](name string, f func(context.Context, A) (R, error)) {
	registry[name] = func(ctx context.Context, raw json.RawMessage) (any, error) {
		var a A
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil, fmt.Errorf("arguments of %s: %w", name, err)
		}
		return f(ctx, a)
	}
}

func init() {
	register("greet", func(_ context.Context, index int) (string, error) {
		s := "hi" + strconv.Itoa(index)
		fmt.Println(s) // the post's println, in the executor's stdout
		return s, nil
	})
	register("fib", func(ctx context.Context, n int) (int, error) {
		if n < 0 || n > 90 {
			return 0, fmt.Errorf("fib(%d): n must be in [0, 90]", n)
		}
		a, b := 0, 1
		for range n {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			a, b = b, a+b
		}
		return a, nil
	})
}

// call is a task's data: which function, with which arguments.
type call struct {
	Function string          `json:"function"`
	Args     json.RawMessage `json:"args"`
}

func (c call) String() string { return c.Function + "(" + string(c.Args) + ")" }

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if _, ok := taskexec.Role(args); ok {
		return taskexec.Main(runTask)
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var flags framework.Flags
	flags.Define(fs, 2*time.Minute)
	count := fs.Int("count", 2, "")
	if ok, code := framework.Parse(fs, args, usage, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return framework.UsageError(stderr, name, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	if *count < 0 || *count > 1000 {
		return framework.UsageError(stderr, name, errors.New("--count must be between 0 and 1000"))
	}
	var calls []call
	for i := range *count {
		calls = append(calls, call{Function: "greet", Args: json.RawMessage(strconv.Itoa(i))})
	}
	calls = append(calls, call{Function: "fib", Args: json.RawMessage("25")})

	bin, err := framework.ServeBinary(flags.Serve, name)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return framework.ExitFailure
	}
	defer bin.Close()
	s := &functions{outcome: framework.NewOutcome(), calls: calls, results: make(map[int]string)}
	s.queue.Log = stderr
	exec := bin.Executor("function-executor", "functions")
	for i, c := range calls {
		data, _ := json.Marshal(c)
		s.queue.Add(nil, framework.Pending{
			Task: &mesos.TaskInfo{
				Name:   proto.String(c.String()),
				TaskId: &mesos.TaskID{Value: proto.String(fmt.Sprintf("function-%d", i))},
				Data:   data,
			},
			Want:     scheduler.Resources{Cpus: 0.1, Mem: 32},
			Executor: exec,
		})
	}
	sess := &framework.Session{
		Flags:     flags,
		Framework: framework.Info("Function tasks"),
		Scheduler: s,
		Outcome:   s.outcome,
		Stderr:    stderr,
	}
	err = sess.Run(context.Background())
	s.mu.Lock()
	for i, c := range calls {
		if r, ok := s.results[i]; ok {
			fmt.Fprintf(stdout, "%s = %s\n", c, r)
		}
	}
	s.mu.Unlock()
	return framework.Exit(stderr, name, err)
}

// functions is the scheduler.
type functions struct {
	scheduler.NopScheduler
	outcome *framework.Outcome
	calls   []call
	queue   framework.Queue

	mu      sync.Mutex
	results map[int]string // call index → result or error
	failed  int
}

func (s *functions) ResourceOffers(d *scheduler.Driver, offers []*mesos.Offer) {
	s.queue.Offers(d, offers)
}

func (s *functions) ExecutorLost(_ *scheduler.Driver, e *mesos.ExecutorID, a *mesos.AgentID, _ int) {
	s.queue.ExecutorGone(a, e)
}

func (s *functions) StatusUpdate(d *scheduler.Driver, st *mesos.TaskStatus) {
	var i int
	if _, err := fmt.Sscanf(st.GetTaskId().GetValue(), "function-%d", &i); err != nil || i < 0 || i >= len(s.calls) {
		return
	}
	if !framework.Terminal(st.GetState()) {
		return
	}
	s.mu.Lock()
	if st.GetState() == mesos.TaskState_TASK_FINISHED {
		s.results[i] = string(st.GetData())
	} else {
		s.results[i] = "error: " + framework.Describe(st)
		s.failed++
	}
	done, failed := len(s.results) == len(s.calls), s.failed
	s.mu.Unlock()
	if done && failed > 0 {
		s.outcome.Done(fmt.Errorf("%d of %d calls failed", failed, len(s.calls)))
	} else if done {
		s.outcome.Done(nil)
	}
}

func (s *functions) Progress() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("%d of %d calls returned, %d not launched yet", len(s.results), len(s.calls), s.queue.Len())
}

// runTask is the executor's side: the post's TaskExecutor.launchTask.
func runTask(ctx context.Context, t *taskexec.Task) taskexec.Result {
	var c call
	if err := json.Unmarshal(t.Info.GetData(), &c); err != nil {
		return taskexec.Failed("bad task data: %v", err)
	}
	f, ok := registry[c.Function]
	if !ok {
		return taskexec.Failed("no function %q is registered", c.Function)
	}
	t.Update(mesos.TaskState_TASK_RUNNING, "")
	v, err := f(ctx, c.Args)
	if err != nil {
		return taskexec.Failed("%s: %v", c, err)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return taskexec.Failed("%s: encoding the result: %v", c, err)
	}
	return taskexec.Finished(data)
}
