package agent

import (
	"context"
	"time"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/internal/isolation"
)

// state is everything the loop goroutine owns.
type state struct {
	a *Agent

	agentID    string // empty until the first SUBSCRIBED
	registered bool   // a subscription to the master is live
	streamID   string // Agora-Stream-Id of the live subscription
	masterHost string
	// shuttingDown is set when Run is returning: no new executors.
	shuttingDown bool
	// lastCheckpoint is the content of the last checkpoint written.
	lastCheckpoint []byte

	frameworks          map[string]*framework
	completedFrameworks []*framework
	updates             *updateManager

	// Cumulative counters for /metrics/snapshot.
	counters map[mesos.TaskState]int
	// events counts slave/<name> events for /metrics/snapshot.
	events map[string]int

	// Sandbox garbage collection (gc.go).
	gc  *gcScheduler
	gcs gcStats
}

func newState(a *Agent) *state {
	s := &state{
		a:          a,
		frameworks: make(map[string]*framework),
		counters:   make(map[mesos.TaskState]int),
		events:     make(map[string]int),
		gc:         newGCScheduler(),
		gcs:        gcStats{again: -1},
	}
	s.updates = newUpdateManager(s)
	return s
}

// framework is a framework with executors on this agent.
type framework struct {
	id                 string
	info               *mesos.FrameworkInfo
	executors          map[string]*executor
	completedExecutors []*executor
	terminating        bool // SHUTDOWN_FRAMEWORK received
	// cpInfo is info encoded for the checkpoint, cpOf the info it was
	// encoded from (checkpoint.go).
	cpOf   *mesos.FrameworkInfo
	cpInfo []byte
}

func (f *framework) partitionAware() bool {
	for _, c := range f.info.GetCapabilities() {
		if c.GetType() == mesos.FrameworkInfo_Capability_PARTITION_AWARE {
			return true
		}
	}
	return false
}

type executorState int

const (
	execLaunching   executorState = iota // process starting or started, not subscribed
	execRunning                          // subscribed at least once
	execTerminating                      // SHUTDOWN sent or kill under way
	execTerminated                       // process gone
)

func (s executorState) String() string {
	return [...]string{"launching", "running", "terminating", "terminated"}[s]
}

// executor is one executor run (one container).
type executor struct {
	fw          *framework
	id          string
	info        *mesos.ExecutorInfo
	command     bool // built-in command executor
	defaultExec bool // built-in default executor (task groups)
	// supervised: a command task the agent runs itself, its process a
	// supervisor (supervised.go); taskPid is its command's pid (and
	// process group), killRequested that the agent is killing it.
	supervised    bool
	taskPid       int
	killRequested bool
	containerID   string
	directory     string
	runAs         string // user with --switch_user; "" = the agent's
	state         executorState
	subscribed    bool // has subscribed at least once

	proc *runningProc // nil until started
	// cp is the executor's checkpoint entry, encoded (checkpoint.go).
	cp execCPCache
	// container is the executor run's isolation; nil until started.
	container isolation.Container
	// limitation is set when the container exceeded its memory.
	limitation *memoryLimitation
	stream     *execStream // current SUBSCRIBE stream, nil when none

	tasks     []*task // queued, launched and terminal-but-unacknowledged
	completed []*task

	// Why the agent is ending the executor, which decides the state and
	// reason of tasks left when it exits.
	killReason   *mesos.TaskStatus_Reason
	killMessage  string
	regTimer     *time.Timer
	killTimer    *time.Timer
	launchFailed string // set when the container could not be started
	// cancelLaunch abandons the launch in flight (the fetch, mostly) when
	// the executor is killed before its process exists.
	cancelLaunch context.CancelFunc
}

// runningProc is a started executor process.
type runningProc struct {
	p processHandle
}

// task is a task the agent knows.
type task struct {
	ex       *executor
	info     *mesos.TaskInfo
	state    mesos.TaskState // latest state accepted
	statuses []*mesos.TaskStatus
	queued   bool // not yet delivered to the executor
	// group is the task group the task came in, delivered together as
	// LAUNCH_GROUP; nil for a single task.
	group *mesos.TaskGroupInfo
	// cp is the task's checkpoint entry, encoded (checkpoint.go).
	cp cpCache
}

func (t *task) id() string { return t.info.GetTaskId().GetValue() }

// resources of a task or executor, excluding terminal tasks.
func (e *executor) liveResources() []*mesos.Resource {
	res := append([]*mesos.Resource(nil), e.info.GetResources()...)
	for _, t := range e.tasks {
		if !mesos.IsTerminal(t.state) {
			res = append(res, t.info.GetResources()...)
		}
	}
	return res
}

func (e *executor) liveTasks() int {
	n := 0
	for _, t := range e.tasks {
		if !mesos.IsTerminal(t.state) {
			n++
		}
	}
	return n
}

// findTask returns the live (not completed) task of a framework.
func (s *state) findTask(fwID, taskID string) *task {
	f := s.frameworks[fwID]
	if f == nil {
		return nil
	}
	for _, e := range f.executors {
		for _, t := range e.tasks {
			if t.id() == taskID {
				return t
			}
		}
	}
	for _, e := range f.completedExecutors {
		for _, t := range e.tasks {
			if t.id() == taskID {
				return t
			}
		}
	}
	return nil
}

// completedTask reports whether the framework's task is already completed.
func (s *state) completedTask(fwID, taskID string) bool {
	f := s.frameworks[fwID]
	if f == nil {
		return false
	}
	check := func(e *executor) bool {
		for _, t := range e.completed {
			if t.id() == taskID {
				return true
			}
		}
		return false
	}
	for _, e := range f.executors {
		if check(e) {
			return true
		}
	}
	for _, e := range f.completedExecutors {
		if check(e) {
			return true
		}
	}
	return false
}

// taskCompleted moves a terminal task whose last update was acknowledged
// to its executor's completed tasks.
func (s *state) taskCompleted(t *task) {
	e := t.ex
	for i, x := range e.tasks {
		if x == t {
			e.tasks = append(e.tasks[:i], e.tasks[i+1:]...)
			break
		}
	}
	e.completed = append(e.completed, t)
	if n := len(e.completed) - s.a.cfg.MaxCompletedTasks; n > 0 {
		e.completed = e.completed[n:]
	}
	s.maybeRemoveFramework(e.fw)
}

// maybeRemoveFramework moves a framework with no executors and no pending
// status updates to the completed frameworks.
func (s *state) maybeRemoveFramework(f *framework) {
	if len(f.executors) > 0 || s.updates.pendingFor(f.id) {
		return
	}
	for _, e := range f.completedExecutors {
		if len(e.tasks) > 0 {
			return
		}
	}
	if s.frameworks[f.id] != f {
		return
	}
	delete(s.frameworks, f.id)
	if s.agentID != "" {
		s.gcSchedule(s.a.frameworkDir(s.agentID, f.id), time.Now())
	}
	s.completedFrameworks = append(s.completedFrameworks, f)
	if n := len(s.completedFrameworks) - s.a.cfg.MaxCompletedFrameworks; n > 0 {
		s.completedFrameworks = s.completedFrameworks[n:]
	}
	s.a.log.Info("framework removed", "framework_id", f.id)
}

func (s *state) stopTimers() {
	s.updates.stopTimers()
	if s.gcs.timer != nil {
		s.gcs.timer.Stop()
	}
	for _, f := range s.frameworks {
		for _, e := range f.executors {
			e.stopTimers()
		}
	}
}

func (e *executor) stopTimers() {
	if e.regTimer != nil {
		e.regTimer.Stop()
	}
	if e.killTimer != nil {
		e.killTimer.Stop()
	}
}
