// Package proc starts child processes in their own process group, with
// their output appended to files, and stops the whole group: SIGTERM first,
// SIGKILL after a grace period. The agent uses it for executors and the
// command executor for tasks.
package proc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Spec describes a process to start.
type Spec struct {
	Path string   // program; looked up in PATH when it has no slash
	Args []string // argv, Args[0] included; defaults to []string{Path}
	Env  []string // complete environment
	Dir  string   // working directory
	// Stdout and Stderr name files the output is appended to; empty means
	// the parent's.
	Stdout, Stderr string
}

// Exit is how a process ended.
type Exit struct {
	// Status is the wait status; Code is the exit code, or -1 when the
	// process was killed by a signal.
	Status syscall.WaitStatus
	Code   int
	// Signal is the terminating signal, when Signaled.
	Signaled bool
	Signal   syscall.Signal
	Err      error
}

// String describes the exit as Mesos messages do.
func (e Exit) String() string {
	switch {
	case e.Err != nil:
		return e.Err.Error()
	case e.Signaled:
		return fmt.Sprintf("Command terminated with signal %s", e.Signal)
	default:
		return fmt.Sprintf("Command exited with status %d", e.Code)
	}
}

// Process is a started child process.
type Process struct {
	cmd  *exec.Cmd
	done chan struct{}
	exit Exit

	mu      sync.Mutex
	killing bool
}

// Start starts the process described by spec in a new process group.
func Start(spec Spec) (*Process, error) {
	path := spec.Path
	if path == "" {
		return nil, errors.New("proc: empty program path")
	}
	args := spec.Args
	if len(args) == 0 {
		args = []string{path}
	}
	cmd := &exec.Cmd{Path: path, Args: args, Env: spec.Env, Dir: spec.Dir}
	if lp, err := exec.LookPath(path); err == nil {
		cmd.Path = lp
	} else if !containsSlash(path) {
		return nil, fmt.Errorf("proc: %q: %w", path, err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	open := func(name string) (*os.File, error) {
		f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err == nil {
			files = append(files, f)
		}
		return f, err
	}
	if spec.Stdout != "" {
		f, err := open(spec.Stdout)
		if err != nil {
			return nil, fmt.Errorf("proc: open stdout: %w", err)
		}
		cmd.Stdout = f
	} else {
		cmd.Stdout = os.Stdout
	}
	if spec.Stderr != "" {
		f, err := open(spec.Stderr)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("proc: open stderr: %w", err)
		}
		cmd.Stderr = f
	} else {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		closeAll()
		return nil, fmt.Errorf("proc: start %q: %w", path, err)
	}
	closeAll()
	p := &Process{cmd: cmd, done: make(chan struct{})}
	go p.wait()
	return p, nil
}

func containsSlash(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return true
		}
	}
	return false
}

func (p *Process) wait() {
	err := p.cmd.Wait()
	var e Exit
	if ps := p.cmd.ProcessState; ps != nil {
		ws, _ := ps.Sys().(syscall.WaitStatus)
		e.Status = ws
		e.Code = ps.ExitCode()
		if ws.Signaled() {
			e.Signaled = true
			e.Signal = ws.Signal()
		}
	} else {
		e.Err = err
		e.Code = -1
	}
	p.exit = e
	close(p.done)
}

// Pid returns the process id, which is also its process group id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exit returns how the process ended; valid after Done is closed.
func (p *Process) Exit() Exit {
	<-p.done
	return p.exit
}

// Signal sends sig to the whole process group.
func (p *Process) Signal(sig syscall.Signal) error {
	return syscall.Kill(-p.cmd.Process.Pid, sig)
}

// Kill stops the process group: SIGTERM now, SIGKILL to the group when the
// leader has not exited after grace (at once when grace is 0). It returns
// immediately; wait on Done. Calling it again while a kill is under way
// does nothing. Members of the group left after the leader exits are killed
// too.
func (p *Process) Kill(grace time.Duration) {
	p.mu.Lock()
	if p.killing {
		p.mu.Unlock()
		return
	}
	p.killing = true
	p.mu.Unlock()
	if grace <= 0 {
		_ = p.Signal(syscall.SIGKILL)
		return
	}
	_ = p.Signal(syscall.SIGTERM)
	go func() {
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-p.done:
		case <-t.C:
		}
		// Kill whatever is left of the group, leader or stragglers.
		_ = p.Signal(syscall.SIGKILL)
	}()
}
