package agent

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	executorpb "github.com/agora-dev/agora/api/mesos/v1/executor"
	"github.com/agora-dev/agora/internal/isolation"
	"github.com/agora-dev/agora/internal/proc"
	"google.golang.org/protobuf/proto"
)

// This file is the loop's executor lifecycle: launching executors for
// RUN_TASK, delivering tasks, killing tasks, shutting executors down and
// reacting to their exit.

// runTask handles RUN_TASK from the master.
func (s *state) runTask(rt *agentpb.Event_RunTask) {
	fi := rt.GetFrameworkInfo()
	fwID := fi.GetId().GetValue()
	if s.shuttingDown {
		return
	}
	if fwID == "" {
		s.a.log.Error("RUN_TASK without framework id ignored")
		return
	}
	f := s.frameworks[fwID]
	if f == nil {
		f = &framework{id: fwID, executors: make(map[string]*executor)}
		s.frameworks[fwID] = f
		s.a.log.Info("framework added", "framework_id", fwID, "name", fi.GetName())
	}
	f.info = fi
	f.terminating = false
	if s.agentID != "" {
		s.gcUnschedule(s.a.frameworkDir(s.agentID, fwID))
	}

	if tg := rt.GetTaskGroup(); tg != nil {
		s.runTaskGroup(f, rt.GetExecutorInfo(), tg)
		return
	}
	ti := rt.GetTask()
	taskID := ti.GetTaskId().GetValue()
	if taskErr := validateTask(ti); taskErr != "" || s.findTask(fwID, taskID) != nil {
		if taskErr == "" {
			taskErr = fmt.Sprintf("task %q already exists on this agent", taskID)
		}
		s.statusUpdate(fwID, s.newAgentUpdate(taskID, ti.GetExecutor().GetExecutorId().GetValue(),
			mesos.TaskState_TASK_ERROR, mesos.TaskStatus_REASON_TASK_INVALID, taskErr))
		return
	}

	var e *executor
	if ti.GetExecutor() != nil {
		ei := proto.Clone(ti.GetExecutor()).(*mesos.ExecutorInfo)
		if ei.FrameworkId == nil {
			ei.FrameworkId = fi.GetId()
		}
		e = f.executors[ei.GetExecutorId().GetValue()]
		if e != nil && e.state >= execTerminating {
			st := mesos.TaskState_TASK_LOST
			if f.partitionAware() {
				st = mesos.TaskState_TASK_DROPPED
			}
			s.statusUpdate(fwID, s.newAgentUpdate(taskID, e.id, st, mesos.TaskStatus_REASON_EXECUTOR_TERMINATED,
				fmt.Sprintf("executor %q is terminating", e.id)))
			return
		}
		if e == nil {
			if s.dropForUser(f, ei, taskID) {
				return
			}
			e = s.newExecutor(f, ei, false, ti.GetResources())
		}
	} else {
		if f.executors[taskID] != nil {
			s.statusUpdate(fwID, s.newAgentUpdate(taskID, "", mesos.TaskState_TASK_ERROR,
				mesos.TaskStatus_REASON_TASK_INVALID, fmt.Sprintf("an executor with id %q already exists", taskID)))
			return
		}
		ei := s.commandExecutorInfo(fi, ti)
		if s.dropForUser(f, ei, taskID) {
			return
		}
		argv, _ := s.runsItself(ti)
		e = s.newExecutorKind(f, ei, true, false, ti.GetResources(), ti.GetContainer().GetTtyInfo(), argv)
	}

	t := &task{ex: e, info: ti, state: mesos.TaskState_TASK_STAGING, queued: true}
	e.tasks = append(e.tasks, t)
	s.counters[mesos.TaskState_TASK_STAGING]++
	s.a.log.Info("task received", "framework_id", fwID, "task_id", taskID, "executor_id", e.id)
	s.resizeContainer(e)
	if e.stream != nil && e.state == execRunning {
		s.deliver(t)
	}
}

// validateTask checks what the agent needs of a TaskInfo.
func validateTask(ti *mesos.TaskInfo) string {
	switch {
	case ti == nil:
		return "RUN_TASK has neither task nor task_group"
	case ti.GetTaskId().GetValue() == "":
		return "task id is empty"
	case ti.Command == nil && ti.Executor == nil:
		return "task has neither command nor executor"
	case ti.Command != nil && ti.Executor != nil:
		return "task has both command and executor"
	case ti.Executor != nil && ti.Executor.GetCommand() == nil:
		return fmt.Sprintf("executor %q has no command", ti.Executor.GetExecutorId().GetValue())
	}
	return ""
}

// commandExecutorInfo synthesises the ExecutorInfo of the built-in
// command executor for a task, as Mesos does.
func (s *state) commandExecutorInfo(fi *mesos.FrameworkInfo, ti *mesos.TaskInfo) *mesos.ExecutorInfo {
	cmd := ti.GetCommand()
	var cmdDesc string
	if cmd.GetShell() {
		v := cmd.GetValue()
		if len(v) > 15 {
			v = v[:12] + "..."
		}
		cmdDesc = "sh -c '" + v + "'"
	} else {
		cmdDesc = "[" + strings.Join(append([]string{cmd.GetValue()}, cmd.GetArguments()...), ", ") + "]"
	}
	// The executor's resources are allocated like the task's: with
	// allocation_info exactly when the task's resources carry it.
	var alloc *mesos.Resource_AllocationInfo
	for _, r := range ti.GetResources() {
		if r.GetAllocationInfo() != nil {
			alloc = r.GetAllocationInfo()
			break
		}
	}
	scalar := func(name string, v float64) *mesos.Resource {
		return &mesos.Resource{
			Name:           proto.String(name),
			Type:           mesos.Value_SCALAR.Enum(),
			Scalar:         &mesos.Value_Scalar{Value: proto.Float64(v)},
			AllocationInfo: alloc,
		}
	}
	args := append([]string{s.a.cfg.ExecutorPath}, s.a.cfg.ExecutorArgs...)
	return &mesos.ExecutorInfo{
		ExecutorId:  &mesos.ExecutorID{Value: proto.String(ti.GetTaskId().GetValue())},
		FrameworkId: fi.GetId(),
		Name:        proto.String(fmt.Sprintf("Command Executor (Task: %s) (Command: %s)", ti.GetTaskId().GetValue(), cmdDesc)),
		Source:      proto.String(ti.GetTaskId().GetValue()),
		Command: &mesos.CommandInfo{
			Value:       proto.String(s.a.cfg.ExecutorPath),
			Arguments:   args,
			Shell:       proto.Bool(false),
			Uris:        cmd.GetUris(),
			Environment: cmd.GetEnvironment(),
			User:        cmd.User,
		},
		Resources: []*mesos.Resource{scalar("cpus", 0.1), scalar("mem", 32)},
		Labels:    ti.GetLabels(),
	}
}

// newExecutor registers an executor and starts launching it, in a
// container sized for the executor and its first tasks' resources.
func (s *state) newExecutor(f *framework, ei *mesos.ExecutorInfo, command bool, taskRes []*mesos.Resource) *executor {
	return s.newExecutorKind(f, ei, command, false, taskRes, nil, nil)
}

// newExecutorKind is newExecutor for the command executor, the default
// executor or (both false) a custom executor. A command task the agent
// runs itself has its argv in supervised (supervised.go).
func (s *state) newExecutorKind(f *framework, ei *mesos.ExecutorInfo, command, defaultExec bool,
	taskRes []*mesos.Resource, tty *mesos.TTYInfo, supervised []string,
) *executor {
	e := &executor{
		fw:          f,
		id:          ei.GetExecutorId().GetValue(),
		info:        ei,
		command:     command,
		defaultExec: defaultExec,
		containerID: newUUIDString(),
		state:       execLaunching,
		runAs:       s.runAsUser(ei, f.info.GetUser()),
		supervised:  supervised != nil,
	}
	e.directory = s.a.sandboxDir(s.agentID, f.id, e.id, e.containerID)
	f.executors[e.id] = e
	s.gcUnschedule(filepath.Dir(filepath.Dir(e.directory)))
	spec := s.launchSpec(e)
	spec.limits = limitsOf(append(append([]*mesos.Resource(nil), ei.GetResources()...), taskRes...))
	spec.containerID, spec.tty = e.containerID, tty
	if e.supervised {
		s.supervisedSpec(&spec, supervised)
	}
	s.a.log.Info("launching executor", "framework_id", f.id, "executor_id", e.id, "container_id", e.containerID,
		"directory", e.directory)
	ctx, cancel := context.WithCancel(s.a.launchCtx)
	e.cancelLaunch = cancel
	s.a.launchWG.Add(1)
	go func() {
		defer s.a.launchWG.Done()
		defer cancel()
		if e.supervised {
			p, c, rep, err := s.a.launchSupervised(ctx, spec)
			s.a.post(func() { s.supervisedLaunched(e, p, c, rep, err) })
			return
		}
		p, c, err := s.a.launch(ctx, spec)
		s.a.post(func() { s.launched(e, p, c, err) })
	}()
	return e
}

// launched handles the outcome of starting an executor's process.
func (s *state) launched(e *executor, p *proc.Process, c isolation.Container, err error) {
	if err != nil {
		s.a.log.Warn("executor launch failed", "framework_id", e.fw.id, "executor_id", e.id, "err", err)
		e.launchFailed = err.Error()
		s.executorTerminated(e, nil)
		return
	}
	e.proc = &runningProc{p: p}
	e.container = c
	s.resizeContainer(e) // tasks may have joined during the launch
	cid, dir := e.containerID, e.directory
	go s.a.watchContainer(c, cid, p.Done())
	go func() {
		<-p.Done()
		ex := p.Exit()
		lim := checkMemoryLimitation(c)
		// The container ends with its executor, as with Mesos's launchers.
		s.a.destroyContainer(c, cid, dir)
		s.a.releaseTaskTTY(cid)
		s.a.endSessionsOf(cid)
		s.a.post(func() {
			if lim != nil {
				e.limitation = lim
			}
			s.executorTerminated(e, &ex)
		})
	}()
	if e.state >= execTerminating || e.liveTasks() == 0 {
		// Shut down while launching, or every task killed during launch.
		s.killProcess(e)
		return
	}
	e.regTimer = s.a.afterFunc(s.a.cfg.ExecutorRegistrationTimeout, func() {
		if e.state != execLaunching {
			return
		}
		s.a.log.Warn("executor did not subscribe in time; killing it", "framework_id", e.fw.id, "executor_id", e.id,
			"timeout", s.a.cfg.ExecutorRegistrationTimeout)
		r := mesos.TaskStatus_REASON_EXECUTOR_REGISTRATION_TIMEOUT
		e.killReason = &r
		e.killMessage = fmt.Sprintf("Executor did not register within %s", formatDuration(s.a.cfg.ExecutorRegistrationTimeout))
		e.state = execTerminating
		s.killProcess(e)
	})
}

// deliver sends a queued task to the executor's stream as LAUNCH, or its
// whole group as LAUNCH_GROUP.
func (s *state) deliver(t *task) {
	if t.group != nil {
		s.deliverGroup(t)
		return
	}
	t.queued = false
	e := t.ex
	e.stream.push(&executorpb.Event{
		Type:   executorpb.Event_LAUNCH.Enum(),
		Launch: &executorpb.Event_Launch{Task: t.info},
	})
}

// killTask handles KILL_TASK.
func (s *state) killTask(fwID, taskID string, policy *mesos.KillPolicy) {
	t := s.findTask(fwID, taskID)
	if t == nil {
		if s.completedTask(fwID, taskID) {
			s.a.log.Info("kill of completed task ignored", "framework_id", fwID, "task_id", taskID)
			return
		}
		st := mesos.TaskState_TASK_LOST
		if f := s.frameworks[fwID]; f != nil && f.partitionAware() {
			st = mesos.TaskState_TASK_DROPPED
		}
		s.a.log.Warn("kill of unknown task", "framework_id", fwID, "task_id", taskID)
		s.statusUpdate(fwID, s.newAgentUpdate(taskID, "", st, mesos.TaskStatus_REASON_TASK_UNKNOWN,
			"Cannot find task "+taskID+" on this agent"))
		return
	}
	if mesos.IsTerminal(t.state) {
		return
	}
	e := t.ex
	s.a.log.Info("killing task", "framework_id", fwID, "task_id", taskID, "executor_id", e.id)
	if t.queued {
		for _, q := range s.queuedWith(t) {
			s.statusUpdate(fwID, s.newAgentUpdate(q.id(), e.id, mesos.TaskState_TASK_KILLED,
				mesos.TaskStatus_REASON_TASK_KILLED_DURING_LAUNCH, "Killed before delivery to the executor"))
			q.queued = false
		}
		if e.liveTasks() == 0 && e.state == execLaunching {
			// An executor that would start with nothing to run (killed
			// now, or its fetch abandoned if it has no process yet).
			e.state = execTerminating
			s.killProcess(e)
		}
		return
	}
	if e.supervised {
		s.supervisedKill(e, t, policy)
		return
	}
	if policy == nil {
		policy = t.info.GetKillPolicy()
	}
	if e.stream == nil {
		s.a.log.Warn("cannot deliver KILL: executor has no stream", "executor_id", e.id, "task_id", taskID)
		return
	}
	e.stream.push(&executorpb.Event{
		Type: executorpb.Event_KILL.Enum(),
		Kill: &executorpb.Event_Kill{TaskId: t.info.TaskId, KillPolicy: policy},
	})
}

// shutdownExecutor sends SHUTDOWN and kills the process group after the
// executor's shutdown grace period.
func (s *state) shutdownExecutor(e *executor) {
	if e.state >= execTerminating {
		return
	}
	s.a.log.Info("shutting down executor", "framework_id", e.fw.id, "executor_id", e.id)
	e.state = execTerminating
	if e.regTimer != nil {
		e.regTimer.Stop()
	}
	if e.supervised {
		s.supervisedShutdown(e)
		return
	}
	if e.stream == nil {
		s.killProcess(e)
		return
	}
	e.stream.push(&executorpb.Event{Type: executorpb.Event_SHUTDOWN.Enum()})
	grace := s.a.cfg.ExecutorShutdownGracePeriod
	if g := e.info.GetShutdownGracePeriod(); g != nil {
		grace = durationOf(g)
	}
	e.killTimer = s.a.afterFunc(grace, func() {
		if e.state != execTerminated {
			s.killProcess(e)
		}
	})
}

// shutdownFramework shuts down all executors of a framework. The master has
// already accounted for its tasks, so the agent sends no updates for them
// and forgets their pending updates.
func (s *state) shutdownFramework(fwID string) {
	f := s.frameworks[fwID]
	if f == nil {
		s.a.log.Warn("SHUTDOWN_FRAMEWORK for unknown framework", "framework_id", fwID)
		return
	}
	s.a.log.Info("shutting down framework", "framework_id", fwID)
	f.terminating = true
	s.updates.dropFramework(fwID)
	for _, eid := range slices.Sorted(maps.Keys(f.executors)) {
		s.shutdownExecutor(f.executors[eid])
	}
	s.maybeRemoveFramework(f)
}

// killProcess destroys the executor's process group (SIGTERM, then SIGKILL
// after ProcessKillGrace). Without a process yet it abandons the launch (a
// fetch in progress stops), and launched kills whatever did start.
func (s *state) killProcess(e *executor) {
	if e.state < execTerminating {
		e.state = execTerminating
	}
	if e.proc != nil {
		e.proc.p.Kill(s.a.cfg.ProcessKillGrace)
	} else if e.cancelLaunch != nil {
		e.cancelLaunch()
	}
}

// executorTerminated handles the exit of an executor's process (ex nil
// when it never started).
func (s *state) executorTerminated(e *executor, ex *proc.Exit) {
	if e.state == execTerminated {
		return
	}
	f := e.fw
	e.state = execTerminated
	s.events["executors_terminated"]++
	if e.launchFailed != "" {
		s.events["container_launch_errors"]++
	}
	e.stopTimers()
	if e.stream != nil {
		e.stream.close()
		e.stream = nil
	}
	desc := "Executor failed to launch: " + e.launchFailed
	if ex != nil {
		desc = "Executor terminated: " + ex.String()
		s.a.log.Info("executor exited", "framework_id", f.id, "executor_id", e.id, "status", ex.String())
	}

	// Tasks left behind.
	for _, t := range append([]*task(nil), e.tasks...) {
		if mesos.IsTerminal(t.state) {
			if f.terminating {
				s.taskCompleted(t)
			}
			continue
		}
		if f.terminating {
			t.state = mesos.TaskState_TASK_KILLED
			s.counters[t.state]++
			s.taskCompleted(t)
			continue
		}
		st, reason, msg := mesos.TaskState_TASK_FAILED, mesos.TaskStatus_REASON_EXECUTOR_TERMINATED, desc
		switch {
		case e.limitation != nil:
			st, reason, msg = mesos.TaskState_TASK_FAILED, mesos.TaskStatus_REASON_CONTAINER_LIMITATION_MEMORY, e.limitation.message
		case e.killReason != nil:
			reason, msg = *e.killReason, e.killMessage
		case e.launchFailed != "":
			reason = mesos.TaskStatus_REASON_CONTAINER_LAUNCH_FAILED
		case !e.command && f.partitionAware():
			st = mesos.TaskState_TASK_GONE
		case !e.command:
			st = mesos.TaskState_TASK_LOST
		}
		u := s.newAgentUpdate(t.id(), e.id, st, reason, msg)
		if e.limitation != nil {
			e.limitation.apply(u)
		}
		s.statusUpdate(f.id, u)
	}

	if !f.terminating {
		ee := &agentpb.Call_ExecutorExited{
			FrameworkId:     &mesos.FrameworkID{Value: proto.String(f.id)},
			ExecutorId:      e.info.ExecutorId,
			CommandExecutor: proto.Bool(e.command),
		}
		if ex != nil {
			ee.Status = proto.Int32(int32(ex.Status))
		}
		s.sendCall(&agentpb.Call{Type: agentpb.Call_EXECUTOR_EXITED.Enum(), ExecutorExited: ee})
	}

	delete(f.executors, e.id)
	s.gcExecutorEnded(e)
	f.completedExecutors = append(f.completedExecutors, e)
	if n := len(f.completedExecutors) - s.a.cfg.MaxCompletedExecutors; n > 0 {
		f.completedExecutors = f.completedExecutors[n:]
	}
	s.maybeRemoveFramework(f)
}

// messageToExecutor delivers a framework message.
func (s *state) messageToExecutor(fwID, execID string, data []byte) {
	f := s.frameworks[fwID]
	var e *executor
	if f != nil {
		e = f.executors[execID]
	}
	if e != nil && e.supervised {
		// The command executor has no use for messages.
		s.events["valid_framework_messages"]++
		s.a.log.Debug("framework message to a command task dropped", "framework_id", fwID, "executor_id", execID)
		return
	}
	if e == nil || e.stream == nil {
		s.events["invalid_framework_messages"]++
		s.a.log.Warn("framework message dropped: executor not subscribed", "framework_id", fwID, "executor_id", execID)
		return
	}
	s.events["valid_framework_messages"]++
	e.stream.push(&executorpb.Event{
		Type:    executorpb.Event_MESSAGE.Enum(),
		Message: &executorpb.Event_Message{Data: data},
	})
}

// killAllExecutors sends SHUTDOWN to every subscribed executor and kills
// the rest at once, for Run's return. It returns the containers to wait on.
func (s *state) killAllExecutors() []*executor {
	var execs []*executor
	for _, f := range s.frameworks {
		for _, e := range f.executors {
			if e.proc == nil {
				continue
			}
			execs = append(execs, e)
			if e.stream != nil {
				e.stream.push(&executorpb.Event{Type: executorpb.Event_SHUTDOWN.Enum()})
			} else {
				e.proc.p.Kill(s.a.cfg.ProcessKillGrace)
			}
		}
	}
	return execs
}

// ExecutorBinary is the name of the binary of Agora's built-in executors
// (cmd/agora-executor), which agents prefer to their own for command tasks
// and task groups: it links only the executors and so starts faster.
const ExecutorBinary = "agora-executor"

// defaultExecutorPath is the command executor program of an agent: the
// agora-executor in dir (default: beside the agent's binary), else the
// agent's own binary.
func defaultExecutorPath(dir string) string {
	self, err := os.Executable()
	if dir == "" && err == nil {
		dir = filepath.Dir(self)
	}
	if dir != "" {
		if p := filepath.Join(dir, ExecutorBinary); isExecutable(p) {
			return p
		}
	}
	if err != nil {
		return ""
	}
	return self
}

// isExecutable reports whether path is a regular file with an execute bit.
func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}
