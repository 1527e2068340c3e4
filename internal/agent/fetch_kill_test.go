package agent

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"google.golang.org/protobuf/proto"
)

// TestKillDuringFetch: a task killed while its URI is still downloading ends
// TASK_KILLED at once, and the download is abandoned.
func TestKillDuringFetch(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	abandoned := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("partial"))
		w.(http.Flusher).Flush()
		close(started)
		<-r.Context().Done()
		close(abandoned)
	}))
	defer srv.Close()
	m := newFakeMaster(t)
	a := startAgent(t, m, nil)

	ti := commandTask("slow", "true")
	ti.Command.Uris = []*mesos.CommandInfo_URI{{Value: proto.String(srv.URL + "/slow.bin"), Cache: proto.Bool(true)}}
	m.send(runTaskEvent("fw1", ti))
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("the fetch did not start")
	}
	m.send(&agentpb.Event{Type: agentpb.Event_KILL_TASK.Enum(), KillTask: &agentpb.Event_KillTask{
		FrameworkId: &mesos.FrameworkID{Value: proto.String("fw1")}, TaskId: &mesos.TaskID{Value: proto.String("slow")}}})
	u := m.waitState(t, "slow", mesos.TaskState_TASK_KILLED)
	if u.GetStatus().GetReason() != mesos.TaskStatus_REASON_TASK_KILLED_DURING_LAUNCH {
		t.Errorf("killed during fetch: %v", u.GetStatus())
	}
	select {
	case <-abandoned:
	case <-time.After(20 * time.Second):
		t.Fatal("the download was not abandoned")
	}
	// Nothing was cached.
	if n, _ := a.fetcher.CacheUsage(); n != 0 {
		t.Errorf("%d cache entries", n)
	}
	// The abandoned download's file goes once its goroutine has ended.
	waitFor(t, 10*time.Second, "an empty fetcher cache directory", func() bool {
		des, _ := os.ReadDir(filepath.Join(a.cfg.WorkDir, "fetcher-cache"))
		return len(des) == 0
	})
}
