package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"google.golang.org/protobuf/proto"
)

// Checkpointing: what an agent restarted on the same work_dir needs to
// recover the executors of checkpointing frameworks (FrameworkInfo.checkpoint)
// that survived it. One file, <work_dir>/meta/agent.json, rewritten
// atomically (write, fsync, rename) whenever its content changes: after
// every run of the loop, and before an executor's status update is
// acknowledged to the executor. It holds the agent id, and for every
// checkpointing framework its FrameworkInfo, its executors (ExecutorInfo,
// kind, container id, sandbox, pid) with their tasks (TaskInfo, latest
// state, statuses) and the status updates the master has not acknowledged.
// Messages are stored as protobuf bytes (base64 in the JSON).

const checkpointPath = "meta/agent.json"

type cpState struct {
	AgentID    string        `json:"agent_id,omitempty"`
	Frameworks []cpFramework `json:"frameworks,omitempty"`
	Updates    []cpStream    `json:"updates,omitempty"`
}

type cpFramework struct {
	Info      []byte       `json:"info"`
	Executors []cpExecutor `json:"executors,omitempty"`
}

type cpExecutor struct {
	Info        []byte `json:"info"`
	Command     bool   `json:"command,omitempty"`
	Default     bool   `json:"default,omitempty"`
	ContainerID string `json:"container_id"`
	Directory   string `json:"directory"`
	Pid         int    `json:"pid,omitempty"`
	// Supervised: a command task the agent runs itself; TaskPid is its
	// command's pid (supervised.go).
	Supervised bool     `json:"supervised,omitempty"`
	TaskPid    int      `json:"task_pid,omitempty"`
	Killing    bool     `json:"killing,omitempty"` // the agent was killing it
	Tasks      []cpTask `json:"tasks,omitempty"`
}

type cpTask struct {
	Info     []byte   `json:"info"`
	Group    []byte   `json:"group,omitempty"`
	State    int32    `json:"state"`
	Statuses [][]byte `json:"statuses,omitempty"`
	Queued   bool     `json:"queued,omitempty"`
}

// cpCache keeps a task's checkpoint entry encoded, with what it was
// encoded from: the checkpoint is built after every loop run and before
// each status update of a checkpointing framework is acknowledged, and
// encoding every task each time made that cost grow with the tasks (6 ms
// for 1,000 tasks, BenchmarkCheckpoint). A task's TaskInfo and group are
// set once and its statuses only appended to, so this key tells when the
// entry must be encoded again.
type cpCache struct {
	info     *mesos.TaskInfo
	group    *mesos.TaskGroupInfo
	state    mesos.TaskState
	statuses int
	queued   bool
	raw      []byte
}

// cpTask is t's entry in the checkpoint.
func (t *task) cpTask() cpTask {
	ct := cpTask{Info: mustMarshal(t.info), State: int32(t.state), Queued: t.queued}
	if t.group != nil {
		ct.Group = mustMarshal(t.group)
	}
	for _, st := range t.statuses {
		ct.Statuses = append(ct.Statuses, mustMarshal(st))
	}
	return ct
}

// checkpointEntry is t's entry in the checkpoint encoded, from its cache
// when t has not changed since it was encoded.
func (t *task) checkpointEntry() ([]byte, error) {
	c := &t.cp
	if c.raw != nil && c.info == t.info && c.group == t.group && c.state == t.state &&
		c.statuses == len(t.statuses) && c.queued == t.queued {
		return c.raw, nil
	}
	raw, err := json.Marshal(t.cpTask())
	if err != nil {
		return nil, err
	}
	*c = cpCache{info: t.info, group: t.group, state: t.state, statuses: len(t.statuses), queued: t.queued, raw: raw}
	return raw, nil
}

type cpStream struct {
	Framework string   `json:"framework"`
	Task      string   `json:"task"`
	Latest    int32    `json:"latest"`
	Pending   [][]byte `json:"pending"`
}

func mustMarshal(m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("agent checkpoint: %v", err)) // only for messages the agent built or accepted
	}
	return b
}

// cpExecutor is e's entry in the checkpoint, without its tasks.
func (e *executor) cpExecutor() cpExecutor {
	ce := cpExecutor{Info: mustMarshal(e.info), Command: e.command, Default: e.defaultExec,
		ContainerID: e.containerID, Directory: e.directory, Supervised: e.supervised, TaskPid: e.taskPid, Killing: e.killRequested}
	if e.proc != nil {
		ce.Pid = e.proc.p.Pid()
	}
	return ce
}

// checkpointUpdates are the pending status updates of the checkpointing
// frameworks, in the checkpoint's order.
func (s *state) checkpointUpdates(checkpointing map[string]bool) []cpStream {
	var out []cpStream
	for _, us := range s.updates.sortedStreams(func(us *updateStream) bool {
		return checkpointing[us.key.framework] && len(us.pending) > 0
	}) {
		cs := cpStream{Framework: us.key.framework, Task: us.key.task, Latest: int32(us.latest)}
		for _, st := range us.pending {
			cs.Pending = append(cs.Pending, mustMarshal(st))
		}
		out = append(out, cs)
	}
	return out
}

// checkpoint writes the checkpoint when it changed since the last write.
// A failed write is logged; the agent goes on (as Mesos would not: it
// aborts), and the next change retries.
func (s *state) checkpoint() {
	b, err := s.encodeCheckpoint()
	if err != nil {
		s.a.log.Error("building the checkpoint failed", "err", err)
		return
	}
	if bytes.Equal(b, s.lastCheckpoint) {
		return
	}
	if err := writeFileAtomic(filepath.Join(s.a.cfg.WorkDir, checkpointPath), b); err != nil {
		s.a.log.Error("writing the checkpoint failed", "err", err)
		return
	}
	s.lastCheckpoint = b
}

// writeFileAtomic replaces path with data: a reader sees the old or the
// new content, never a mix, even across a crash.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".agent-*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		_ = os.Remove(tmp)
		return werr
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// encodeCheckpoint is the checkpoint of the current state in JSON: what
// json.Marshal makes of checkpointState (readCheckpoint's format),
// assembled from entries encoded once per framework, executor and task and
// encoded again only when they change. Only the pending updates are
// encoded each time.
func (s *state) encodeCheckpoint() ([]byte, error) {
	b := make([]byte, 0, len(s.lastCheckpoint)+256)
	id, _ := json.Marshal(s.agentID)
	b = append(append(b, `{"agent_id":`...), id...)
	noFrameworks := len(b)
	b = append(b, `,"frameworks":[`...)
	checkpointing := map[string]bool{}
	for _, fid := range slices.Sorted(maps.Keys(s.frameworks)) {
		f := s.frameworks[fid]
		if !f.info.GetCheckpoint() {
			continue
		}
		if len(checkpointing) > 0 {
			b = append(b, ',')
		}
		checkpointing[fid] = true
		if f.cpOf != f.info {
			info, err := json.Marshal(mustMarshal(f.info))
			if err != nil {
				return nil, err
			}
			f.cpOf, f.cpInfo = f.info, info
		}
		b = append(append(append(b, `{"info":`...), f.cpInfo...), `,"executors":[`...)
		n := 0
		for _, eid := range slices.Sorted(maps.Keys(f.executors)) {
			e := f.executors[eid]
			if e.state == execTerminated {
				continue
			}
			if n > 0 {
				b = append(b, ',')
			}
			n++
			head, err := e.checkpointHead()
			if err != nil {
				return nil, err
			}
			b = append(append(b, head[:len(head)-1]...), `,"tasks":[`...)
			for i, t := range e.tasks {
				if i > 0 {
					b = append(b, ',')
				}
				raw, err := t.checkpointEntry()
				if err != nil {
					return nil, err
				}
				b = append(b, raw...)
			}
			b = append(b, "]}"...)
		}
		b = append(b, "]}"...)
	}
	updates := s.checkpointUpdates(checkpointing)
	if len(checkpointing) == 0 {
		b = b[:noFrameworks] // as json.Marshal leaves out an empty list
	} else {
		b = append(b, ']')
	}
	if len(updates) > 0 {
		ups, err := json.Marshal(updates)
		if err != nil {
			return nil, err
		}
		b = append(append(b, `,"updates":`...), ups...)
	}
	return append(b, '}'), nil
}

// checkpointHead is the executor's checkpoint entry without its tasks,
// encoded when its fields changed since the last time.
func (e *executor) checkpointHead() ([]byte, error) {
	pid := 0
	if e.proc != nil {
		pid = e.proc.p.Pid()
	}
	c := &e.cp
	if c.raw != nil && c.info == e.info && c.pid == pid && c.taskPid == e.taskPid && c.killing == e.killRequested && c.containerID == e.containerID && c.directory == e.directory {
		return c.raw, nil
	}
	raw, err := json.Marshal(e.cpExecutor())
	if err != nil {
		return nil, err
	}
	*c = execCPCache{info: e.info, pid: pid, taskPid: e.taskPid, killing: e.killRequested, containerID: e.containerID, directory: e.directory, raw: raw}
	return raw, nil
}

// execCPCache is an executor's checkpoint entry (without tasks), encoded,
// with what it was encoded from.
type execCPCache struct {
	info                   *mesos.ExecutorInfo
	pid, taskPid           int
	killing                bool
	containerID, directory string
	raw                    []byte
}

// readCheckpoint loads the checkpoint of a previous run; nil when there is
// none.
func readCheckpoint(workDir string) (*cpState, error) {
	b, err := os.ReadFile(filepath.Join(workDir, checkpointPath))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	cp := &cpState{}
	if err := json.Unmarshal(b, cp); err != nil {
		return nil, fmt.Errorf("agent: checkpoint %s: %w", checkpointPath, err)
	}
	return cp, nil
}

func unmarshalInto[M proto.Message](b []byte, m M) (M, error) {
	return m, proto.Unmarshal(b, m)
}

// sortedStreams lists the update streams that keep says to, by framework
// and task (filtered first: the checkpoint runs after every loop run, and
// most streams are usually of frameworks that do not checkpoint).
func (m *updateManager) sortedStreams(keep func(*updateStream) bool) []*updateStream {
	var out []*updateStream
	for _, us := range m.streams {
		if keep(us) {
			out = append(out, us)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].key, out[j].key
		return a.framework < b.framework || (a.framework == b.framework && a.task < b.task)
	})
	return out
}
