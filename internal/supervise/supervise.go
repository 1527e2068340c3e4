// Package supervise is the supervisor of a command task that the agent
// runs itself, without a command executor process (the agent's
// --command_executor=agent, the default). The agent starts the supervisor
// in the task's container, like an executor: in the sandbox, with the
// task's environment, its output going to the sandbox's stdout and stderr.
// The supervisor starts the task's command as its child, in its own
// process group, tells the agent whether the command started, waits for
// it and records how it ended in a file the agent gave it. The record
// outlives an agent that dies meanwhile: an agent restarted on the same
// work_dir adopts the supervisor and reads the record when it exits, so a
// task that ends while its agent is down still ends with its exact state.
//
// The supervisor is small on purpose (cmd/agora-supervisor links nothing
// else): it is the only process besides the task's own that a command
// task costs.
//
// Its protocol with the agent:
//
//	argv:  agora-supervisor [supervise] PATH ARGV0 [ARG...]
//	fd 3:  the container's gate (proc.Spec.HoldsItself), when there is one
//	fd 4:  the exit record, a file open for writing: at the end one line,
//	       "status N" (N the wait status of the command, as wait(2) gives
//	       it) or "error MESSAGE" (the command could not be started)
//	fd 5:  the start report, a pipe: "started PID" or "error MESSAGE",
//	       then closed
//
// PATH is looked up in the PATH of the environment when it has no slash.
// The command leads a process group of its own (its pgid is the PID of the
// start report), which is how the agent signals it: the supervisor is not
// in that group, so it outlives its command and reports it.
package supervise

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"github.com/agora-dev/agora/internal/proc"
)

// Descriptors the agent passes to the supervisor (ExtraFiles of
// proc.Spec start at fd 4; fd 3 is the gate).
const (
	ExitFD  = 4
	ReadyFD = 5
)

// ExitCode of the supervisor when the command could not be started.
const ExitCode = 127

// Main runs the supervisor with args (PATH, ARGV0, ARG...) and returns its
// exit status: the command's exit code, 128+N when a signal N ended it,
// ExitCode when it could not be started, 2 on a usage error.
func Main(args []string) int {
	if !proc.AwaitRelease(os.Getenv) {
		return proc.HeldExitCode // not let into its container: run nothing
	}
	exitf := os.NewFile(ExitFD, "exit")
	ready := os.NewFile(ReadyFD, "ready")
	if exitf == nil || ready == nil || len(args) < 2 {
		os.Stderr.WriteString("usage: agora-supervisor PATH ARGV0 [ARG...] (started by the agent, with fds 4 and 5)\n")
		return 2
	}
	// Neither descriptor is the command's.
	syscall.CloseOnExec(ExitFD)
	syscall.CloseOnExec(ReadyFD)

	fail := func(err error) int {
		msg := strings.ReplaceAll(err.Error(), "\n", " ")
		_, _ = ready.WriteString("error " + msg + "\n")
		ready.Close()
		_, _ = exitf.WriteString("error " + msg + "\n")
		exitf.Close()
		return ExitCode
	}
	path := args[0]
	if !strings.Contains(path, "/") {
		lp, err := exec.LookPath(path)
		if err != nil {
			return fail(err)
		}
		path = lp
	}
	env := os.Environ()
	clean := env[:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, proc.HoldFDEnv+"=") {
			clean = append(clean, kv)
		}
	}
	pid, err := syscall.ForkExec(path, args[1:], &syscall.ProcAttr{Env: clean, Files: []uintptr{0, 1, 2},
		Sys: &syscall.SysProcAttr{Setpgid: true}})
	if err != nil {
		return fail(&os.PathError{Op: "fork/exec", Path: path, Err: err})
	}
	_, _ = ready.WriteString("started " + strconv.Itoa(pid) + "\n")
	ready.Close()
	var ws syscall.WaitStatus
	for {
		_, err = syscall.Wait4(pid, &ws, 0, nil)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		_, _ = exitf.WriteString("error wait: " + err.Error() + "\n")
		return ExitCode
	}
	_, _ = exitf.WriteString("status " + strconv.Itoa(int(ws)) + "\n")
	exitf.Close()
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// Record is an exit record as the agent reads it.
type Record struct {
	// Written reports whether the supervisor wrote a record (it did not
	// when it was killed before its command ended).
	Written bool
	// Status is the command's wait status, when Err is empty.
	Status syscall.WaitStatus
	// Err is why the command could not be started (or waited for).
	Err string
}

// Parse reads an exit record or a start report ("status N", "started
// PID", "error MESSAGE"); an empty or partial one is not Written.
func Parse(b []byte) Record {
	line, _, ok := strings.Cut(string(b), "\n")
	if !ok {
		return Record{}
	}
	word, rest, _ := strings.Cut(line, " ")
	switch word {
	case "status":
		n, err := strconv.Atoi(rest)
		if err != nil {
			return Record{}
		}
		return Record{Written: true, Status: syscall.WaitStatus(n)}
	case "started":
		if _, err := strconv.Atoi(rest); err != nil {
			return Record{}
		}
		return Record{Written: true}
	case "error":
		if rest == "" {
			rest = "unknown error"
		}
		return Record{Written: true, Err: rest}
	}
	return Record{}
}

// Exit is the record's wait status as proc reports exits.
func (r Record) Exit() proc.Exit {
	ws := r.Status
	x := proc.Exit{Status: ws, Code: ws.ExitStatus()}
	if ws.Signaled() {
		x.Signaled, x.Signal, x.Code = true, ws.Signal(), -1
	}
	return x
}
