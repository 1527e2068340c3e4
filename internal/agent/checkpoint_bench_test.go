package agent

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"google.golang.org/protobuf/proto"
)

// checkpointingState is an agent state with n running command tasks of one
// checkpointing framework, each with its STARTING and RUNNING statuses.
func checkpointingState(n int) *state {
	s := &state{agentID: "A-S0", frameworks: map[string]*framework{}}
	s.updates = newUpdateManager(s)
	f := &framework{id: "F", info: &mesos.FrameworkInfo{Id: &mesos.FrameworkID{Value: proto.String("F")},
		User: proto.String("u"), Name: proto.String("f"), Checkpoint: proto.Bool(true)}, executors: map[string]*executor{}}
	s.frameworks["F"] = f
	res := []*mesos.Resource{{Name: proto.String("cpus"), Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(0.1)}},
		{Name: proto.String("mem"), Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(32)}}}
	for i := range n {
		id := fmt.Sprintf("task-%d", i)
		ti := &mesos.TaskInfo{Name: proto.String(id), TaskId: &mesos.TaskID{Value: proto.String(id)},
			AgentId: &mesos.AgentID{Value: proto.String("A-S0")}, Resources: res, Command: &mesos.CommandInfo{Value: proto.String("sleep 1000")}}
		e := &executor{fw: f, id: id, info: &mesos.ExecutorInfo{ExecutorId: &mesos.ExecutorID{Value: proto.String(id)}, Resources: res},
			command: true, containerID: fmt.Sprintf("c-%d", i), directory: "/var/lib/agora/slaves/A-S0/frameworks/F/executors/" + id + "/runs/c", state: execRunning}
		t := &task{ex: e, info: ti, state: mesos.TaskState_TASK_RUNNING}
		for _, st := range []mesos.TaskState{mesos.TaskState_TASK_STARTING, mesos.TaskState_TASK_RUNNING} {
			t.statuses = append(t.statuses, &mesos.TaskStatus{TaskId: ti.TaskId, State: st.Enum(), Uuid: make([]byte, 16), Timestamp: proto.Float64(1.7e9)})
		}
		e.tasks = []*task{t}
		f.executors[id] = e
	}
	return s
}

// BenchmarkCheckpoint is what an agent pays to build its checkpoint (not
// to write it) after every loop run and before acknowledging each status
// update of a checkpointing framework.
func BenchmarkCheckpoint(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("tasks=%d", n), func(b *testing.B) {
			s := checkpointingState(n)
			var size int
			for range b.N {
				buf, err := s.encodeCheckpoint()
				if err != nil {
					b.Fatal(err)
				}
				size = len(buf)
			}
			b.ReportMetric(float64(size)/1e3, "kB")
		})
	}
}

// TestEncodeCheckpoint: the checkpoint assembled from cached entries reads
// back as what checkpointState builds, also after tasks change (a new
// status, a new state) and executors start (a pid) between two encodings.
func TestEncodeCheckpoint(t *testing.T) {
	s := checkpointingState(5)
	s.frameworks["other"] = &framework{id: "other", info: &mesos.FrameworkInfo{Name: proto.String("no checkpoint")}, executors: map[string]*executor{}}
	check := func(when string) {
		t.Helper()
		fast, err := s.encodeCheckpoint()
		if err != nil {
			t.Fatal(err)
		}
		ref, err := json.Marshal(s.checkpointState())
		if err != nil {
			t.Fatal(err)
		}
		var a, b cpState
		if err := json.Unmarshal(fast, &a); err != nil {
			t.Fatalf("%s: %v in %s", when, err, fast)
		}
		if err := json.Unmarshal(ref, &b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("%s: encoded checkpoint\n%s\nreads back differently from\n%s", when, fast, ref)
		}
	}
	check("first")
	k := streamKey{"F", "task-0"}
	s.updates.streams[k] = &updateStream{key: k, latest: mesos.TaskState_TASK_RUNNING,
		pending: []*mesos.TaskStatus{{TaskId: &mesos.TaskID{Value: proto.String("task-0")}, State: mesos.TaskState_TASK_RUNNING.Enum()}}}
	k2 := streamKey{"other", "x"} // not checkpointed
	s.updates.streams[k2] = &updateStream{key: k2, pending: []*mesos.TaskStatus{{TaskId: &mesos.TaskID{Value: proto.String("x")}}}}
	check("with a pending update")
	check("cached")
	tk := s.frameworks["F"].executors["task-3"].tasks[0]
	tk.state = mesos.TaskState_TASK_FINISHED
	tk.statuses = append(tk.statuses, &mesos.TaskStatus{TaskId: tk.info.TaskId, State: mesos.TaskState_TASK_FINISHED.Enum(), Uuid: make([]byte, 16)})
	s.frameworks["F"].executors["task-1"].state = execTerminated
	s.frameworks["F"].executors["task-2"].containerID = "c-new"
	check("after changes")
	delete(s.frameworks, "F")
	check("no checkpointing framework")
}

// checkpointState is the checkpoint of the current state as the struct
// readCheckpoint reads, built afresh (nothing cached): json.Marshal of it
// is what encodeCheckpoint must write.
func (s *state) checkpointState() *cpState {
	cp := &cpState{AgentID: s.agentID}
	checkpointing := map[string]bool{}
	for _, fid := range slices.Sorted(maps.Keys(s.frameworks)) {
		f := s.frameworks[fid]
		if !f.info.GetCheckpoint() {
			continue
		}
		checkpointing[fid] = true
		cf := cpFramework{Info: mustMarshal(f.info)}
		for _, eid := range slices.Sorted(maps.Keys(f.executors)) {
			e := f.executors[eid]
			if e.state == execTerminated {
				continue
			}
			ce := e.cpExecutor()
			for _, t := range e.tasks {
				ce.Tasks = append(ce.Tasks, t.cpTask())
			}
			cf.Executors = append(cf.Executors, ce)
		}
		cp.Frameworks = append(cp.Frameworks, cf)
	}
	cp.Updates = s.checkpointUpdates(checkpointing)
	return cp
}
