package agent

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"google.golang.org/protobuf/proto"
)

// TestSweepNeedsAnIdentity: a sweep with no container id and no usable
// sandbox matches nothing. Before, an empty sandbox made every working
// directory "inside" it, so sweepContainer("", "") would have killed every
// process on the host.
func TestSweepNeedsAnIdentity(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command("sleep", "30")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pid := cmd.Process.Pid
	for _, bad := range []string{"", "/", "relative/dir", dir + "/../" + filepath.Base(dir)} {
		if m := sweepMatcher("", bad); m != nil && m(pid) {
			t.Errorf("sweepMatcher(\"\", %q) matches a process in %s", bad, dir)
		}
	}
	if m := sweepMatcher("", dir); m == nil || !m(pid) {
		t.Errorf("sweepMatcher(\"\", %q) does not match a process working in it", dir)
	}
	if m := sweepMatcher("c1", ""); m == nil || m(pid) {
		t.Error("sweepMatcher(c1, \"\") should match by environment only")
	}
}

// TestRecoveryRefusesForeignSandbox: a checkpointed executor whose sandbox
// is not below the work_dir, or whose container id is empty, makes
// recovery fail with what is wrong, instead of sweeping and removing
// wherever the checkpoint points.
func TestRecoveryRefusesForeignSandbox(t *testing.T) {
	fi := mustMarshal(&mesos.FrameworkInfo{User: proto.String("u"), Name: proto.String("n"), Checkpoint: proto.Bool(true),
		Id: &mesos.FrameworkID{Value: proto.String("fw1")}})
	ei := mustMarshal(&mesos.ExecutorInfo{ExecutorId: &mesos.ExecutorID{Value: proto.String("e1")}})
	for _, tc := range []struct{ cid, dir, want string }{
		{"c1", "/", "not below"},
		{"c1", "", "not below"},
		{"c1", "@WORK@/slaves/../../x", "not below"},
		{"", "@WORK@/slaves/S0/frameworks/fw1/executors/e1/runs/c1", "container id"},
		{"../c", "@WORK@/slaves/S0/frameworks/fw1/executors/e1/runs/c1", "container id"},
	} {
		work := t.TempDir()
		dir := strings.ReplaceAll(tc.dir, "@WORK@", work)
		b, _ := json.Marshal(cpState{AgentID: "S0", Frameworks: []cpFramework{{Info: fi,
			Executors: []cpExecutor{{Info: ei, ContainerID: tc.cid, Directory: dir}}}}})
		if err := os.MkdirAll(filepath.Join(work, "meta"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, checkpointPath), b, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := DefaultConfig()
		cfg.Master, cfg.IP, cfg.Port, cfg.WorkDir = "127.0.0.1:1", "127.0.0.1", 0, work
		cfg.Resources, cfg.Isolation = "cpus:1;mem:128;disk:128", "posix"
		a, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = a.st.recoverState()
		a.ln.Close()
		close(a.done)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("container %q sandbox %q: recoverState = %v; want an error saying %q", tc.cid, dir, err, tc.want)
		}
	}
}
