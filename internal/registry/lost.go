package registry

import (
	"fmt"
	"slices"
)

// MaxLostTasksPerFramework bounds the told-lost tasks remembered for one
// framework, and MaxLostTasks those of all frameworks; the oldest are
// forgotten first (a whole framework's list at a time for MaxLostTasks).
const (
	MaxLostTasksPerFramework = 1000
	MaxLostTasks             = 100000
)

// LostTask is a task a leader told its framework was TASK_LOST while the
// task's agent might still run it (a reconciliation answer, or a task the
// agent did not report when it re-subscribed). Whatever a later leader
// hears of it from an agent is answered, never relayed: a task never
// comes back from TASK_LOST.
type LostTask struct {
	TaskID  string `json:"task_id"`
	AgentID string `json:"agent_id,omitempty"`
}

// LostTasks are the told-lost tasks of one framework, oldest first.
type LostTasks struct {
	FrameworkID string     `json:"framework_id"`
	Tasks       []LostTask `json:"tasks"`
}

// RecordLostTasks records that a framework was told the tasks are lost.
// Time (Unix nanoseconds, stamped by the proposer) is informational.
type RecordLostTasks struct {
	FrameworkID string     `json:"framework_id"`
	Tasks       []LostTask `json:"tasks"`
	Time        int64      `json:"time"`
}

func (RecordLostTasks) opType() OpType { return OpRecordLostTasks }

// lostList is one framework's told-lost tasks.
type lostList struct {
	tasks []LostTask // oldest first
	index map[string]bool
}

func (f *FSM) applyRecordLostTasksLocked(op RecordLostTasks) error {
	if op.FrameworkID == "" {
		return fmt.Errorf("%w: lost tasks without a framework id", ErrBadOp)
	}
	for _, t := range op.Tasks {
		if t.TaskID == "" {
			return fmt.Errorf("%w: lost task without id (framework %s)", ErrBadOp, op.FrameworkID)
		}
	}
	if f.removedIndex[op.FrameworkID] {
		return nil // the framework is over: nothing of it can come back
	}
	l := f.lost[op.FrameworkID]
	if l == nil {
		l = &lostList{index: make(map[string]bool)}
		f.lost[op.FrameworkID] = l
		f.lostOrder = append(f.lostOrder, op.FrameworkID)
	}
	for _, t := range op.Tasks {
		if l.index[t.TaskID] {
			continue
		}
		l.tasks = append(l.tasks, t)
		l.index[t.TaskID] = true
		f.lostCount++
	}
	if n := len(l.tasks) - MaxLostTasksPerFramework; n > 0 {
		for _, t := range l.tasks[:n] {
			delete(l.index, t.TaskID)
		}
		l.tasks = slices.Delete(l.tasks, 0, n)
		f.lostCount -= n
	}
	for f.lostCount > MaxLostTasks && len(f.lostOrder) > 1 {
		f.forgetLostLocked(f.lostOrder[0])
	}
	return nil
}

// forgetLostLocked drops a framework's told-lost tasks.
func (f *FSM) forgetLostLocked(frameworkID string) {
	l := f.lost[frameworkID]
	if l == nil {
		return
	}
	f.lostCount -= len(l.tasks)
	delete(f.lost, frameworkID)
	if i := slices.Index(f.lostOrder, frameworkID); i >= 0 {
		f.lostOrder = slices.Delete(f.lostOrder, i, i+1)
	}
}

// LostTasks returns the tasks the framework was told are lost, oldest
// first (nil if none).
func (f *FSM) LostTasks(frameworkID string) []LostTask {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if l := f.lost[frameworkID]; l != nil {
		return slices.Clone(l.tasks)
	}
	return nil
}

func (f *FSM) lostStateLocked() []LostTasks {
	var out []LostTasks
	for _, fid := range f.lostOrder {
		out = append(out, LostTasks{FrameworkID: fid, Tasks: slices.Clone(f.lost[fid].tasks)})
	}
	return out
}

// restoreLostLocked rebuilds the told-lost tasks from a snapshot.
func (f *FSM) restoreLostLocked(lists []LostTasks) error {
	for _, l := range lists {
		if l.FrameworkID == "" {
			return fmt.Errorf("registry: snapshot has lost tasks without a framework id")
		}
		if f.lost[l.FrameworkID] != nil {
			return fmt.Errorf("registry: snapshot lists the lost tasks of framework %q twice", l.FrameworkID)
		}
		if f.removedIndex[l.FrameworkID] {
			return fmt.Errorf("registry: snapshot has lost tasks of removed framework %q", l.FrameworkID)
		}
		if len(l.Tasks) > MaxLostTasksPerFramework {
			return fmt.Errorf("registry: snapshot lists %d lost tasks of framework %q, more than %d",
				len(l.Tasks), l.FrameworkID, MaxLostTasksPerFramework)
		}
		if len(l.Tasks) == 0 {
			return fmt.Errorf("registry: snapshot has an empty lost-task list for framework %q", l.FrameworkID)
		}
		if err := f.applyRecordLostTasksLocked(RecordLostTasks{FrameworkID: l.FrameworkID, Tasks: l.Tasks}); err != nil {
			return fmt.Errorf("registry: snapshot: %w", err)
		}
		if got := len(f.lost[l.FrameworkID].tasks); got != len(l.Tasks) {
			return fmt.Errorf("registry: snapshot lists a lost task of framework %q twice", l.FrameworkID)
		}
	}
	return nil
}
