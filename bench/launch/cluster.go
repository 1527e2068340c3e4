package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
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

// buildAgora builds the agora binary of the module that contains the
// current directory into dir.
func buildAgora(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run this from inside the agora module (go run ./bench/launch)")
	}
	bin := filepath.Join(dir, "agora")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/agora")
	build.Dir = filepath.Dir(gomod)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/agora: %w", err)
	}
	return bin, nil
}

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

// cluster is a running `agora local` child process.
type cluster struct {
	cmd     *exec.Cmd
	master  string // host:port
	workDir string
	log     *logBuffer
	exited  chan struct{}
	waitErr error
}

var masterLine = regexp.MustCompile(`^agora local: master http://([^ ]+)`)

// startCluster starts `agora local` and waits until it prints that it is
// ready.
// With logFile set, agora logs at debug level and all its output goes to
// that file too.
func startCluster(ctx context.Context, bin, workDir string, agents int, resources string, logFile *os.File) (*cluster, error) {
	args := []string{"local", "--port=0", "--agents=" + strconv.Itoa(agents), "--work_dir=" + workDir}
	if resources != "" {
		args = append(args, "--resources="+resources)
	}
	if logFile != nil {
		args = append(args, "--log_level=debug")
	}
	c := &cluster{workDir: workDir, log: &logBuffer{file: logFile}, exited: make(chan struct{})}
	c.cmd = exec.Command(bin, args...)
	// A process group of its own: a ^C on the terminal reaches only us,
	// and we stop the cluster in order.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
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
	c.cmd.Stdout, c.cmd.Stderr = stdoutW, stderrW
	err = c.cmd.Start()
	stdoutW.Close()
	stderrW.Close()
	if err != nil {
		stdout.Close()
		stderr.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	ready := make(chan string, 1)
	go func() {
		defer stdout.Close()
		sc := bufio.NewScanner(stdout)
		master := ""
		for sc.Scan() {
			line := sc.Text()
			c.log.add(line)
			if m := masterLine.FindStringSubmatch(line); m != nil {
				master = m[1]
			}
			if strings.HasPrefix(line, "agora local: ready") && master != "" {
				select {
				case ready <- master:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		defer stderr.Close()
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			c.log.add(sc.Text())
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	go func() {
		c.waitErr = c.cmd.Wait()
		close(c.exited)
	}()
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case c.master = <-ready:
		return c, nil
	case <-c.exited:
		return nil, fmt.Errorf("agora local exited before it was ready (%v); its output:\n%s", c.waitErr, c.log)
	case <-t.C:
		c.stop()
		return nil, fmt.Errorf("agora local not ready within 30s; its output:\n%s", c.log)
	case <-ctx.Done():
		c.stop()
		return nil, ctx.Err()
	}
}

// stop sends SIGTERM and waits for the cluster to exit (SIGKILL to its
// process group after 15s). It then looks for processes still running in
// the cluster's work directory (executors or tasks that outlived it),
// kills them, and reports them as an error.
func (c *cluster) stop() (time.Duration, error) {
	start := time.Now()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	var errs []error
	select {
	case <-c.exited:
	case <-time.After(15 * time.Second):
		errs = append(errs, errors.New("agora local did not exit within 15s of SIGTERM; killed it"))
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.exited
	}
	took := time.Since(start)
	if strays := processesIn(c.workDir); len(strays) > 0 {
		for _, pid := range strays {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		errs = append(errs, fmt.Errorf("%d processes still ran in %s after agora local exited (killed): pids %v",
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
