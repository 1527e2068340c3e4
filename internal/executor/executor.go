// Package executor is Agora's built-in command executor, the counterpart
// of Mesos's mesos-executor: the agent starts it (as `agora executor`) for
// a task that carries a CommandInfo and no ExecutorInfo. It runs exactly
// one task's command in a process group of its own, reports
// TASK_STARTING, TASK_RUNNING and a terminal state, kills the group with a
// grace period on KILL or SHUTDOWN, and exits once the agent has
// acknowledged the terminal update.
//
// Task lifecycle as this executor reports it:
//
//	LAUNCH ─▶ STARTING ─▶ RUNNING ─┬─ exit 0 ─────────────▶ FINISHED
//	                               ├─ exit N / signal ───▶ FAILED
//	                               └─ KILL ─▶ (KILLING) ─▶ KILLED
package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/protobuf/proto"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/internal/executor/health"
	"github.com/agora-dev/agora/internal/proc"
	sdk "github.com/agora-dev/agora/sdk/executor"
)

const (
	// DefaultKillGracePeriod is the grace between SIGTERM and SIGKILL when
	// neither the KILL event nor the task carries a kill policy (Mesos's
	// command executor default).
	DefaultKillGracePeriod = 3 * time.Second
	// AckTimeout bounds the wait for the agent's acknowledgement of the
	// terminal update before the executor exits.
	AckTimeout = 5 * time.Second
	// shutdownMargin is taken off the agent's shutdown grace period so that
	// the task is dead and reported before the agent kills the executor.
	shutdownMargin = time.Second
)

// passedEnv lists the variables the agent sets for the executor that the
// task sees too. They are read through Main's getenv, so that an executor
// run in-process (in tests) passes them on like a real one.
var passedEnv = []string{
	"MESOS_FRAMEWORK_ID", "MESOS_EXECUTOR_ID", "MESOS_AGENT_ENDPOINT",
	"MESOS_DIRECTORY", "MESOS_SANDBOX", "MESOS_CHECKPOINT",
	"MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "MESOS_SUBSCRIPTION_BACKOFF_MAX",
	"MESOS_RECOVERY_TIMEOUT", "MESOS_SLAVE_ID", "MESOS_SLAVE_PID",
	"MESOS_AGENT_ID", "MESOS_HTTP_COMMAND_EXECUTOR", "MESOS_ALLOCATION_ROLE",
	"MESOS_CONTAINER_ID", "LIBPROCESS_IP", "LIBPROCESS_PORT",
}

// hiddenEnv lists variables of the executor a task must not see.
var hiddenEnv = []string{sdk.EnvAuthenticationToken, proc.HoldFDEnv}

// Main runs the command executor until its task has ended and the agent
// has acknowledged the terminal update, or the agent shuts it down. It
// returns the process exit code: 0 after a task ran (whatever its state)
// or a shutdown, 1 when the executor could not work (bad environment,
// agent lost, ctx ended).
func Main(ctx context.Context, getenv func(string) string, logger *slog.Logger) int {
	if !proc.AwaitRelease(getenv) {
		return proc.HeldExitCode // not let into its container: run nothing
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := sdk.ConfigFromEnv(getenv)
	if err != nil {
		logger.Error("command executor: bad environment", "error", err)
		return 1
	}
	logger = logger.With("executor", cfg.ExecutorID)
	cfg.Logger = logger
	ce := &commandExecutor{
		log:      logger,
		env:      baseEnv(getenv),
		sandbox:  cfg.Sandbox,
		shutdown: shutdownGrace(cfg.ShutdownGracePeriod),
		ended:    make(chan struct{}),
	}
	d := sdk.NewDriver(cfg, ce)
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(ctx) }()

	select {
	case <-ce.ended:
		// The terminal update is out; give the agent time to take it.
		actx, cancel := context.WithTimeout(ctx, AckTimeout)
		err := d.WaitAcknowledged(actx)
		cancel()
		if err != nil {
			logger.Warn("command executor: exiting without acknowledgement", "error", err)
		}
		d.Stop()
		<-runErr
		return 0
	case err := <-runErr:
		// SHUTDOWN (nil), a lost agent, or ctx: never leave the task behind.
		ce.killAndWait(d, shutdownGrace(cfg.ShutdownGracePeriod))
		if err != nil {
			logger.Error("command executor: exiting", "error", err)
			return 1
		}
		return 0
	}
}

// shutdownGrace is the kill grace period that fits in the agent's shutdown
// grace period.
func shutdownGrace(agentGrace time.Duration) time.Duration {
	if agentGrace > 2*shutdownMargin {
		return agentGrace - shutdownMargin
	}
	return agentGrace / 2
}

// baseEnv is the executor's environment, with the agent-given variables
// read through getenv, and without the variables a task must not see.
func baseEnv(getenv func(string) string) []string {
	env := os.Environ()
	for _, name := range passedEnv {
		if v := getenv(name); v != "" {
			env = append(env, name+"="+v)
		}
	}
	return mergeEnv(env, nil, hiddenEnv)
}

// mergeEnv returns base with over applied on top (later entries win) and
// the names in drop removed, keeping the order of first appearance.
func mergeEnv(base, over []string, drop []string) []string {
	index := map[string]int{}
	var out []string
	for _, kv := range append(append([]string(nil), base...), over...) {
		name, _, _ := strings.Cut(kv, "=")
		if i, ok := index[name]; ok {
			out[i] = kv
			continue
		}
		index[name] = len(out)
		out = append(out, kv)
	}
	dropped := map[string]bool{}
	for _, n := range drop {
		dropped[n] = true
	}
	res := out[:0]
	for _, kv := range out {
		name, _, _ := strings.Cut(kv, "=")
		if !dropped[name] {
			res = append(res, kv)
		}
	}
	return res
}

// commandExecutor runs one task.
type commandExecutor struct {
	sdk.NopExecutor

	log      *slog.Logger
	env      []string
	sandbox  string
	shutdown time.Duration // kill grace on SHUTDOWN

	// sendMu orders TASK_KILLING before the terminal update.
	sendMu sync.Mutex

	mu sync.Mutex
	// +checklocks:mu
	framework *mesos.FrameworkInfo
	// +checklocks:mu
	task *mesos.TaskInfo // the one task, once launched
	// +checklocks:mu
	process *proc.Process // once started
	// +checklocks:mu
	killGrace *time.Duration // set when a kill was asked for
	// +checklocks:mu
	terminal bool // a terminal update was sent (or is being sent)
	// +checklocks:mu
	healthKill string // why the health check killed the task, if it did

	endOnce sync.Once
	ended   chan struct{} // closed after the terminal update was sent
}

func (e *commandExecutor) Registered(d *sdk.Driver, _ *mesos.ExecutorInfo, fw *mesos.FrameworkInfo, _ *mesos.AgentInfo) {
	e.mu.Lock()
	e.framework = fw
	e.mu.Unlock()
}

func (e *commandExecutor) Reregistered(d *sdk.Driver, _ *mesos.AgentInfo) {
	if fw := d.FrameworkInfo(); fw != nil {
		e.mu.Lock()
		e.framework = fw
		e.mu.Unlock()
	}
}

func (e *commandExecutor) Error(_ *sdk.Driver, msg string) {
	e.log.Error("command executor: error from agent", "message", msg)
}

func (e *commandExecutor) LaunchTaskGroup(d *sdk.Driver, group *mesos.TaskGroupInfo) {
	for _, t := range group.GetTasks() {
		e.send(d, t.GetTaskId(), mesos.TaskState_TASK_ERROR,
			"the command executor does not run task groups", nil)
	}
}

func (e *commandExecutor) LaunchTask(d *sdk.Driver, task *mesos.TaskInfo) {
	e.mu.Lock()
	if e.task != nil {
		e.mu.Unlock()
		e.log.Warn("command executor: refusing a second task", "task", task.GetTaskId().GetValue())
		e.send(d, task.GetTaskId(), mesos.TaskState_TASK_FAILED,
			`Attempted to run multiple tasks using a "command" executor`, nil)
		return
	}
	e.task = task
	e.mu.Unlock()
	id := task.GetTaskId()
	e.send(d, id, mesos.TaskState_TASK_STARTING, "", nil)
	if hc := task.GetHealthCheck(); hc != nil {
		if err := health.Validate(hc); err != nil {
			e.finish(d, id, mesos.TaskState_TASK_FAILED, "Task has an invalid health check: "+err.Error())
			return
		}
	}

	spec, err := e.spec(task)
	if err != nil {
		e.finish(d, id, mesos.TaskState_TASK_FAILED, err.Error())
		return
	}
	e.mu.Lock()
	if e.killGrace != nil {
		e.mu.Unlock()
		e.finish(d, id, mesos.TaskState_TASK_KILLED, "Task killed before its command started")
		return
	}
	tty, err := openTaskTTY(&spec)
	if err != nil {
		e.mu.Unlock()
		e.finish(d, id, mesos.TaskState_TASK_FAILED, err.Error())
		return
	}
	p, err := proc.Start(spec)
	if tty != nil {
		tty.Close() // the task has its own copies
	}
	if err != nil {
		e.mu.Unlock()
		e.finish(d, id, mesos.TaskState_TASK_FAILED, fmt.Sprintf("Failed to launch command: %v", err))
		return
	}
	e.process = p
	e.mu.Unlock()
	e.log.Info("command executor: started task", "task", id.GetValue(), "pid", p.Pid())

	cs := &mesos.ContainerStatus{ExecutorPid: proto.Uint32(uint32(p.Pid()))}
	if cid := d.ContainerID(); cid != nil {
		cs.ContainerId = cid
	}
	e.send(d, id, mesos.TaskState_TASK_RUNNING, "", cs)

	stopHealth := e.startHealthCheck(d, task, spec)
	<-p.Done()
	stopHealth()
	exit := p.Exit()
	e.mu.Lock()
	killed := e.killGrace != nil
	healthKill := e.healthKill
	e.mu.Unlock()
	state, msg := mesos.TaskState_TASK_FAILED, exitMessage(exit)
	switch {
	case killed:
		state = mesos.TaskState_TASK_KILLED
	case exit.Err == nil && !exit.Signaled && exit.Code == 0:
		state = mesos.TaskState_TASK_FINISHED
	}
	e.log.Info("command executor: task ended", "task", id.GetValue(), "state", state.String(), "exit", msg)
	if killed && healthKill != "" {
		// As Mesos: the task ends TASK_KILLED with healthy unset to false.
		e.finishStatus(d, &mesos.TaskStatus{TaskId: id, State: state.Enum(), Healthy: proto.Bool(false),
			Message: proto.String(healthKill + " (" + msg + ")")})
		return
	}
	e.finish(d, id, state, msg)
}

// startHealthCheck runs the task's health check, if it has one, until the
// returned function is called. Each change of health is sent as a
// TASK_RUNNING update; a check that fails consecutive_failures times
// kills the task.
func (e *commandExecutor) startHealthCheck(d *sdk.Driver, task *mesos.TaskInfo, spec proc.Spec) (stop func()) {
	hc := task.GetHealthCheck()
	if hc == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	id := task.GetTaskId()
	go func() {
		defer close(done)
		opts := health.Options{Dir: spec.Dir, Env: spec.Env, Logger: e.log.With("task", id.GetValue())}
		_ = health.Run(ctx, hc, opts, func(r health.Result) {
			e.sendMu.Lock()
			e.mu.Lock()
			over := e.terminal || e.killGrace != nil
			if r.Kill && !over {
				e.healthKill = fmt.Sprintf("Task killed after its health check failed %d consecutive times: %s",
					r.ConsecutiveFailures, r.Message)
			}
			e.mu.Unlock()
			if !over {
				e.sendStatusLocked(d, &mesos.TaskStatus{TaskId: id, State: mesos.TaskState_TASK_RUNNING.Enum(),
					Healthy: proto.Bool(r.Healthy), Reason: mesos.TaskStatus_REASON_TASK_HEALTH_CHECK_STATUS_UPDATED.Enum(),
					Message: optionalString(r.Message)})
			}
			e.sendMu.Unlock()
			if r.Kill && !over {
				e.log.Warn("command executor: killing unhealthy task", "task", id.GetValue(), "failures", r.ConsecutiveFailures)
				e.KillTask(d, id, nil)
			}
		})
	}()
	return func() {
		cancel()
		<-done
	}
}

func optionalString(s string) *string {
	if s == "" {
		return nil
	}
	return proto.String(s)
}

// spec describes the task's process: its command, in the sandbox, output
// appended to the sandbox's stdout and stderr files.
func (e *commandExecutor) spec(task *mesos.TaskInfo) (proc.Spec, error) {
	return TaskSpec(task.GetCommand(), e.env, e.sandbox, e.log)
}

// TaskSpec describes the process of a task's command: run in dir with
// base plus the command's environment, output appended to dir's stdout
// and stderr files.
func TaskSpec(cmd *mesos.CommandInfo, base []string, dir string, log *slog.Logger) (proc.Spec, error) {
	if cmd == nil {
		return proc.Spec{}, errors.New("task has no command")
	}
	var over []string
	for _, v := range cmd.GetEnvironment().GetVariables() {
		switch v.GetType() {
		case mesos.Environment_Variable_VALUE:
			over = append(over, v.GetName()+"="+v.GetValue())
		default:
			log.Warn("executor: ignoring environment variable that is not a plain value", "name", v.GetName(), "type", v.GetType().String())
		}
	}
	spec := proc.Spec{
		Env:    mergeEnv(base, over, nil),
		Dir:    dir,
		Stdout: sandboxFile(dir, "stdout"),
		Stderr: sandboxFile(dir, "stderr"),
	}
	if cmd.GetShell() { // shell defaults to true
		if cmd.GetValue() == "" {
			return proc.Spec{}, errors.New("task's shell command is empty")
		}
		spec.Path, spec.Args = "/bin/sh", []string{"sh", "-c", cmd.GetValue()}
		return spec, nil
	}
	if cmd.GetValue() == "" {
		return proc.Spec{}, errors.New("task's command has no value to execute")
	}
	spec.Path = cmd.GetValue()
	spec.Args = cmd.GetArguments()
	if len(spec.Args) == 0 {
		spec.Args = []string{cmd.GetValue()}
	}
	return spec, nil
}

// TaskTTYEnv names the environment variable in which the agent gives the
// command executor the pty slave of a container launched with
// ContainerInfo.tty_info: the task's stdin, stdout and stderr, and its
// controlling terminal (the agent holds the master side: the container's
// IO switchboard, for ATTACH_CONTAINER_INPUT/OUTPUT).
const TaskTTYEnv = "AGORA_TASK_TTY"

// openTaskTTY points spec's stdio at the pty named by TaskTTYEnv, if any,
// and returns the open slave for the caller to close once started.
func openTaskTTY(spec *proc.Spec) (*os.File, error) {
	name := os.Getenv(TaskTTYEnv)
	if name == "" {
		return nil, nil
	}
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("failed to open the container's tty: %v", err)
	}
	spec.Stdio = [3]*os.File{f, f, f}
	spec.TTY = true
	spec.Env = slices.DeleteFunc(spec.Env, func(kv string) bool { return strings.HasPrefix(kv, TaskTTYEnv+"=") })
	return f, nil
}

func sandboxFile(sandbox, name string) string {
	if sandbox == "" {
		return ""
	}
	return strings.TrimSuffix(sandbox, "/") + "/" + name
}

func (e *commandExecutor) KillTask(d *sdk.Driver, id *mesos.TaskID, policy *mesos.KillPolicy) {
	e.mu.Lock()
	if e.task != nil && e.task.GetTaskId().GetValue() != id.GetValue() {
		e.mu.Unlock()
		e.log.Warn("command executor: kill of unknown task", "task", id.GetValue())
		return
	}
	grace := DefaultKillGracePeriod
	if gp := policy.GetGracePeriod(); gp != nil {
		grace = time.Duration(gp.GetNanoseconds())
	} else if gp := e.task.GetKillPolicy().GetGracePeriod(); gp != nil {
		grace = time.Duration(gp.GetNanoseconds())
	}
	killing := e.framework != nil && hasCapability(e.framework, mesos.FrameworkInfo_Capability_TASK_KILLING_STATE)
	e.mu.Unlock()
	e.kill(d, id, grace, killing)
}

// kill records the kill, sends TASK_KILLING when asked to, and signals the
// process group if it runs. A kill while one is under way does nothing.
func (e *commandExecutor) kill(d *sdk.Driver, id *mesos.TaskID, grace time.Duration, sendKilling bool) {
	e.sendMu.Lock()
	defer e.sendMu.Unlock()
	e.mu.Lock()
	if e.killGrace != nil || e.terminal {
		e.mu.Unlock()
		return
	}
	e.killGrace = &grace
	p := e.process
	e.mu.Unlock()
	if sendKilling && id.GetValue() != "" {
		e.sendLocked(d, id, mesos.TaskState_TASK_KILLING, "", nil)
	}
	if p != nil {
		e.log.Info("command executor: killing task", "task", id.GetValue(), "grace", grace)
		p.Kill(grace)
	}
}

func (e *commandExecutor) Shutdown(d *sdk.Driver) {
	e.mu.Lock()
	task := e.task
	e.mu.Unlock()
	// Even with no task yet, record the kill: a LaunchTask still on its
	// way then reports TASK_KILLED instead of starting the command.
	e.kill(d, task.GetTaskId(), e.shutdown, false)
	if task == nil {
		return
	}
	// Wait for the terminal update, then (briefly) for its
	// acknowledgement; the agent kills us after its grace period anyway.
	t := time.NewTimer(e.shutdown + AckTimeout)
	defer t.Stop()
	select {
	case <-e.ended:
	case <-t.C:
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), AckTimeout)
	defer cancel()
	_ = d.WaitAcknowledged(ctx)
}

// killAndWait makes sure no task process is left, or will be started,
// when Main returns.
func (e *commandExecutor) killAndWait(d *sdk.Driver, grace time.Duration) {
	e.mu.Lock()
	task := e.task
	e.mu.Unlock()
	e.kill(d, task.GetTaskId(), grace, false)
	e.mu.Lock()
	p := e.process
	e.mu.Unlock()
	if p == nil {
		return
	}
	p.Kill(grace) // no-op when a kill is under way
	t := time.NewTimer(grace + time.Second)
	defer t.Stop()
	select {
	case <-p.Done():
	case <-t.C:
		_ = p.Signal(syscall.SIGKILL)
	}
}

// finish sends the task's terminal update, once.
func (e *commandExecutor) finish(d *sdk.Driver, id *mesos.TaskID, state mesos.TaskState, msg string) {
	st := &mesos.TaskStatus{TaskId: id, State: state.Enum()}
	if msg != "" {
		st.Message = proto.String(msg)
	}
	e.finishStatus(d, st)
}

// finishStatus sends the task's terminal status, once.
func (e *commandExecutor) finishStatus(d *sdk.Driver, st *mesos.TaskStatus) {
	e.sendMu.Lock()
	e.mu.Lock()
	e.terminal = true
	e.mu.Unlock()
	e.sendStatusLocked(d, st)
	e.sendMu.Unlock()
	e.endOnce.Do(func() { close(e.ended) })
}

func (e *commandExecutor) send(d *sdk.Driver, id *mesos.TaskID, state mesos.TaskState, msg string, cs *mesos.ContainerStatus) {
	e.sendMu.Lock()
	defer e.sendMu.Unlock()
	e.sendLocked(d, id, state, msg, cs)
}

// sendLocked sends one update; e.sendMu must be held.
func (e *commandExecutor) sendLocked(d *sdk.Driver, id *mesos.TaskID, state mesos.TaskState, msg string, cs *mesos.ContainerStatus) {
	st := &mesos.TaskStatus{
		TaskId:          id,
		State:           state.Enum(),
		ContainerStatus: cs,
	}
	if msg != "" {
		st.Message = proto.String(msg)
	}
	e.sendStatusLocked(d, st)
}

// sendStatusLocked sends one status; e.sendMu must be held.
func (e *commandExecutor) sendStatusLocked(d *sdk.Driver, st *mesos.TaskStatus) {
	if err := d.SendStatusUpdate(st); err != nil {
		// The update stays unacknowledged and is resent on resubscription.
		e.log.Warn("command executor: status update failed", "task", st.GetTaskId().GetValue(),
			"state", st.GetState().String(), "error", err)
	}
}

func hasCapability(fw *mesos.FrameworkInfo, c mesos.FrameworkInfo_Capability_Type) bool {
	for _, cap := range fw.GetCapabilities() {
		if cap.GetType() == c {
			return true
		}
	}
	return false
}

// exitMessage describes how the command ended, in Mesos's words
// ("Command exited with status 3", "Command terminated with signal
// Terminated").
func exitMessage(x proc.Exit) string {
	if x.Signaled {
		return "Command terminated with signal " + signalName(x.Signal)
	}
	return x.String()
}

// signalName is strsignal's name of a signal ("Terminated", "Killed"),
// which Mesos puts in its messages; Go's names are lower-case.
func signalName(s syscall.Signal) string {
	name := s.String()
	if name == "" {
		return name
	}
	return strings.ToUpper(name[:1]) + name[1:]
}
