package master

import (
	"time"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	schedpb "github.com/agora-dev/agora/api/mesos/v1/scheduler"
	"github.com/agora-dev/agora/internal/registry"
)

// The master tells a framework that is not partition-aware TASK_LOST for
// a task whose agent may still run it in two places: a reconciliation
// answer, and a task its agent did not report when it re-subscribed. Such
// a task must never be seen alive again, by this leader or any later one
// (the seed's guarantee, docs/ha.md). So each of them is recorded in the
// registry (registry.RecordLostTasks) and kept among the framework's
// completed tasks; a later leader loads the records when it learns of the
// framework (newFramework). Whatever an agent says of such a task later is
// answered by the master, which kills the task, and never relayed.

// lostAnswers collects the TASK_LOST reconciliation answers of one call:
// they are sent only once the registry has recorded them.
type lostAnswers struct {
	events []*schedpb.Event
	tasks  []*task
}

// sendLostAnswers records the collected told-lost tasks in the registry
// and then sends their answers. Until the record commits the tasks are
// "pending": an update from their agent is answered (not relayed) and a
// repeated reconciliation is not answered yet. If the registry refuses,
// the tasks are forgotten and nothing is sent: the framework asks again.
func (m *Master) sendLostAnswers(f *framework, la *lostAnswers) {
	if la == nil || len(la.tasks) == 0 {
		return
	}
	op := registry.RecordLostTasks{FrameworkID: f.id, Time: time.Now().UnixNano()}
	for _, t := range la.tasks {
		t.lostPending = true
		op.Tasks = append(op.Tasks, registry.LostTask{TaskID: t.id(), AgentID: t.agentID})
	}
	m.proposeThen(op, func(err error) {
		for _, t := range la.tasks {
			t.lostPending = false
		}
		if err != nil {
			m.log.Warn("reconciliation answers not sent: the registry did not record the lost tasks; the framework will ask again",
				"framework", f.id, "tasks", len(la.tasks), "err", err)
			f.completedTasks = deleteTasks(f.completedTasks, la.tasks)
			return
		}
		if m.frameworks[f.id] != f {
			return
		}
		for _, ev := range la.events {
			m.sendToFramework(f, ev)
		}
	})
}

// recordLost records in the registry, in the background, tasks the
// master just told the framework are lost.
func (m *Master) recordLost(fid string, tasks []registry.LostTask) {
	if len(tasks) == 0 {
		return
	}
	m.proposeAsync(registry.RecordLostTasks{FrameworkID: fid, Tasks: tasks, Time: time.Now().UnixNano()})
}

// loadLost gives a framework this leader learns of the told-lost tasks an
// earlier leader recorded.
func (m *Master) loadLost(f *framework) {
	for _, lt := range m.reg.FSM().LostTasks(f.id) {
		m.rememberLost(f, &mesos.TaskID{Value: &lt.TaskID}, lt.AgentID)
	}
}

func deleteTasks(list []*task, drop []*task) []*task {
	gone := make(map[*task]bool, len(drop))
	for _, t := range drop {
		gone[t] = true
	}
	out := list[:0]
	for _, t := range list {
		if !gone[t] {
			out = append(out, t)
		}
	}
	return out
}
