// Package conformance runs real, unmodified Mesos clients — the example
// programs of mesos-go v0.0.11 — against an Agora master and agent started
// as separate processes. It is its own Go module so that mesos-go's old
// dependencies never enter Agora's; it drives the agora binary built from
// ../.. and imports nothing from Agora.
package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binaries built once by TestMain.
var (
	agoraBin    string
	mshBin      string
	mwatchBin   string
	schedBin    string // example-scheduler
	executorBin string // example-executor
)

// programTimeout bounds every run of a mesos-go program.
const programTimeout = 60 * time.Second

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "agora-conformance-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	agoraBin = filepath.Join(dir, "agora")
	mshBin = filepath.Join(dir, "msh")
	mwatchBin = filepath.Join(dir, "mwatch")
	schedBin = filepath.Join(dir, "example-scheduler")
	executorBin = filepath.Join(dir, "example-executor")

	// Agora itself, from the enclosing module, with the race detector on
	// as in test/e2e: real clients are good at finding races.
	builds := [][]string{
		{"build", "-C", "../..", "-race", "-o", agoraBin, "./cmd/agora"},
		// Agents run the agora-executor beside agora for command tasks.
		{"build", "-C", "../..", "-race", "-o", filepath.Join(dir, "agora-executor"), "./cmd/agora-executor"},
		// and agora-supervisor, for the command tasks agents run themselves.
		{"build", "-C", "../..", "-race", "-o", filepath.Join(dir, "agora-supervisor"), "./cmd/agora-supervisor"},
		// The four programs, unmodified, at the versions go.mod pins.
		// With -o naming a directory, go build writes each main package
		// there under its own name.
		{"build", "-o", dir + string(filepath.Separator),
			"github.com/mesos/mesos-go/api/v1/cmd/msh",
			"github.com/mesos/mesos-go/api/v1/cmd/mwatch",
			"github.com/mesos/mesos-go/api/v1/cmd/example-scheduler",
			"github.com/mesos/mesos-go/api/v1/cmd/example-executor"},
	}
	if bin := os.Getenv("AGORA_BIN"); bin != "" {
		// Run the clients against an agora built elsewhere (another
		// branch, a release) instead of the one in ../..
		agoraBin, builds = bin, builds[2:]
	}
	for _, args := range builds {
		cmd := exec.Command("go", args...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "go %s: %v\n", strings.Join(args, " "), err)
			return 1
		}
	}
	return m.Run()
}

// proc is a running process whose combined output is captured.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	mu   sync.Mutex
	out  bytes.Buffer
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// exitCode is the process's exit status once it has exited.
func (p *proc) exitCode() int { return p.cmd.ProcessState.ExitCode() }

// start runs bin with args and stops it when the test ends, logging its
// output if the test failed.
func start(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: filepath.Base(bin), cmd: exec.Command(bin, args...)}
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s %v: %v", bin, args, err)
	}
	p.done = make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("output of %s %s:\n%s", p.name, strings.Join(args, " "), p.output())
		}
	})
	return p
}

// stop sends SIGTERM, then SIGKILL if the process is still there after
// 15 s, and waits for it to exit. Stopping an exited process does nothing.
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// run runs a mesos-go program to its end, bounded by programTimeout, and
// returns its exit status and combined output.
func run(t *testing.T, bin string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), programTimeout)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %s did not finish within %s; output:\n%s", filepath.Base(bin), strings.Join(args, " "), programTimeout, out.String())
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("%s: %v", filepath.Base(bin), err)
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

var listenRE = regexp.MustCompile(`listening on http://([0-9.]+:[0-9]+)`)

// waitListening waits for an agora process to print its address.
func (p *proc) waitListening(t *testing.T) string {
	t.Helper()
	var addr string
	waitFor(t, 20*time.Second, p.name+" to listen", func() bool {
		if m := listenRE.FindStringSubmatch(p.output()); m != nil {
			addr = m[1]
			return true
		}
		return false
	})
	return addr
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cluster is one agora master and its agents, each a separate process.
type cluster struct {
	t      *testing.T
	dir    string // everything the cluster writes lives under dir
	master string // host:port
	mproc  *proc
	agents []*proc
}

// newCluster starts a master; agents are added with addAgent. The test
// fails if any process started under the cluster's directory outlives it.
func newCluster(t *testing.T, masterArgs ...string) *cluster {
	t.Helper()
	c := &cluster{t: t, dir: t.TempDir()}
	// Registered before any process starts, so it runs after they have
	// all been stopped (cleanups run last-in, first-out).
	t.Cleanup(func() { checkNoStrays(t, c.dir) })
	c.mproc = start(t, agoraBin, append([]string{"master", "--ip=127.0.0.1", "--port=0", "--work_dir=" + filepath.Join(c.dir, "master")}, masterArgs...)...)
	c.master = c.mproc.waitListening(t)
	return c
}

// restartMaster stops the master and starts a new one on the same address
// and work directory, as an operator restarting it would.
func (c *cluster) restartMaster() {
	t := c.t
	t.Helper()
	c.mproc.stop()
	_, port, _ := net.SplitHostPort(c.master)
	c.mproc = start(t, agoraBin, "master", "--ip=127.0.0.1", "--port="+port, "--work_dir="+filepath.Join(c.dir, "master"))
	if got := c.mproc.waitListening(t); got != c.master {
		t.Fatalf("restarted master listens on %s, want %s", got, c.master)
	}
}

// addAgent starts one more agent and waits until the master lists it as
// active.
func (c *cluster) addAgent() {
	t := c.t
	t.Helper()
	i := len(c.agents)
	a := start(t, agoraBin, "agent", "--switch_user=false", "--master="+c.master, "--ip=127.0.0.1", "--port=0",
		"--work_dir="+c.agentDir(i), "--resources=cpus:2;mem:1024;disk:2048;ports:[31000-31099]")
	a.waitListening(t)
	c.agents = append(c.agents, a)
	waitFor(t, 20*time.Second, "agents to register", func() bool {
		var st struct{ Slaves []struct{ Active bool } }
		if getJSON("http://"+c.master+"/master/state", &st) != nil {
			return false
		}
		active := 0
		for _, s := range st.Slaves {
			if s.Active {
				active++
			}
		}
		return active == len(c.agents)
	})
}

func (c *cluster) agentDir(i int) string { return filepath.Join(c.dir, "agent"+strconv.Itoa(i)) }

// startCluster is a master and one agent.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	c := newCluster(t)
	c.addAgent()
	return c
}

func getJSON(url string, v any) error {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// sandboxFiles returns the paths of the files called name in the agents'
// sandboxes, that is anywhere under the cluster's agent directories.
func (c *cluster) sandboxFiles(name string) []string {
	var found []string
	for i := range c.agents {
		_ = filepath.WalkDir(c.agentDir(i), func(path string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && d.Name() == name {
				found = append(found, path)
			}
			return nil
		})
	}
	return found
}

// checkNoStrays fails the test if a process still runs from, or names,
// a path under dir: an executor or task that outlived its agent.
func checkNoStrays(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat("/proc/self/cwd"); err != nil {
		return // no procfs: nothing to check with
	}
	var strays []string
	// Executors the agent is stopping may take a moment to be reaped.
	deadline := time.Now().Add(10 * time.Second)
	for {
		strays = strays[:0]
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == os.Getpid() {
				continue
			}
			cwd, _ := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
			cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if strings.HasPrefix(cwd, dir) || bytes.Contains(cmdline, []byte(dir)) {
				strays = append(strays, fmt.Sprintf("pid %d (cwd %s): %s", pid, cwd, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
			}
		}
		if len(strays) == 0 {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, s := range strays {
		syscall.Kill(mustAtoi(strings.Fields(s)[1]), syscall.SIGKILL)
	}
	t.Errorf("processes outlived the cluster (killed now):\n%s", strings.Join(strays, "\n"))
}

func mustAtoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
