package master

import (
	"fmt"
	"io"
	"testing"
	"time"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/internal/resources"
	"google.golang.org/protobuf/proto"
)

// stateMaster is a master holding n running tasks in 10 frameworks, for
// the /master/state benchmark.
func stateMaster(b testing.TB, n int) *Master { return stateMasterAgents(b, n, 0) }

// stateMasterAgents is stateMaster with the tasks spread over agents
// (cpus:16;mem:65536, two attributes each).
func stateMasterAgents(b testing.TB, n, agents int) *Master {
	b.Helper()
	cfg := DefaultConfig()
	cfg.Port = 0
	m, err := New(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = m.ln.Close() })
	res, _ := resources.Parse("cpus:0.1;mem:32")
	now := float64(time.Now().UnixNano()) / 1e9
	for f := range 10 {
		id := fmt.Sprintf("fw-%d", f)
		fw := &framework{id: id, info: &mesos.FrameworkInfo{User: proto.String("bench"), Name: proto.String(id), Id: frameworkIDProto(id)},
			tasks: map[string]*task{}, offers: map[string]*offer{}, executors: map[string]map[string]*mesos.ExecutorInfo{}}
		for i := range n / 10 {
			tid := fmt.Sprintf("task-%d-%d", f, i)
			st := &mesos.TaskStatus{TaskId: &mesos.TaskID{Value: proto.String(tid)}, State: mesos.TaskState_TASK_RUNNING.Enum(), Timestamp: proto.Float64(now)}
			fw.tasks[tid] = &task{frameworkID: id, agentID: fmt.Sprintf("agent-%d", i%20000), role: "*", resources: res, state: mesos.TaskState_TASK_RUNNING,
				info:     &mesos.TaskInfo{Name: proto.String(tid), TaskId: &mesos.TaskID{Value: proto.String(tid)}, Command: &mesos.CommandInfo{Value: proto.String("sleep 1000")}},
				statuses: []*mesos.TaskStatus{st}, latest: st}
		}
		m.frameworks[id] = fw
	}
	total, _ := resources.Parse("cpus:16;mem:65536;disk:100000;ports:[31000-32000]")
	for i := range agents {
		id := fmt.Sprintf("agent-%d", i)
		m.agents[id] = &agent{id: id, endpoint: fmt.Sprintf("10.0.%d.%d:5051", i/250, i%250), total: total, version: "1.12.0",
			info: &mesos.AgentInfo{Hostname: proto.String(id), Attributes: []*mesos.Attribute{
				{Name: proto.String("rack"), Type: mesos.Value_TEXT.Enum(), Text: &mesos.Value_Text{Value: proto.String("r1")}}}},
			registeredTime: time.Now(), tasks: map[string]map[string]*task{}}
	}
	if agents > 0 {
		for _, f := range m.frameworks {
			for tid, t := range f.tasks {
				a := m.agents[fmt.Sprintf("agent-%d", len(tid)%agents)]
				if a.tasks[f.id] == nil {
					a.tasks[f.id] = map[string]*task{}
				}
				a.tasks[f.id][tid] = t
			}
		}
	}
	return m
}

// BenchmarkStateJSON is /master/state's encoding of 200,000 running tasks
// (without the HTTP transfer), and with them on 20,000 agents:
// go test -run '^$' -bench StateJSON ./internal/master/
func BenchmarkStateJSON(b *testing.B) {
	b.Run("tasks=200000", func(b *testing.B) { benchState(b, stateMaster(b, 200000)) })
	b.Run("agents=20000,tasks=200000", func(b *testing.B) { benchState(b, stateMasterAgents(b, 200000, 20000)) })
	b.Run("agents=20000,tasks=200000,streamed", func(b *testing.B) { benchStreamed(b, stateMasterAgents(b, 200000, 20000), false) })
	b.Run("agents=20000,tasks=200000,streamed,first", func(b *testing.B) { benchStreamed(b, stateMasterAgents(b, 200000, 20000), true) })
}

// forgetJSON drops what the master keeps encoded of its tasks and agents,
// as before the first /master/state.
func forgetJSON(m *Master) {
	for _, f := range m.frameworks {
		for _, t := range f.tasks {
			t.json = nil
		}
	}
	for _, a := range m.agents {
		a.json = agentJSON{}
	}
}

// BenchmarkMetricsSnapshot is /metrics/snapshot (the console's summary,
// which its page carries) for 10,000 running tasks on 1,000 agents.
func BenchmarkMetricsSnapshot(b *testing.B) {
	m := stateMasterAgents(b, 10000, 1000)
	b.ResetTimer()
	for range b.N {
		m.metricsSnapshot()
	}
}

// benchStreamed is benchState for the streamed encoding (chunks handed to
// a writer as they fill, as /master/state serves it), the chunks dropped;
// first: every time as the first /master/state (nothing kept encoded),
// otherwise as the ones after it, the master's state unchanged.
func benchStreamed(b *testing.B, m *Master, first bool) {
	m.encodeState(nil, func(p []byte) []byte { return p[:0] })
	b.ResetTimer()
	size := 0
	for range b.N {
		if first {
			b.StopTimer()
			forgetJSON(m)
			b.StartTimer()
		}
		size = 0
		last := m.encodeState(nil, func(p []byte) []byte {
			if len(p) < docChunk {
				return p
			}
			size += len(p)
			releaseChunk(p) // as serveState, once written
			return newChunk()

		})
		size += len(last)
	}
	b.ReportMetric(float64(size)/1e6, "MB")
}

func benchState(b *testing.B, m *Master) {
	b.ResetTimer()
	var size int
	for range b.N {
		w := &countWriter{}
		if err := m.writeState(w, nil); err != nil {
			b.Fatal(err)
		}
		size = w.n
	}
	b.ReportMetric(float64(size)/1e6, "MB")
}

type countWriter struct{ n int }

func (w *countWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

func (m *Master) writeState(w io.Writer, v *viewer) error {
	_, err := w.Write(m.stateDoc(v))
	return err
}
