package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// logBuffer keeps the last lines of a child's output for error reports.
type logBuffer struct {
	mu    sync.Mutex
	lines []string
	file  *os.File // every line is also written here when set
}

func (l *logBuffer) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, s)
	if l.file != nil {
		fmt.Fprintln(l.file, s)
	}
	if len(l.lines) > 200 {
		l.lines = l.lines[len(l.lines)-200:]
	}
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// cluster is the Agora under test: one `agora local` child process
// (mode "local"), or an `agora master` and one `agora agent` per agent, each
// a process of its own (mode "separate").
type cluster struct {
	mode    string
	procs   []*child // master first in mode "separate"
	master  string   // host:port
	workDir string
	log     *logBuffer
}

// child is one agora process.
type child struct {
	name    string
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
}

// startChild starts bin with args in a process group of its own, copies
// its output into log and passes each line to onLine.
func startChild(name, bin string, args []string, log *logBuffer, onLine func(string)) (*child, error) {
	ch := &child{name: name, exited: make(chan struct{})}
	ch.cmd = exec.Command(bin, args...)
	// A process group of its own: a ^C on the terminal reaches only us,
	// and we stop the cluster in order.
	ch.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Our own pipes rather than StdoutPipe: Wait must not depend on
	// executors that might have inherited them closing them.
	stdout, stdoutW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	stderr, stderrW, err := os.Pipe()
	if err != nil {
		stdout.Close()
		stdoutW.Close()
		return nil, err
	}
	ch.cmd.Stdout, ch.cmd.Stderr = stdoutW, stderrW
	err = ch.cmd.Start()
	stdoutW.Close()
	stderrW.Close()
	if err != nil {
		stdout.Close()
		stderr.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	for _, r := range []*os.File{stdout, stderr} {
		go func() {
			defer r.Close()
			sc := bufio.NewScanner(r)
			for sc.Scan() {
				line := sc.Text()
				log.add(name + ": " + line)
				onLine(line)
			}
			_, _ = io.Copy(io.Discard, r)
		}()
	}
	go func() {
		ch.waitErr = ch.cmd.Wait()
		close(ch.exited)
	}()
	return ch, nil
}

var (
	masterLine         = regexp.MustCompile(`^agora local: master http://([^ ]+)`)
	separateMasterLine = regexp.MustCompile(`^agora master listening on http://([^ ]+)`)
)

// startCluster starts the cluster in mode ("local" or "separate") and
// waits until it is ready: `agora local` says so; in mode "separate" the
// master's /master/state counts every agent activated.
// With logFile set, agora logs at debug level and all its output goes to
// that file too.
func startCluster(ctx context.Context, mode, bin, workDir string, agents int, resources string, logFile *os.File) (*cluster, error) {
	c := &cluster{mode: mode, workDir: workDir, log: &logBuffer{file: logFile}}
	level := "--log_level=warn"
	if logFile != nil {
		level = "--log_level=debug"
	}
	ready := make(chan string, 1)
	notify := func(addr string) {
		select {
		case ready <- addr:
		default:
		}
	}
	switch mode {
	case "local":
		args := []string{"local", "--port=0", "--agents=" + strconv.Itoa(agents), "--work_dir=" + workDir, level}
		if resources != "" {
			args = append(args, "--resources="+resources)
		}
		var mu sync.Mutex
		master := ""
		ch, err := startChild("local", bin, args, c.log, func(line string) {
			mu.Lock()
			defer mu.Unlock()
			if m := masterLine.FindStringSubmatch(line); m != nil {
				master = m[1]
			}
			if strings.HasPrefix(line, "agora local: ready") && master != "" {
				notify(master)
			}
		})
		if err != nil {
			return nil, err
		}
		c.procs = append(c.procs, ch)
	case "separate":
		ch, err := startChild("master", bin, []string{"master", "--ip=127.0.0.1", "--port=0",
			"--work_dir=" + filepath.Join(workDir, "master"), level}, c.log, func(line string) {
			if m := separateMasterLine.FindStringSubmatch(line); m != nil {
				notify(m[1])
			}
		})
		if err != nil {
			return nil, err
		}
		c.procs = append(c.procs, ch)
	default:
		return nil, fmt.Errorf("unknown mode %q (want local or separate)", mode)
	}
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case c.master = <-ready:
	case <-c.procs[0].exited:
		return nil, fmt.Errorf("agora %s exited before it was ready (%v); its output:\n%s", mode, c.procs[0].waitErr, c.log)
	case <-t.C:
		c.stop()
		return nil, fmt.Errorf("agora %s not ready within 30s; its output:\n%s", mode, c.log)
	case <-ctx.Done():
		c.stop()
		return nil, ctx.Err()
	}
	if mode == "local" {
		return c, nil
	}
	for i := range agents {
		args := []string{"agent", "--master=" + c.master, "--ip=127.0.0.1", "--port=0",
			"--work_dir=" + filepath.Join(workDir, fmt.Sprintf("agent-%d", i)), level}
		if resources != "" {
			args = append(args, "--resources="+resources)
		}
		ch, err := startChild(fmt.Sprintf("agent-%d", i), bin, args, c.log, func(string) {})
		if err != nil {
			c.stop()
			return nil, err
		}
		c.procs = append(c.procs, ch)
	}
	for {
		if n, err := activatedAgents(ctx, c.master); err == nil && n >= agents {
			return c, nil
		}
		for _, p := range c.procs {
			select {
			case <-p.exited:
				c.stop()
				return nil, fmt.Errorf("agora %s exited before the cluster was ready (%v); output:\n%s", p.name, p.waitErr, c.log)
			default:
			}
		}
		select {
		case <-t.C:
			c.stop()
			return nil, fmt.Errorf("agents not all activated within 30s; output:\n%s", c.log)
		case <-ctx.Done():
			c.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// activatedAgents reads activated_slaves from the master's /master/state.
func activatedAgents(ctx context.Context, master string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+master+"/master/state", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var st struct {
		Activated float64 `json:"activated_slaves"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, err
	}
	return int(st.Activated), nil
}

// cpu is the CPU time of every agora process of the cluster and their
// reaped descendants; -1 if unknown.
func (c *cluster) cpu() time.Duration {
	var total time.Duration
	for _, p := range c.procs {
		d := procCPU(p.cmd.Process.Pid)
		if d < 0 {
			return -1
		}
		total += d
	}
	return total
}

// cpuSplit is the CPU time of the cluster's processes as [master, agents'
// own, agents' reaped children] (nil if unknown). Only separate mode's
// first process is a master alone.
func (c *cluster) cpuSplit() []time.Duration {
	out := make([]time.Duration, 3)
	for i, p := range c.procs {
		self, children := procCPUSplit(p.cmd.Process.Pid)
		if self < 0 {
			return nil
		}
		if i == 0 {
			out[0] += self + children
			continue
		}
		out[1] += self
		out[2] += children
	}
	return out
}

// stop sends SIGTERM to every process, agents before the master, and waits
// for each to exit (SIGKILL to its process group after 15s). It then looks
// for processes still running in the cluster's work directory (executors
// or tasks that outlived it), kills them, and reports them as an error.
func (c *cluster) stop() (time.Duration, error) {
	start := time.Now()
	var errs []error
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(15 * time.Second):
			errs = append(errs, fmt.Errorf("agora %s did not exit within 15s of SIGTERM; killed it", p.name))
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.exited
		}
	}
	took := time.Since(start)
	if strays := processesIn(c.workDir); len(strays) > 0 {
		for _, pid := range strays {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		errs = append(errs, fmt.Errorf("%d processes still ran in %s after agora exited (killed): pids %v",
			len(strays), c.workDir, strays))
	}
	return took, errors.Join(errs...)
}

// processesIn lists the processes whose working directory is dir or below
// it (Linux /proc; nothing elsewhere).
func processesIn(dir string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err != nil {
			continue
		}
		if cwd == dir || strings.HasPrefix(cwd, dir+"/") {
			pids = append(pids, pid)
		}
	}
	return pids
}
