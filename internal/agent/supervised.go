package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/internal/isolation"
	"github.com/agora-dev/agora/internal/proc"
	"github.com/agora-dev/agora/internal/supervise"
	"google.golang.org/protobuf/proto"
)

// Command tasks the agent runs itself (Config.CommandExecutor "agent").
//
// A command task still has everything a command executor gives it: an
// executor id (the task id) and ExecutorInfo, a container (cgroup) sized
// for both, a sandbox with stdout and stderr, the executor's environment,
// TASK_STARTING, TASK_RUNNING and a terminal update from
// SOURCE_EXECUTOR, the kill policy (TASK_KILLING for frameworks that ask),
// and recovery after an agent restart. What it lacks is the executor
// process: the agent plays the command executor on its loop, and the only
// process it starts besides the task's is agora-supervisor
// (internal/supervise), which starts the command, reports its pid and
// records its wait status in <work_dir>/meta/exits/<container_id>. The
// record is what lets an agent restarted meanwhile report the exact end of
// a task, or of one that ended while the agent was down.
//
// A task with a health check or a tty gets a command executor process, as
// does every task with CommandExecutor "process".

// Values of Config.CommandExecutor.
const (
	CommandExecutorAgent   = "agent"
	CommandExecutorProcess = "process"
)

// SupervisorBinary is the name of the supervisor program
// (cmd/agora-supervisor), looked up like ExecutorBinary.
const SupervisorBinary = "agora-supervisor"

// defaultKillGrace is the command executor's grace between SIGTERM and
// SIGKILL when neither the kill nor the task has a kill policy.
const defaultKillGrace = 3 * time.Second

// defaultSupervisorPath is the agora-supervisor in dir (default: beside
// the agent's binary), or "".
func defaultSupervisorPath(dir string) string {
	if dir == "" {
		self, err := os.Executable()
		if err != nil {
			return ""
		}
		dir = filepath.Dir(self)
	}
	if p := filepath.Join(dir, SupervisorBinary); isExecutable(p) {
		return p
	}
	return ""
}

// runsItself reports whether the agent runs a command task without a
// command executor process, and the task's argv (PATH, ARGV0, ARG...).
func (s *state) runsItself(ti *mesos.TaskInfo) ([]string, bool) {
	if s.a.cfg.CommandExecutor != CommandExecutorAgent || s.a.cfg.SupervisorPath == "" {
		return nil, false
	}
	if ti.GetHealthCheck() != nil || ti.GetContainer().GetTtyInfo() != nil {
		return nil, false
	}
	cmd := ti.GetCommand()
	// Commands the command executor refuses keep its exact answer.
	if cmd.GetValue() == "" {
		return nil, false
	}
	if cmd.GetShell() {
		return []string{"/bin/sh", "sh", "-c", cmd.GetValue()}, true
	}
	args := cmd.GetArguments()
	if len(args) == 0 {
		args = []string{cmd.GetValue()}
	}
	return append([]string{cmd.GetValue()}, args...), true
}

// exitRecordPath is where a supervised task's exit record is kept.
func (a *Agent) exitRecordPath(containerID string) string {
	return filepath.Join(a.cfg.WorkDir, "meta", "exits", containerID)
}

// supervisedSpec turns an executor's launch spec into its supervisor's:
// the task's argv after the supervisor's, the executor's environment
// without what only an executor needs (later entries win, as with the
// command executor).
func (s *state) supervisedSpec(spec *launchSpec, argv []string) {
	spec.proc.Path = s.a.cfg.SupervisorPath
	spec.proc.Args = append(append([]string{s.a.cfg.SupervisorPath}, s.a.cfg.SupervisorArgs...), argv...)
	spec.proc.Env = lastWins(spec.proc.Env, "MESOS_EXECUTOR_AUTHENTICATION_TOKEN")
	spec.proc.HoldsItself = true
	spec.supervised = true
}

// lastWins removes the earlier of entries with the same name, and drop.
func lastWins(env []string, drop ...string) []string {
	last := make(map[string]int, len(env))
	for i, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		last[name] = i
	}
	for _, d := range drop {
		last[d] = -1
	}
	out := make([]string, 0, len(env))
	for i, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if last[name] == i {
			out = append(out, kv)
		}
	}
	return out
}

// startReport is what a supervisor said of its command's start.
type startReport struct {
	taskPid int
	err     string // the command could not be started
}

// launchSupervised is launch for a supervised task: it hands the
// supervisor its exit record and start report and waits for the report.
// Off the loop.
func (a *Agent) launchSupervised(ctx context.Context, spec launchSpec) (*proc.Process, isolation.Container, startReport, error) {
	var rep startReport
	path := a.exitRecordPath(spec.containerID)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, rep, fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	exitf, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, nil, rep, fmt.Errorf("create exit record: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		exitf.Close()
		return nil, nil, rep, fmt.Errorf("supervisor pipe: %w", err)
	}
	spec.proc.ExtraFiles = []*os.File{exitf, w} // fds 4 and 5 (supervise.ExitFD, ReadyFD)
	p, c, err := a.launch(ctx, spec)
	exitf.Close()
	w.Close()
	defer r.Close()
	if err != nil {
		os.Remove(path)
		return nil, nil, rep, err
	}
	// The supervisor reports at once; EOF without a report means it
	// died first.
	b, _ := io.ReadAll(io.LimitReader(r, 4096))
	rec := supervise.Parse(b)
	switch {
	case !rec.Written:
		rep.err = "the supervisor exited before it started the command"
	case rec.Err != "":
		rep.err = rec.Err
	default:
		fmt.Sscanf(string(b), "started %d", &rep.taskPid)
	}
	return p, c, rep, nil
}

// supervisedProc is a supervised task's process: the supervisor, killed
// through its command's process group (the supervisor outlives the
// command to record its end).
type supervisedProc struct {
	processHandle // the supervisor
	taskPid       int

	mu      sync.Mutex
	killing bool
}

// Kill sends SIGTERM to the command's group and SIGKILL after grace; the
// supervisor then exits by itself (it is killed too if it has not a
// second later).
func (p *supervisedProc) Kill(grace time.Duration) {
	p.mu.Lock()
	if p.killing {
		p.mu.Unlock()
		return
	}
	p.killing = true
	p.mu.Unlock()
	if p.taskPid <= 0 {
		p.processHandle.Kill(grace)
		return
	}
	sig := syscall.SIGTERM
	if grace <= 0 {
		sig = syscall.SIGKILL
	}
	_ = syscall.Kill(-p.taskPid, sig)
	go func() {
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-p.Done():
			return
		case <-t.C:
		}
		_ = syscall.Kill(-p.taskPid, syscall.SIGKILL)
		t.Reset(time.Second)
		select {
		case <-p.Done():
		case <-t.C:
			p.processHandle.Kill(0)
		}
	}()
}

// supervisedLaunched is launched for a supervised task: the agent, as its
// command executor, reports TASK_STARTING and TASK_RUNNING (or
// TASK_FAILED when the command did not start). On the loop.
func (s *state) supervisedLaunched(e *executor, p *proc.Process, c isolation.Container, rep startReport, err error) {
	if err != nil {
		s.launched(e, nil, nil, err)
		return
	}
	sp := &supervisedProc{processHandle: p, taskPid: rep.taskPid}
	e.proc = &runningProc{p: sp}
	e.taskPid = rep.taskPid
	e.container = c
	s.resizeContainer(e)
	cid, dir := e.containerID, e.directory
	go s.a.watchContainer(c, cid, p.Done())
	go func() {
		<-p.Done()
		ex := p.Exit()
		lim := checkMemoryLimitation(c)
		rec := readExitRecord(s.a.exitRecordPath(cid))
		s.a.destroyContainer(c, cid, dir)
		s.a.post(func() {
			if lim != nil {
				e.limitation = lim
			}
			s.supervisedExited(e, &ex, rec)
		})
	}()
	if e.state >= execTerminating || e.liveTasks() == 0 {
		s.killProcess(e) // shut down, or its task killed, while launching
		return
	}
	e.state = execRunning
	e.subscribed = true
	for _, t := range e.tasks {
		if !t.queued || mesos.IsTerminal(t.state) {
			continue
		}
		t.queued = false
		s.supervisedUpdate(e, t, mesos.TaskState_TASK_STARTING, "", nil)
		if rep.err != "" {
			s.supervisedUpdate(e, t, mesos.TaskState_TASK_FAILED, "Failed to launch command: "+rep.err, nil)
			continue
		}
		s.supervisedUpdate(e, t, mesos.TaskState_TASK_RUNNING, "", &mesos.ContainerStatus{
			ContainerId: &mesos.ContainerID{Value: proto.String(e.containerID)},
			ExecutorPid: proto.Uint32(uint32(p.Pid())),
		})
	}
}

// supervisedUpdate is an update of the agent playing a task's command
// executor: what the executor would have sent, accepted as if it had.
func (s *state) supervisedUpdate(e *executor, t *task, st mesos.TaskState, msg string, cs *mesos.ContainerStatus) {
	ts := &mesos.TaskStatus{
		TaskId:          t.info.TaskId,
		State:           st.Enum(),
		Source:          mesos.TaskStatus_SOURCE_EXECUTOR.Enum(),
		Uuid:            newUUID(),
		ExecutorId:      e.info.ExecutorId,
		ContainerStatus: cs,
	}
	if msg != "" {
		ts.Message = proto.String(msg)
	}
	s.events["valid_status_updates"]++
	s.acceptExecutorUpdate(e, ts)
}

// supervisedKill is KILL_TASK of a supervised task: the command
// executor's kill, with its grace period and TASK_KILLING.
func (s *state) supervisedKill(e *executor, t *task, policy *mesos.KillPolicy) {
	if e.killRequested || e.proc == nil {
		return
	}
	grace := defaultKillGrace
	if gp := policy.GetGracePeriod(); gp != nil {
		grace = durationOf(gp)
	} else if gp := t.info.GetKillPolicy().GetGracePeriod(); gp != nil {
		grace = durationOf(gp)
	}
	e.killRequested = true
	for _, c := range e.fw.info.GetCapabilities() {
		if c.GetType() == mesos.FrameworkInfo_Capability_TASK_KILLING_STATE {
			s.supervisedUpdate(e, t, mesos.TaskState_TASK_KILLING, "", nil)
		}
	}
	s.a.log.Info("killing task", "framework_id", e.fw.id, "task_id", t.id(), "grace", grace)
	e.proc.p.Kill(grace)
}

// supervisedShutdown is SHUTDOWN of a supervised task's executor: its
// task is killed with the executor's shutdown grace period.
func (s *state) supervisedShutdown(e *executor) {
	e.killRequested = true
	if e.proc == nil {
		s.killProcess(e)
		return
	}
	grace := s.a.cfg.ExecutorShutdownGracePeriod
	if g := e.info.GetShutdownGracePeriod(); g != nil {
		grace = durationOf(g)
	}
	e.proc.p.Kill(grace)
}

// supervisedExited reports the end of a supervised task as its command
// executor would, then the end of its executor. ex is the supervisor's
// exit, nil when unknown (adopted after a restart, or gone). On the loop.
func (s *state) supervisedExited(e *executor, ex *proc.Exit, rec supervise.Record) {
	if e.state == execTerminated {
		return
	}
	if !e.fw.terminating {
		for _, t := range e.tasks {
			if mesos.IsTerminal(t.state) || t.queued {
				continue
			}
			if st, msg, ok := supervisedEnd(rec, e.killRequested, ex); ok {
				s.supervisedUpdate(e, t, st, msg, nil)
			}
		}
	}
	s.executorTerminated(e, ex)
	if err := os.Remove(s.a.exitRecordPath(e.containerID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.a.log.Warn("cannot remove exit record", "container_id", e.containerID, "err", err)
	}
}

// supervisedEnd is the terminal state and message of a supervised task
// from its exit record; ok false leaves the task to the executor's end
// (TASK_FAILED, REASON_EXECUTOR_TERMINATED: the supervisor was killed).
func supervisedEnd(rec supervise.Record, killed bool, sup *proc.Exit) (mesos.TaskState, string, bool) {
	switch {
	case rec.Written && rec.Err != "":
		return mesos.TaskState_TASK_FAILED, "Failed to launch command: " + rec.Err, true
	case rec.Written:
		x := rec.Exit()
		msg := x.String()
		if x.Signaled {
			msg = "Command terminated with signal " + signalName(x.Signal)
		}
		switch {
		case killed:
			return mesos.TaskState_TASK_KILLED, msg, true
		case !x.Signaled && x.Code == 0:
			return mesos.TaskState_TASK_FINISHED, msg, true
		}
		return mesos.TaskState_TASK_FAILED, msg, true
	case killed:
		msg := "Command terminated with signal Killed"
		if sup != nil && sup.Err == nil && !sup.Signaled {
			msg = sup.String()
		}
		return mesos.TaskState_TASK_KILLED, msg, true
	}
	return 0, "", false
}

// signalName is strsignal's name of a signal ("Terminated"), as in Mesos's
// messages.
func signalName(sig syscall.Signal) string {
	name := sig.String()
	if name == "" {
		return name
	}
	return strings.ToUpper(name[:1]) + name[1:]
}

// readExitRecord reads a supervised task's exit record; a missing or
// unfinished one is not Written.
func readExitRecord(path string) supervise.Record {
	b, err := os.ReadFile(path)
	if err != nil {
		return supervise.Record{}
	}
	return supervise.Parse(b)
}
