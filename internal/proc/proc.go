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
	"path/filepath"
	"slices"
	"strconv"
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
	// Stdio, when set, are the process's stdin, stdout and stderr instead
	// (a nil entry: /dev/null for stdin, Stdout or Stderr for the others).
	Stdio [3]*os.File
	// TTY makes the process a session leader (its own process group)
	// whose controlling terminal is its stdin, which must be a pty slave.
	TTY bool
	// CgroupFD, with UseCgroupFD, is an open cgroup v2 directory the
	// process is created in (clone3 with CLONE_INTO_CGROUP): it never runs
	// anywhere else.
	UseCgroupFD bool
	CgroupFD    int
	// Held starts the process held before it executes Path: a /bin/sh
	// shim waits on an inherited pipe and execs Path (same pid, same
	// process group, the same environment and directory) only once
	// Release is called; if the pipe closes unreleased, the shim exits
	// with status HeldExitCode without running Path. This lets the caller
	// put the process into cgroups, or set its limits, before any
	// instruction of Path runs. Path's argv[0] becomes the resolved path.
	Held bool
	// HoldsItself, with Held, starts Path directly, without the shim: the
	// gate is its fd 3 and HoldFDEnv names it in its environment, and the
	// program must call AwaitRelease before it does anything else (Agora's
	// executors do). It saves the shim's exec, a shell's start, per
	// process.
	HoldsItself bool
	// Credential, when set, is the uid, gid and supplementary groups the
	// process (and, when Held, its shim) runs as.
	Credential *syscall.Credential
	// ExtraFiles are open files the process inherits as fd 4 onward; fd 3
	// is the gate of a held process, or closed.
	ExtraFiles []*os.File
}

// HeldExitCode is the exit status of a held process whose gate closed
// without Release.
const HeldExitCode = 125

// HoldFDEnv is the variable that gives a process started with
// Spec.HoldsItself the file descriptor of its gate.
const HoldFDEnv = "AGORA_HOLD_FD"

// AwaitRelease is a program's side of Spec.HoldsItself: when getenv names
// a gate, it waits until the process is released and closes the gate. It
// reports false when the gate closed unreleased: the program must then
// exit with HeldExitCode at once. Without a gate it returns true.
func AwaitRelease(getenv func(string) string) bool {
	v := getenv(HoldFDEnv)
	if v == "" {
		return true
	}
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return false
	}
	f := os.NewFile(uintptr(fd), "gate")
	defer f.Close()
	var b [1]byte
	n, _ := f.Read(b[:])
	return n == 1
}

// holdScript is the shim a held process runs: wait for one line on fd 3,
// close it, exec the program ($0) with its arguments.
const holdScript = `read _ <&3 || exit 125; exec 3<&-; exec "$0" "$@"`

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
	gate    *os.File // write end of a held process's gate; nil once used
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
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: !spec.TTY, Setsid: spec.TTY, Setctty: spec.TTY,
		UseCgroupFD: spec.UseCgroupFD, CgroupFD: spec.CgroupFD, Credential: spec.Credential}
	var gate *os.File
	if spec.Held && spec.HoldsItself {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("proc: gate: %w", err)
		}
		defer r.Close()
		cmd.ExtraFiles = []*os.File{r} // fd 3
		env := spec.Env
		if env == nil {
			env = os.Environ()
		}
		cmd.Env = append(slices.Clip(env), HoldFDEnv+"=3")
		gate = w
	} else if spec.Held {
		// The shim's exec would report a missing program only as exit
		// status 127; report it now, as an unheld start does.
		prog := cmd.Path
		if !filepath.IsAbs(prog) && spec.Dir != "" {
			prog = filepath.Join(spec.Dir, prog) // as exec resolves it
		}
		if fi, err := os.Stat(prog); err != nil {
			return nil, fmt.Errorf("proc: start %q: %w", path, err)
		} else if fi.IsDir() || fi.Mode()&0o111 == 0 {
			return nil, fmt.Errorf("proc: start %q: %w", path, syscall.EACCES)
		}
		script := holdScript
		env := spec.Env
		if env == nil {
			env = os.Environ()
		}
		if !hasVar(env, "PWD") {
			script = "unset PWD; " + script // the shell would export one
		}
		cmd.Args = append([]string{"sh", "-c", script, cmd.Path}, args[1:]...)
		cmd.Path = "/bin/sh"
		r, w, err := os.Pipe() // close-on-exec: no other child inherits w
		if err != nil {
			return nil, fmt.Errorf("proc: gate: %w", err)
		}
		defer r.Close()
		cmd.ExtraFiles = []*os.File{r}
		gate = w
	}
	if len(spec.ExtraFiles) > 0 {
		if len(cmd.ExtraFiles) == 0 {
			cmd.ExtraFiles = []*os.File{nil} // fd 3: no gate
		}
		cmd.ExtraFiles = append(cmd.ExtraFiles, spec.ExtraFiles...)
	}
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
	if spec.Stdio[0] != nil {
		cmd.Stdin = spec.Stdio[0]
	}
	if spec.Stdio[1] != nil {
		cmd.Stdout = spec.Stdio[1]
	} else if spec.Stdout != "" {
		f, err := open(spec.Stdout)
		if err != nil {
			return nil, fmt.Errorf("proc: open stdout: %w", err)
		}
		cmd.Stdout = f
	} else {
		cmd.Stdout = os.Stdout
	}
	if spec.Stdio[2] != nil {
		cmd.Stderr = spec.Stdio[2]
	} else if spec.Stderr != "" {
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
		if gate != nil {
			gate.Close()
		}
		return nil, fmt.Errorf("proc: start %q: %w", path, err)
	}
	closeAll()
	p := &Process{cmd: cmd, done: make(chan struct{}), gate: gate}
	go p.wait()
	return p, nil
}

// Release lets a held process execute its program. It does nothing for a
// process that was not held or is already released.
func (p *Process) Release() error {
	p.mu.Lock()
	gate := p.gate
	p.gate = nil
	p.mu.Unlock()
	if gate == nil {
		return nil
	}
	_, err := gate.Write([]byte("\n"))
	if cerr := gate.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("proc: release: %w", err)
	}
	return nil
}

// closeGate closes an unreleased gate: the held shim exits without
// running its program.
func (p *Process) closeGate() {
	p.mu.Lock()
	gate := p.gate
	p.gate = nil
	p.mu.Unlock()
	if gate != nil {
		gate.Close()
	}
}

func hasVar(env []string, name string) bool {
	for _, kv := range env {
		if len(kv) > len(name) && kv[len(name)] == '=' && kv[:len(name)] == name {
			return true
		}
	}
	return false
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
	p.closeGate()
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
	p.closeGate()
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
