// Command montecarlo is the MonteCarloArea framework of the Mesos book
// (seed "Developing Frameworks on Mesos") on Agora's Go SDK: it estimates
// the area under a curve inside an axis-parallel rectangle by throwing
// random points at it.
//
//	montecarlo [flags] EXPRESSION XLOW XHIGH YLOW YHIGH POINTS
//	montecarlo 1x2 0 1 0 1 100000        # ∫₀¹ x² dx ≈ 1/3
//
// EXPRESSION uses the book's syntax: terms joined by "+", each
// "<coefficient>x<exponent>", so "3x2+1x0" is 3x²+1. A malformed
// expression or number is reported (exit 2) before anything is launched.
//
// As in the book, the scheduler (MonteCarloScheduler) launches tasks on a
// custom executor (MonteCarloExecutor) that sends TASK_RUNNING, counts the
// points under the curve and returns its answer in the data of its
// TASK_FINISHED update. Unlike the book, the rectangle is cut into --tasks
// vertical strips, one task each, spread over the offers of all agents;
// each task returns how many of its points fell under the curve, and the
// scheduler adds the strips up into "area=<value>". The executor is this
// same program: the scheduler serves its own binary over HTTP (the book's
// jar on a web server) and the agent fetches it into the sandbox
// (CommandInfo.URI with executable set) and runs it with --executor.
// When every task has finished the framework is torn down.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
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

const name = "montecarlo"

const usage = `usage: montecarlo [flags] EXPRESSION XLOW XHIGH YLOW YHIGH POINTS

Estimates the area under EXPRESSION inside the rectangle [XLOW,XHIGH] x
[YLOW,YHIGH], counted by --tasks tasks on the cluster, and prints
area=<value>. As in the book, each task counts the points of a POINTS x
POINTS grid over its strip of the rectangle (POINTS+1 points on each axis,
ends included) that have y <= EXPRESSION(x): the answer is deterministic,
and a few hundred POINTS give it within about 1%. With --random, POINTS
random points in all are thrown instead, spread over the tasks.

EXPRESSION is a sum of terms "<coefficient>x<exponent>" joined by "+":
"3x2+1x0" is 3x^2+1, "x" is x, "2" is the constant 2.

Flags:
  --tasks=N           number of tasks (vertical strips); default 4
  --random            sample POINTS random points instead of the book's grid
  --cpus=N            CPUs per task (default 0.2)
` + framework.CommonUsage + `
Example:
  montecarlo 1x2 0 1 0 1 500
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if _, ok := taskexec.Role(args); ok {
		return taskexec.Main(runTask)
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var flags framework.Flags
	flags.Define(fs, 5*time.Minute)
	tasks := fs.Int("tasks", 4, "")
	random := fs.Bool("random", false, "")
	cpus := fs.Float64("cpus", 0.2, "")
	if ok, code := framework.Parse(fs, args, usage, stdout, stderr); !ok {
		return code
	}
	jobs, err := plan(fs.Args(), *tasks, *random)
	if err != nil {
		return framework.UsageError(stderr, name, err)
	}
	if *cpus <= 0 {
		return framework.UsageError(stderr, name, errors.New("--cpus must be positive"))
	}

	bin, err := framework.ServeBinary(flags.Serve, name)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return framework.ExitFailure
	}
	defer bin.Close()
	s := &monteCarlo{out: stdout, outcome: framework.NewOutcome(), jobs: jobs, results: make(map[int]result)}
	s.queue.Log = stderr
	exec := bin.Executor("montecarlo-executor", "area")
	for i, j := range jobs {
		data, _ := json.Marshal(j)
		s.queue.Add(nil, framework.Pending{
			Task: &mesos.TaskInfo{
				Name:   proto.String(fmt.Sprintf("MonteCarloTask-%d", i)),
				TaskId: &mesos.TaskID{Value: proto.String(fmt.Sprintf("montecarlo-%d", i))},
				Data:   data,
			},
			Want:     scheduler.Resources{Cpus: *cpus, Mem: 32},
			Executor: exec,
		})
	}
	sess := &framework.Session{
		Flags:     flags,
		Framework: framework.Info("MonteCarloArea"),
		Scheduler: s,
		Outcome:   s.outcome,
		Stderr:    stderr,
	}
	return framework.Exit(stderr, name, sess.Run(context.Background()))
}

// job is one task's share: a strip of the rectangle and its points.
type job struct {
	Expression string  `json:"expression"`
	XLow       float64 `json:"xlow"`
	XHigh      float64 `json:"xhigh"`
	YLow       float64 `json:"ylow"`
	YHigh      float64 `json:"yhigh"`
	Points     int64   `json:"points"`
	Seed       uint64  `json:"seed"`
	// Grid is the book's way: the task counts the (Grid+1)² points of a
	// Grid x Grid grid over its strip; Points is then (Grid+1)². Zero
	// means Points random points.
	Grid int64 `json:"grid,omitempty"`
}

// maxGrid bounds POINTS on the grid: each task evaluates (POINTS+1)²
// points.
const maxGrid = 10000

// result is what a task returns in its TASK_FINISHED data.
type result struct {
	Under  int64 `json:"under"`
	Points int64 `json:"points"`
}

// plan checks the arguments and cuts the rectangle into n strips.
func plan(args []string, n int, random bool) ([]job, error) {
	if len(args) != 6 {
		return nil, fmt.Errorf("want 6 arguments (EXPRESSION XLOW XHIGH YLOW YHIGH POINTS), got %d", len(args))
	}
	if _, err := parseExpression(args[0]); err != nil {
		return nil, fmt.Errorf("bad expression %q: %w", args[0], err)
	}
	var v [4]float64
	for i, a := range args[1:5] {
		f, err := number(a)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", []string{"XLOW", "XHIGH", "YLOW", "YHIGH"}[i], err)
		}
		v[i] = f
	}
	if v[0] >= v[1] || v[2] >= v[3] {
		return nil, errors.New("want XLOW < XHIGH and YLOW < YHIGH")
	}
	points, err := strconv.ParseInt(args[5], 10, 64)
	if err != nil || points <= 0 {
		return nil, fmt.Errorf("POINTS: %q is not a positive integer", args[5])
	}
	if !random && points > maxGrid {
		return nil, fmt.Errorf("POINTS: %d is more than %d for the book's grid ((POINTS+1)² points a task); use fewer, or --random", points, maxGrid)
	}
	if n < 1 || (random && int64(n) > points) {
		return nil, fmt.Errorf("--tasks must be between 1 and POINTS, got %d", n)
	}
	jobs := make([]job, n)
	width := (v[1] - v[0]) / float64(n)
	for i := range jobs {
		jobs[i] = job{
			Expression: args[0],
			XLow:       v[0] + float64(i)*width,
			XHigh:      v[0] + float64(i+1)*width,
			YLow:       v[2],
			YHigh:      v[3],
			Points:     points / int64(n),
			Seed:       uint64(i + 1),
		}
		if int64(i) < points%int64(n) {
			jobs[i].Points++
		}
		if !random {
			jobs[i].Grid = points
			jobs[i].Points = (points + 1) * (points + 1)
		}
	}
	jobs[n-1].XHigh = v[1]
	return jobs, nil
}

// monteCarlo is the scheduler.
type monteCarlo struct {
	scheduler.NopScheduler
	out     io.Writer
	outcome *framework.Outcome
	jobs    []job
	queue   framework.Queue

	mu      sync.Mutex
	results map[int]result
}

func (s *monteCarlo) ResourceOffers(d *scheduler.Driver, offers []*mesos.Offer) {
	s.queue.Offers(d, offers)
}

func (s *monteCarlo) ExecutorLost(_ *scheduler.Driver, e *mesos.ExecutorID, a *mesos.AgentID, _ int) {
	s.queue.ExecutorGone(a, e)
}

func (s *monteCarlo) StatusUpdate(d *scheduler.Driver, st *mesos.TaskStatus) {
	var i int
	if _, err := fmt.Sscanf(st.GetTaskId().GetValue(), "montecarlo-%d", &i); err != nil || i < 0 || i >= len(s.jobs) {
		return
	}
	switch {
	case st.GetState() == mesos.TaskState_TASK_FINISHED:
		var r result
		if err := json.Unmarshal(st.GetData(), &r); err != nil || r.Points != s.jobs[i].Points {
			s.outcome.Done(fmt.Errorf("task %d returned %q, not its count", i, st.GetData()))
			return
		}
		j := s.jobs[i]
		fmt.Fprintf(s.out, "task %d on agent %s: x in [%.4g, %.4g]: %d of %d points under the curve\n",
			i, st.GetAgentId().GetValue(), j.XLow, j.XHigh, r.Under, r.Points)
		s.mu.Lock()
		s.results[i] = r
		done := len(s.results) == len(s.jobs)
		s.mu.Unlock()
		if done {
			fmt.Fprintf(s.out, "area=%.6g\n", s.area())
			s.outcome.Done(nil)
		}
	case framework.Terminal(st.GetState()):
		s.outcome.Done(fmt.Errorf("task %d ended %s", i, framework.Describe(st)))
	}
}

// area adds up the strips: each strip's rectangle times the fraction of
// its points under the curve.
func (s *monteCarlo) area() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var a float64
	for i, j := range s.jobs {
		r := s.results[i]
		a += (j.XHigh - j.XLow) * (j.YHigh - j.YLow) * float64(r.Under) / float64(r.Points)
	}
	return a
}

func (s *monteCarlo) Progress() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("%d of %d tasks finished, %d not launched yet", len(s.results), len(s.jobs), s.queue.Len())
}

// runTask is the executor's side: the book's MonteCarloExecutor.launchTask.
func runTask(ctx context.Context, t *taskexec.Task) taskexec.Result {
	var j job
	if err := json.Unmarshal(t.Info.GetData(), &j); err != nil {
		return taskexec.Failed("bad task data: %v", err)
	}
	e, err := parseExpression(j.Expression)
	if err != nil {
		return taskexec.Failed("bad expression: %v", err)
	}
	t.Update(mesos.TaskState_TASK_RUNNING, "")
	under := count(ctx, e, j)
	data, _ := json.Marshal(result{Under: under, Points: j.Points})
	return taskexec.Finished(data)
}

// count counts the points of j's strip with y <= e(x): those of the
// book's grid, or j.Points random ones. It stops early when ctx ends.
func count(ctx context.Context, e expression, j job) int64 {
	if j.Grid > 0 {
		return countGrid(ctx, e, j)
	}
	rng := rand.New(rand.NewPCG(j.Seed, 0x6d6f6e7465636172))
	var under int64
	for i := int64(0); i < j.Points; i++ {
		if i%65536 == 0 && ctx.Err() != nil {
			return under
		}
		x := j.XLow + rng.Float64()*(j.XHigh-j.XLow)
		y := j.YLow + rng.Float64()*(j.YHigh-j.YLow)
		if y <= e.eval(x) {
			under++
		}
	}
	return under
}

// countGrid is the book's MonteCarloExecutor loop: x and y step through
// their ranges in Grid steps, both ends included; a point counts when
// y <= e(x). Steps are computed from integer indices, so that rounding
// never drops the last row or column as a running float sum can.
func countGrid(ctx context.Context, e expression, j job) int64 {
	var under int64
	dx := (j.XHigh - j.XLow) / float64(j.Grid)
	dy := (j.YHigh - j.YLow) / float64(j.Grid)
	for i := int64(0); i <= j.Grid; i++ {
		if ctx.Err() != nil {
			return under
		}
		v := e.eval(j.XLow + float64(i)*dx)
		for k := int64(0); k <= j.Grid; k++ {
			if j.YLow+float64(k)*dy <= v {
				under++
			}
		}
	}
	return under
}
