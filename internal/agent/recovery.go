package agent

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/internal/proc"
)

// Recovery after an agent restart on the same work_dir (Mesos's agent
// recovery, for checkpointing frameworks only):
//
//  1. the agent id of the checkpoint is reused, so the master sees the
//     agent re-subscribe;
//  2. every checkpointed executor whose process is still alive (kill(pid,
//     0), and /proc/<pid>/environ has its MESOS_CONTAINER_ID) is adopted:
//     reported to the master with its live tasks, watched, and given
//     ExecutorReregistrationTimeout to SUBSCRIBE again (the executor
//     resends its unacknowledged tasks and updates); one that does not is
//     killed (REASON_EXECUTOR_REREGISTRATION_TIMEOUT);
//  3. the live tasks of an executor that is gone become TASK_LOST
//     (TASK_GONE for partition-aware frameworks), REASON_EXECUTOR_TERMINATED;
//  4. the status updates the master had not acknowledged are resent.
//
// Executors of frameworks that do not checkpoint are not recovered. A
// graceful stop (Run's context ending, e.g. SIGTERM) still shuts every
// executor down; only an agent that dies (SIGKILL, crash, power loss)
// leaves executors to recover.

// processHandle is an executor process: a child started by this agent
// (*proc.Process) or one adopted from a previous run.
type processHandle interface {
	Pid() int
	Done() <-chan struct{}
	Kill(grace time.Duration)
}

// recoverState restores the checkpoint before the loop starts. It returns
// the adopted executors, for startRecovered.
func (s *state) recoverState() ([]*executor, error) {
	cp, err := readCheckpoint(s.a.cfg.WorkDir)
	if err != nil || cp == nil {
		return nil, err
	}
	s.agentID = cp.AgentID
	s.lastCheckpoint = nil
	var adopted, gone []*executor
	groups := map[string]*mesos.TaskGroupInfo{}
	for _, cf := range cp.Frameworks {
		fi, err := unmarshalInto(cf.Info, &mesos.FrameworkInfo{})
		if err != nil || fi.GetId().GetValue() == "" {
			return nil, fmt.Errorf("agent: checkpointed framework: %v", err)
		}
		f := &framework{id: fi.GetId().GetValue(), info: fi, executors: make(map[string]*executor)}
		s.frameworks[f.id] = f
		for _, ce := range cf.Executors {
			ei, err := unmarshalInto(ce.Info, &mesos.ExecutorInfo{})
			if err != nil {
				return nil, fmt.Errorf("agent: checkpointed executor: %w", err)
			}
			if err := s.checkCheckpointedExecutor(ei, ce); err != nil {
				return nil, fmt.Errorf("agent: checkpoint %s: %w; move the work_dir aside to start afresh", checkpointPath, err)
			}
			e := &executor{fw: f, id: ei.GetExecutorId().GetValue(), info: ei, command: ce.Command,
				defaultExec: ce.Default, containerID: ce.ContainerID, directory: ce.Directory, state: execLaunching,
				// The user it runs as follows from what was checkpointed
				// (nested sessions run as it after the restart too).
				runAs:      s.runAsUser(ei, fi.GetUser()),
				supervised: ce.Supervised, taskPid: ce.TaskPid, killRequested: ce.Killing}
			for _, ct := range ce.Tasks {
				ti, err := unmarshalInto(ct.Info, &mesos.TaskInfo{})
				if err != nil {
					return nil, fmt.Errorf("agent: checkpointed task: %w", err)
				}
				t := &task{ex: e, info: ti, state: mesos.TaskState(ct.State), queued: ct.Queued}
				if ct.Group != nil {
					g := groups[string(ct.Group)]
					if g == nil {
						if g, err = unmarshalInto(ct.Group, &mesos.TaskGroupInfo{}); err != nil {
							return nil, fmt.Errorf("agent: checkpointed task group: %w", err)
						}
						groups[string(ct.Group)] = g
					}
					t.group = g
				}
				for _, b := range ct.Statuses {
					st, err := unmarshalInto(b, &mesos.TaskStatus{})
					if err != nil {
						return nil, fmt.Errorf("agent: checkpointed status: %w", err)
					}
					t.statuses = append(t.statuses, st)
				}
				e.tasks = append(e.tasks, t)
			}
			f.executors[e.id] = e
			if ce.Pid > 0 && containerProcess(ce.Pid, ce.ContainerID) {
				var p processHandle = adoptProcess(ce.Pid, s.a.done)
				if e.supervised {
					p = &supervisedProc{processHandle: p, taskPid: ce.TaskPid}
				}
				e.proc = &runningProc{p: p}
				adopted = append(adopted, e)
			} else {
				gone = append(gone, e)
			}
		}
	}
	for _, cs := range cp.Updates {
		us := &updateStream{key: streamKey{cs.Framework, cs.Task}, seen: make(map[string]bool),
			latest: mesos.TaskState(cs.Latest), interval: s.a.cfg.StatusUpdateRetry}
		for _, b := range cs.Pending {
			st, err := unmarshalInto(b, &mesos.TaskStatus{})
			if err != nil {
				return nil, fmt.Errorf("agent: checkpointed update: %w", err)
			}
			us.pending = append(us.pending, st)
			us.seen[string(st.GetUuid())] = true
		}
		s.updates.streams[us.key] = us
	}
	// Updates accepted before the restart are duplicates if an executor
	// resends them.
	for _, f := range s.frameworks {
		for _, e := range f.executors {
			for _, t := range e.tasks {
				key := streamKey{f.id, t.id()}
				us := s.updates.streams[key]
				if us == nil {
					us = &updateStream{key: key, seen: make(map[string]bool), latest: t.state}
					s.updates.streams[key] = us
				}
				for _, st := range t.statuses {
					us.seen[string(st.GetUuid())] = true
				}
			}
		}
	}
	s.a.log.Info("recovered from checkpoint", "agent_id", s.agentID, "frameworks", len(cp.Frameworks),
		"executors_alive", len(adopted), "executors_gone", len(gone))
	for _, e := range gone {
		s.executorGoneAtRecovery(e)
	}
	for _, f := range s.frameworks {
		s.maybeRemoveFramework(f)
	}
	return adopted, nil
}

// checkCheckpointedExecutor refuses an executor whose id or container id is
// empty or whose sandbox is not a directory below this agent's work_dir:
// recovery kills what it finds in the container and the sandbox (and
// removes the container), so a corrupt or hand-edited checkpoint must not
// point them elsewhere.
func (s *state) checkCheckpointedExecutor(ei *mesos.ExecutorInfo, ce cpExecutor) error {
	id := ei.GetExecutorId().GetValue()
	if id == "" {
		return errors.New("checkpointed executor without an id")
	}
	if ce.ContainerID == "" || strings.ContainsAny(ce.ContainerID, "/\x00") || ce.ContainerID == "." || ce.ContainerID == ".." {
		return fmt.Errorf("executor %q has container id %q", id, ce.ContainerID)
	}
	slaves := filepath.Join(s.a.cfg.WorkDir, "slaves") + string(filepath.Separator)
	if filepath.Clean(ce.Directory) != ce.Directory || !strings.HasPrefix(ce.Directory, slaves) {
		return fmt.Errorf("executor %q has sandbox %q, not below %s", id, ce.Directory, slaves)
	}
	return nil
}

// executorGoneAtRecovery ends an executor that did not survive the restart.
func (s *state) executorGoneAtRecovery(e *executor) {
	s.a.log.Warn("checkpointed executor is gone", "framework_id", e.fw.id, "executor_id", e.id,
		"container_id", e.containerID)
	if e.supervised {
		// Its supervisor recorded how the command ended.
		rec := readExitRecord(s.a.exitRecordPath(e.containerID))
		for _, t := range e.tasks {
			if mesos.IsTerminal(t.state) || t.queued {
				continue
			}
			if st, msg, ok := supervisedEnd(rec, e.killRequested, nil); ok && rec.Written {
				s.supervisedUpdate(e, t, st, msg, nil)
			}
		}
		_ = os.Remove(s.a.exitRecordPath(e.containerID))
	}
	st := mesos.TaskState_TASK_LOST
	if e.fw.partitionAware() {
		st = mesos.TaskState_TASK_GONE
	}
	for _, t := range append([]*task(nil), e.tasks...) {
		if !mesos.IsTerminal(t.state) {
			s.statusUpdate(e.fw.id, s.newAgentUpdate(t.id(), e.id, st, mesos.TaskStatus_REASON_EXECUTOR_TERMINATED,
				"Executor was not running when the agent recovered after a restart"))
		}
	}
	// With cgroups, what the executor left running (its tasks are in
	// process groups of their own) dies with its container.
	if c := s.a.iso.Recover(e.containerID); c != nil {
		s.a.destroyContainer(c, e.containerID, e.directory)
	}
	e.launchFailed = "not running when the agent recovered"
	s.executorTerminated(e, nil)
}

// startRecovered watches the adopted executors and arms their
// re-registration timeouts; on the loop.
func (s *state) startRecovered(execs []*executor) {
	for _, e := range execs {
		p := e.proc.p
		cid, dir := e.containerID, e.directory
		c := s.a.iso.Recover(cid)
		e.container = c
		if e.supervised {
			// The agent is its command executor again at once.
			e.state, e.subscribed = execRunning, true
			s.a.log.Info("supervisor adopted", "framework_id", e.fw.id, "executor_id", e.id, "pid", p.Pid(),
				"task_pid", e.taskPid)
			go func() {
				<-p.Done()
				rec := readExitRecord(s.a.exitRecordPath(cid))
				s.a.destroyContainer(c, cid, dir)
				ex := proc.Exit{Code: -1, Err: errors.New("supervisor exited; its status is unknown after the agent restarted")}
				s.a.post(func() { s.supervisedExited(e, &ex, rec) })
			}()
			continue
		}
		go func() {
			<-p.Done()
			s.a.destroyContainer(c, cid, dir)
			ex := proc.Exit{Code: -1, Err: errors.New("executor exited; its status is unknown after the agent restarted")}
			s.a.post(func() { s.executorTerminated(e, &ex) })
		}()
		timeout := s.a.cfg.ExecutorReregistrationTimeout
		e.regTimer = s.a.afterFunc(timeout, func() {
			if e.state != execLaunching {
				return
			}
			s.a.log.Warn("recovered executor did not re-subscribe in time; killing it", "framework_id", e.fw.id,
				"executor_id", e.id, "timeout", timeout)
			r := mesos.TaskStatus_REASON_EXECUTOR_REREGISTRATION_TIMEOUT
			e.killReason = &r
			e.killMessage = fmt.Sprintf("Executor did not re-register within %s after the agent restarted", formatDuration(timeout))
			s.killProcess(e)
		})
	}
}

// containerProcess reports whether pid is a live process of the container.
func containerProcess(pid int, containerID string) bool {
	if !pidAlive(pid) {
		return false
	}
	env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return false
	}
	want := []byte("MESOS_CONTAINER_ID=" + containerID)
	for _, kv := range bytes.Split(env, []byte{0}) {
		if bytes.Equal(kv, want) {
			return true
		}
	}
	return false
}

// pidAlive reports whether pid exists and is not a zombie.
func pidAlive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 {
		if f := strings.Fields(string(stat[i+1:])); len(f) > 0 && f[0] == "Z" {
			return false
		}
	}
	return true
}

// adoptedProc is an executor process started by a previous run of the
// agent: not our child, so it is watched by polling (every 100ms) and
// killed through its process group (executors lead their own group).
type adoptedProc struct {
	pid  int
	done chan struct{}
}

func adoptProcess(pid int, stop <-chan struct{}) *adoptedProc {
	p := &adoptedProc{pid: pid, done: make(chan struct{})}
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for pidAlive(pid) {
			select {
			case <-t.C:
			case <-stop:
				return
			}
		}
		close(p.done)
	}()
	return p
}

func (p *adoptedProc) Pid() int              { return p.pid }
func (p *adoptedProc) Done() <-chan struct{} { return p.done }

// Kill sends SIGTERM to the process group, and SIGKILL after grace.
func (p *adoptedProc) Kill(grace time.Duration) {
	_ = syscall.Kill(-p.pid, syscall.SIGTERM)
	go func() {
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-p.done:
		case <-t.C:
			_ = syscall.Kill(-p.pid, syscall.SIGKILL)
		}
	}()
}
