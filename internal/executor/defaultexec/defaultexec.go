// Package defaultexec is Agora's default executor, the counterpart of
// Mesos's mesos-default-executor: the agent starts it (as `agora
// default-executor`) for an ExecutorInfo of type DEFAULT and delivers task
// groups to it as LAUNCH_GROUP events. One executor runs any number of
// groups, one after another or side by side.
//
// The tasks of a group start together, each in a process group of its
// own, in a sub-sandbox of the executor's sandbox:
//
//	<executor sandbox>/            MESOS_DIRECTORY; the executor's stdout, stderr
//	  tasks/<task_id>/             the task's cwd and MESOS_SANDBOX
//	    stdout, stderr             the task's output
//
// Each task reports TASK_STARTING and TASK_RUNNING, then a terminal state:
// FINISHED on exit 0, FAILED on another exit, KILLED when it was killed.
// A group lives and dies together, as in Mesos: when one task fails or is
// killed (by KILL, or by its failing health check), the executor kills
// the other tasks of its group, which end TASK_KILLED. The executor exits
// when every task it was given is terminal and the agent acknowledged
// every update, or on SHUTDOWN.
package defaultexec

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/internal/executor"
	"github.com/agora-dev/agora/internal/executor/health"
	"github.com/agora-dev/agora/internal/proc"
	sdk "github.com/agora-dev/agora/sdk/executor"
	"google.golang.org/protobuf/proto"
)

const (
	// DefaultKillGracePeriod is the grace between SIGTERM and SIGKILL when
	// neither the KILL event nor the task carries a kill policy.
	DefaultKillGracePeriod = 3 * time.Second
	// AckTimeout bounds the wait for the agent's acknowledgements before
	// the executor exits.
	AckTimeout = 5 * time.Second
)

// Main runs the default executor until all its tasks have ended and the
// agent has acknowledged their updates, or the agent shuts it down. It
// returns the process exit code: 0 after its tasks ended or a shutdown, 1
// when it could not work (bad environment, agent lost, ctx ended).
func Main(ctx context.Context, getenv func(string) string, logger *slog.Logger) int {
	if !proc.AwaitRelease(getenv) {
		return proc.HeldExitCode // not let into its container: run nothing
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := sdk.ConfigFromEnv(getenv)
	if err != nil {
		logger.Error("default executor: bad environment", "error", err)
		return 1
	}
	logger = logger.With("executor", cfg.ExecutorID)
	cfg.Logger = logger
	de := &defaultExecutor{
		log:      logger,
		env:      executor.BaseEnv(getenv),
		sandbox:  cfg.Sandbox,
		shutdown: executor.ShutdownGrace(cfg.ShutdownGracePeriod),
		tasks:    make(map[string]*task),
		changed:  make(chan struct{}, 1),
	}
	d := sdk.NewDriver(cfg, de)
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(ctx) }()
	for {
		select {
		case <-de.changed:
			if !de.allTerminal() {
				continue
			}
			actx, cancel := context.WithTimeout(ctx, AckTimeout)
			err := d.WaitAcknowledged(actx)
			cancel()
			if err != nil {
				logger.Warn("default executor: exiting without acknowledgement", "error", err)
			}
			// A LAUNCH_GROUP that arrived meanwhile keeps the executor
			// alive: its tasks are unacknowledged, or already known.
			if !de.allTerminal() || len(d.UnacknowledgedTasks()) > 0 {
				continue
			}
			logger.Info("default executor: all tasks ended; exiting")
			d.Stop()
			<-runErr
			return 0
		case err := <-runErr:
			// SHUTDOWN (nil), a lost agent, or ctx: never leave a task behind.
			de.killAndWait(de.shutdown)
			if err != nil {
				logger.Error("default executor: exiting", "error", err)
				return 1
			}
			return 0
		}
	}
}

// defaultExecutor runs task groups. Lock order: sendMu, then mu.
type defaultExecutor struct {
	sdk.NopExecutor

	log      *slog.Logger
	env      []string
	sandbox  string
	shutdown time.Duration // kill grace on SHUTDOWN

	// sendMu orders each task's updates: TASK_KILLING and health updates
	// before the terminal one.
	sendMu sync.Mutex

	mu sync.Mutex
	// +checklocks:mu
	framework *mesos.FrameworkInfo
	// +checklocks:mu
	tasks map[string]*task
	// +checklocks:mu
	shuttingDown bool

	// changed gets a token whenever a task becomes terminal.
	changed chan struct{}
}

// group is one LAUNCH_GROUP's tasks.
type group struct {
	tasks []*task
}

// task is one task of a group; its fields are guarded by
// defaultExecutor.mu.
type task struct {
	info      *mesos.TaskInfo
	grp       *group
	dir       string
	spec      proc.Spec
	proc      *proc.Process  // nil until started
	killGrace *time.Duration // set once a kill was asked for
	terminal  bool           // the terminal update was sent
	// healthKill says why the health check killed the task, if it did.
	healthKill string
	stopHealth func()
	done       chan struct{} // closed after the terminal update
}

func (t *task) id() *mesos.TaskID { return t.info.GetTaskId() }

func (e *defaultExecutor) Registered(_ *sdk.Driver, _ *mesos.ExecutorInfo, fw *mesos.FrameworkInfo, _ *mesos.AgentInfo) {
	e.mu.Lock()
	e.framework = fw
	e.mu.Unlock()
}

func (e *defaultExecutor) Reregistered(d *sdk.Driver, _ *mesos.AgentInfo) {
	if fw := d.FrameworkInfo(); fw != nil {
		e.mu.Lock()
		e.framework = fw
		e.mu.Unlock()
	}
}

func (e *defaultExecutor) Error(_ *sdk.Driver, msg string) {
	e.log.Error("default executor: error from agent", "message", msg)
}

// LaunchTask refuses a single task: the default executor runs groups.
func (e *defaultExecutor) LaunchTask(d *sdk.Driver, ti *mesos.TaskInfo) {
	e.log.Warn("default executor: refusing a task outside a task group", "task", ti.GetTaskId().GetValue())
	e.send(d, &mesos.TaskStatus{TaskId: ti.GetTaskId(), State: mesos.TaskState_TASK_FAILED.Enum(),
		Message: proto.String("The default executor runs task groups (LAUNCH_GROUP), not single tasks")})
}

// LaunchTaskGroup starts the tasks of a group together.
func (e *defaultExecutor) LaunchTaskGroup(d *sdk.Driver, tg *mesos.TaskGroupInfo) {
	g := &group{}
	e.mu.Lock()
	shutting := e.shuttingDown
	for _, ti := range tg.GetTasks() {
		t := &task{info: ti, grp: g, done: make(chan struct{}), stopHealth: func() {}}
		t.dir = filepath.Join(e.sandbox, "tasks", ti.GetTaskId().GetValue())
		g.tasks = append(g.tasks, t)
		if old := e.tasks[ti.GetTaskId().GetValue()]; old != nil && !old.terminal {
			e.log.Warn("default executor: task id already running; the new task replaces it in bookkeeping",
				"task", ti.GetTaskId().GetValue())
		}
		e.tasks[ti.GetTaskId().GetValue()] = t
	}
	e.mu.Unlock()
	e.log.Info("default executor: launching task group", "tasks", len(g.tasks))

	for _, t := range g.tasks {
		e.send(d, &mesos.TaskStatus{TaskId: t.id(), State: mesos.TaskState_TASK_STARTING.Enum()})
	}
	if shutting {
		for _, t := range g.tasks {
			e.finish(d, t, mesos.TaskState_TASK_KILLED, "The executor is shutting down", nil)
		}
		return
	}

	// Prepare every task before starting any: a group with a task that
	// cannot run does not start.
	failed := map[*task]string{}
	for _, t := range g.tasks {
		if hc := t.info.GetHealthCheck(); hc != nil {
			if err := health.Validate(hc); err != nil {
				failed[t] = "Task has an invalid health check: " + err.Error()
				continue
			}
		}
		if err := os.MkdirAll(t.dir, 0o755); err != nil {
			failed[t] = fmt.Sprintf("Failed to create the sandbox of task %s: %v", t.id().GetValue(), err)
			continue
		}
		env := executor.MergeEnv(e.env, []string{"MESOS_SANDBOX=" + t.dir}, nil)
		spec, err := executor.TaskSpec(t.info.GetCommand(), env, t.dir, e.log)
		if err != nil {
			failed[t] = fmt.Sprintf("Task %s cannot be launched: %v", t.id().GetValue(), err)
			continue
		}
		t.spec = spec
	}

	var started []*task
	e.mu.Lock()
	for _, t := range g.tasks {
		if len(failed) > 0 || t.killGrace != nil {
			break
		}
		p, err := proc.Start(t.spec)
		if err != nil {
			failed[t] = fmt.Sprintf("Failed to launch task %s: %v", t.id().GetValue(), err)
			break
		}
		t.proc = p
		started = append(started, t)
	}
	if len(failed) > 0 {
		grace := time.Duration(0)
		for _, t := range g.tasks {
			if t.killGrace == nil {
				t.killGrace = &grace
			}
		}
	}
	e.mu.Unlock()
	for _, t := range g.tasks {
		if msg, ok := failed[t]; ok {
			e.finish(d, t, mesos.TaskState_TASK_FAILED, msg, nil)
		} else if t.proc == nil {
			e.finish(d, t, mesos.TaskState_TASK_KILLED, "Task killed before its group started", nil)
		}
	}
	for _, t := range started {
		cs := &mesos.ContainerStatus{ExecutorPid: proto.Uint32(uint32(t.proc.Pid()))}
		if cid := d.ContainerID(); cid != nil {
			cs.ContainerId = cid
		}
		e.log.Info("default executor: started task", "task", t.id().GetValue(), "pid", t.proc.Pid())
		e.send(d, &mesos.TaskStatus{TaskId: t.id(), State: mesos.TaskState_TASK_RUNNING.Enum(), ContainerStatus: cs})
		if len(failed) > 0 {
			t.proc.Kill(0)
		}
	}
	for _, t := range started {
		e.mu.Lock()
		t.stopHealth = e.startHealthCheck(d, t)
		e.mu.Unlock()
		go e.wait(d, t)
	}
}

// wait reports the end of a task's process and kills the rest of its
// group unless the task finished.
func (e *defaultExecutor) wait(d *sdk.Driver, t *task) {
	<-t.proc.Done()
	e.mu.Lock()
	stop := t.stopHealth
	e.mu.Unlock()
	stop()
	exit := t.proc.Exit()
	msg := executor.ExitMessage(exit)

	e.sendMu.Lock()
	e.mu.Lock()
	state := mesos.TaskState_TASK_FAILED
	switch {
	case t.killGrace != nil:
		state = mesos.TaskState_TASK_KILLED
	case exit.Err == nil && !exit.Signaled && exit.Code == 0:
		state = mesos.TaskState_TASK_FINISHED
	}
	var healthy *bool
	if t.healthKill != "" && state == mesos.TaskState_TASK_KILLED {
		msg = t.healthKill + " (" + msg + ")"
		healthy = proto.Bool(false)
	}
	var victims []*task
	var grace time.Duration
	if state != mesos.TaskState_TASK_FINISHED {
		grace = e.groupGrace(t, nil)
		victims = e.markGroupKilled(t.grp, t, grace)
	}
	killing := e.killingState()
	e.mu.Unlock()
	e.log.Info("default executor: task ended", "task", t.id().GetValue(), "state", state.String(), "exit", msg)
	e.finishLocked(d, t, state, msg, healthy)
	if len(victims) > 0 {
		e.log.Info("default executor: killing the rest of the group", "task", t.id().GetValue(), "state", state.String())
	}
	e.killLocked(d, victims, grace, killing)
	e.sendMu.Unlock()
}

// KillTask kills the task's whole group, as Mesos's default executor does.
func (e *defaultExecutor) KillTask(d *sdk.Driver, id *mesos.TaskID, policy *mesos.KillPolicy) {
	e.sendMu.Lock()
	defer e.sendMu.Unlock()
	e.mu.Lock()
	t := e.tasks[id.GetValue()]
	if t == nil || t.terminal {
		e.mu.Unlock()
		e.log.Warn("default executor: kill of unknown or ended task", "task", id.GetValue())
		return
	}
	grace := e.groupGrace(t, policy)
	victims := e.markGroupKilled(t.grp, nil, grace)
	killing := e.killingState()
	e.mu.Unlock()
	e.log.Info("default executor: killing task group", "task", id.GetValue(), "tasks", len(victims), "grace", grace)
	e.killLocked(d, victims, grace, killing)
}

// groupGrace is the kill grace period: the KILL's policy, else the task's.
// e.mu must be held.
func (e *defaultExecutor) groupGrace(t *task, policy *mesos.KillPolicy) time.Duration {
	if gp := policy.GetGracePeriod(); gp != nil {
		return time.Duration(gp.GetNanoseconds())
	}
	if gp := t.info.GetKillPolicy().GetGracePeriod(); gp != nil {
		return time.Duration(gp.GetNanoseconds())
	}
	return DefaultKillGracePeriod
}

// markGroupKilled marks the group's live tasks but except as killed and
// returns those that were not already. e.mu must be held.
func (e *defaultExecutor) markGroupKilled(g *group, except *task, grace time.Duration) []*task {
	var out []*task
	for _, t := range g.tasks {
		if t == except || t.terminal || t.killGrace != nil {
			continue
		}
		t.killGrace = &grace
		out = append(out, t)
	}
	return out
}

// killingState reports whether the framework wants TASK_KILLING. e.mu
// must be held.
func (e *defaultExecutor) killingState() bool {
	for _, c := range e.framework.GetCapabilities() {
		if c.GetType() == mesos.FrameworkInfo_Capability_TASK_KILLING_STATE {
			return true
		}
	}
	return false
}

// killLocked sends TASK_KILLING when wanted and signals the tasks' process
// groups; e.sendMu must be held. Tasks not started yet are left to
// LaunchTaskGroup, which sees their kill.
func (e *defaultExecutor) killLocked(d *sdk.Driver, victims []*task, grace time.Duration, killing bool) {
	for _, t := range victims {
		e.mu.Lock()
		p := t.proc
		e.mu.Unlock()
		if p == nil {
			continue
		}
		if killing {
			e.sendLocked(d, &mesos.TaskStatus{TaskId: t.id(), State: mesos.TaskState_TASK_KILLING.Enum()})
		}
		p.Kill(grace)
	}
}

// startHealthCheck runs the task's health check, if any, until the
// returned function is called.
func (e *defaultExecutor) startHealthCheck(d *sdk.Driver, t *task) (stop func()) {
	hc := t.info.GetHealthCheck()
	if hc == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		opts := health.Options{Dir: t.spec.Dir, Env: t.spec.Env, Logger: e.log.With("task", t.id().GetValue())}
		_ = health.Run(ctx, hc, opts, func(r health.Result) {
			e.sendMu.Lock()
			e.mu.Lock()
			over := t.terminal || t.killGrace != nil
			if r.Kill && !over {
				t.healthKill = fmt.Sprintf("Task killed after its health check failed %d consecutive times: %s",
					r.ConsecutiveFailures, r.Message)
			}
			e.mu.Unlock()
			if !over {
				st := &mesos.TaskStatus{TaskId: t.id(), State: mesos.TaskState_TASK_RUNNING.Enum(),
					Healthy: proto.Bool(r.Healthy), Reason: mesos.TaskStatus_REASON_TASK_HEALTH_CHECK_STATUS_UPDATED.Enum()}
				if r.Message != "" {
					st.Message = proto.String(r.Message)
				}
				e.sendLocked(d, st)
			}
			e.sendMu.Unlock()
			if r.Kill && !over {
				e.log.Warn("default executor: killing unhealthy task", "task", t.id().GetValue(), "failures", r.ConsecutiveFailures)
				e.KillTask(d, t.id(), nil)
			}
		})
	}()
	return func() {
		cancel()
		<-done
	}
}

// Shutdown kills every task, waits for their terminal updates and,
// briefly, for the agent's acknowledgements.
func (e *defaultExecutor) Shutdown(d *sdk.Driver) {
	e.sendMu.Lock()
	e.mu.Lock()
	e.shuttingDown = true
	var victims []*task
	var waits []chan struct{}
	for _, t := range e.tasks {
		if !t.terminal {
			waits = append(waits, t.done)
		}
		if !t.terminal && t.killGrace == nil {
			g := e.shutdown
			t.killGrace = &g
			victims = append(victims, t)
		}
	}
	e.mu.Unlock()
	e.log.Info("default executor: shutting down", "tasks", len(waits))
	e.killLocked(d, victims, e.shutdown, false)
	e.sendMu.Unlock()

	timer := time.NewTimer(e.shutdown + AckTimeout)
	defer timer.Stop()
	for _, ch := range waits {
		select {
		case <-ch:
		case <-timer.C:
			return
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), AckTimeout)
	defer cancel()
	_ = d.WaitAcknowledged(ctx)
}

// killAndWait makes sure no task's process group is left when Main
// returns.
func (e *defaultExecutor) killAndWait(grace time.Duration) {
	e.mu.Lock()
	var procs []*proc.Process
	for _, t := range e.tasks {
		if t.proc != nil {
			procs = append(procs, t.proc)
		}
	}
	e.mu.Unlock()
	for _, p := range procs {
		p.Kill(grace)
	}
	timer := time.NewTimer(grace + time.Second)
	defer timer.Stop()
	for _, p := range procs {
		select {
		case <-p.Done():
		case <-timer.C:
			p.Kill(0)
		}
	}
}

// allTerminal reports whether the executor has tasks and all are terminal.
func (e *defaultExecutor) allTerminal() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.tasks) == 0 {
		return false
	}
	for _, t := range e.tasks {
		if !t.terminal {
			return false
		}
	}
	return true
}

// finish sends a task's terminal update.
func (e *defaultExecutor) finish(d *sdk.Driver, t *task, state mesos.TaskState, msg string, healthy *bool) {
	e.sendMu.Lock()
	defer e.sendMu.Unlock()
	e.finishLocked(d, t, state, msg, healthy)
}

// finishLocked sends a task's terminal update once; e.sendMu must be held.
func (e *defaultExecutor) finishLocked(d *sdk.Driver, t *task, state mesos.TaskState, msg string, healthy *bool) {
	e.mu.Lock()
	already := t.terminal
	e.mu.Unlock()
	if already {
		return
	}
	st := &mesos.TaskStatus{TaskId: t.id(), State: state.Enum(), Healthy: healthy}
	if msg != "" {
		st.Message = proto.String(msg)
	}
	// Sent before the task counts as terminal, so that Main, which waits
	// for the acknowledgement of every update once all tasks are
	// terminal, never misses this one.
	e.sendLocked(d, st)
	e.mu.Lock()
	t.terminal = true
	e.mu.Unlock()
	close(t.done)
	select {
	case e.changed <- struct{}{}:
	default:
	}
}

func (e *defaultExecutor) send(d *sdk.Driver, st *mesos.TaskStatus) {
	e.sendMu.Lock()
	defer e.sendMu.Unlock()
	e.sendLocked(d, st)
}

// sendLocked sends one update; e.sendMu must be held.
func (e *defaultExecutor) sendLocked(d *sdk.Driver, st *mesos.TaskStatus) {
	if err := d.SendStatusUpdate(st); err != nil {
		// The update stays unacknowledged and is resent on resubscription.
		e.log.Warn("default executor: status update failed", "task", st.GetTaskId().GetValue(),
			"state", st.GetState().String(), "error", err)
	}
}
