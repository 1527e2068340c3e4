package agent

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/internal/isolation"
	"github.com/agora-dev/agora/internal/proc"
)

// Sandbox layout (as Mesos's src/slave/paths.hpp):
//
//	<work_dir>/slaves/<agent_id>/
//	  frameworks/<framework_id>/
//	    executors/<executor_id>/
//	      runs/
//	        <container_id>/    the sandbox: MESOS_DIRECTORY, cwd, stdout, stderr
//	        latest -> <container_id>
//
// Each sandbox is attached to /files under its real path and under
// /frameworks/<framework_id>/executors/<executor_id>/runs/latest.

// sandboxDir is the run directory of an executor's container.
func (a *Agent) sandboxDir(agentID, fwID, execID, containerID string) string {
	return filepath.Join(a.executorRunsDir(agentID, fwID, execID), containerID)
}

func (a *Agent) executorRunsDir(agentID, fwID, execID string) string {
	return filepath.Join(a.cfg.WorkDir, "slaves", agentID, "frameworks", fwID, "executors", execID, "runs")
}

// launchSpec is everything needed to start an executor, computed on the
// loop and executed off it.
type launchSpec struct {
	frameworkID, executorID string
	dir                     string
	user                    string // fetcher cache key: the command's user, else the framework's
	runAs                   string // --switch_user: the user the executor runs as; "" = the agent's
	uris                    []*mesos.CommandInfo_URI
	proc                    proc.Spec
	limits                  isolation.Limits // initial container limits
	containerID             string
	tty                     *mesos.TTYInfo // a command task's ContainerInfo.tty_info
	supervised              bool           // proc is a supervisor (supervised.go)
}

// launchSpec computes the process of an executor: the command executor
// program, or the executor's CommandInfo, with the Mesos environment.
func (s *state) launchSpec(e *executor) launchSpec {
	cmd := e.info.GetCommand()
	spec := launchSpec{
		frameworkID: e.fw.id,
		executorID:  e.id,
		dir:         e.directory,
		uris:        cmd.GetUris(),
		user:        cmd.GetUser(),
		runAs:       e.runAs,
	}
	if spec.user == "" {
		spec.user = e.fw.info.GetUser()
	}
	var path string
	var args []string
	switch {
	case e.command:
		path = s.a.cfg.ExecutorPath
		args = append([]string{path}, s.a.cfg.ExecutorArgs...)
	case e.defaultExec:
		path = s.a.cfg.ExecutorPath
		args = append([]string{path}, s.a.cfg.DefaultExecutorArgs...)
	case cmd.GetShell():
		path = "/bin/sh"
		args = []string{"sh", "-c", cmd.GetValue()}
	default:
		path = cmd.GetValue()
		args = cmd.GetArguments()
		if len(args) == 0 {
			args = []string{path}
		}
	}
	spec.proc = proc.Spec{
		Path:   path,
		Args:   args,
		Env:    s.executorEnv(e),
		Dir:    e.directory,
		Stdout: filepath.Join(e.directory, "stdout"),
		Stderr: filepath.Join(e.directory, "stderr"),
		// Agora's executors wait at their gate themselves (no shim).
		HoldsItself: e.command || e.defaultExec,
	}
	return spec
}

// executorEnv is the environment of an executor (Mesos §3.1): the agent's
// own, the MESOS_* variables, and the executor's CommandInfo environment.
func (s *state) executorEnv(e *executor) []string {
	a := s.a
	grace := a.cfg.ExecutorShutdownGracePeriod
	if g := e.info.GetShutdownGracePeriod(); g != nil {
		grace = durationOf(g)
	}
	env := os.Environ()
	if a.cfg.TLS.On() {
		// The agent's final TLS settings replace what it inherited.
		env = slices.DeleteFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "LIBPROCESS_SSL_") })
	}
	checkpoint := e.fw.info.GetCheckpoint()
	add := func(k, v string) { env = append(env, k+"="+v) }
	add("MESOS_FRAMEWORK_ID", e.fw.id)
	add("MESOS_EXECUTOR_ID", e.id)
	add("MESOS_AGENT_ENDPOINT", a.agentEndpointForExecutors())
	add("MESOS_DIRECTORY", e.directory)
	add("MESOS_SANDBOX", e.directory)
	add("MESOS_CHECKPOINT", boolDigit(checkpoint))
	add("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", formatDuration(grace))
	add("MESOS_SLAVE_ID", s.agentID)
	add("MESOS_SLAVE_PID", a.pid())
	add("MESOS_CONTAINER_ID", e.containerID)
	add("MESOS_HTTP_COMMAND_EXECUTOR", boolDigit(e.command))
	if tok := a.executorToken(e.fw.id, e.id, e.containerID); tok != "" {
		add("MESOS_EXECUTOR_AUTHENTICATION_TOKEN", tok)
	}
	if checkpoint {
		add("MESOS_RECOVERY_TIMEOUT", "15mins")
		add("MESOS_SUBSCRIPTION_BACKOFF_MAX", "2secs")
	}
	// Executors reach the agent with its TLS (what the agent was given
	// by flags; variables in its own environment are inherited above).
	env = append(env, a.cfg.TLS.Env()...)
	if e.command || e.defaultExec {
		env = append(env, a.cfg.ExecutorEnv...)
	}
	for _, v := range e.info.GetCommand().GetEnvironment().GetVariables() {
		if v.GetType() == mesos.Environment_Variable_SECRET {
			continue // secrets are not supported; never leak a reference as a value
		}
		add(v.GetName(), v.GetValue())
	}
	return env
}

// agentEndpointForExecutors is the ip:port executors reach the agent on:
// loopback when the agent listens on every interface.
func (a *Agent) agentEndpointForExecutors() string {
	return a.endpoint
}

func boolDigit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// launch creates the sandbox, fetches URIs, creates the container and
// starts the executor process in it. It runs off the loop.
func (a *Agent) launch(ctx context.Context, spec launchSpec) (*proc.Process, isolation.Container, error) {
	// Not while a garbage collection removes an ancestor (gc.go).
	cred, err := switchCredential(spec.runAs)
	if err != nil {
		return nil, nil, err
	}
	spec.proc.Credential = cred
	a.gcMu.Lock()
	// The parents stay traversable (0755) for the executor's user.
	err = os.MkdirAll(filepath.Dir(spec.dir), 0o755)
	if err == nil {
		err = os.Mkdir(spec.dir, 0o750)
		if errors.Is(err, fs.ErrExist) {
			err = nil
		}
	}
	if err != nil {
		a.gcMu.Unlock()
		return nil, nil, fmt.Errorf("create sandbox %q: %w", spec.dir, err)
	}
	latest := filepath.Join(filepath.Dir(spec.dir), "latest")
	_ = os.Remove(latest)
	if err := os.Symlink(filepath.Base(spec.dir), latest); err != nil {
		a.log.Warn("cannot link latest run", "path", latest, "err", err)
	}
	a.gcMu.Unlock()
	a.attachSandbox(spec)
	for _, f := range []string{spec.proc.Stdout, spec.proc.Stderr} {
		if fh, err := os.OpenFile(f, os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			fh.Close()
		}
	}
	if len(spec.uris) > 0 {
		// Progress and errors go to the sandbox's stderr, as with Mesos.
		lf, err := os.OpenFile(spec.proc.Stderr, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, nil, fmt.Errorf("open %q: %w", spec.proc.Stderr, err)
		}
		err = a.fetcher.Fetch(ctx, spec.uris, spec.dir, spec.user, lf)
		lf.Close()
		if err != nil {
			return nil, nil, err
		}
	}
	// The sandbox and what the fetcher put in it belong to the executor's user.
	if err := chownSandbox(spec.dir, cred); err != nil {
		return nil, nil, fmt.Errorf("Failed to chown directory to '%s': %w", spec.runAs, err)
	}
	if spec.tty != nil {
		if err := a.openTaskTTY(&spec); err != nil {
			return nil, nil, fmt.Errorf("create the container's tty: %w", err)
		}
	}
	cid := filepath.Base(spec.dir)
	c, err := a.iso.Create(cid, spec.limits)
	if err != nil && spec.tty != nil {
		a.releaseTaskTTY(spec.containerID)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("create container: %w", err)
	}
	// The executor is in its container before it runs anything, so
	// nothing it forks can escape (isolation.Launch).
	p, err := isolation.Launch(c, spec.proc)
	if lerr, ok := errors.AsType[*isolation.LimitsError](err); ok && p != nil {
		a.log.Warn("cannot set resource limits of executor", "container_id", cid, "err", lerr)
		err = nil
	}
	if err != nil {
		_, _ = c.Destroy()
		if spec.tty != nil {
			a.releaseTaskTTY(spec.containerID)
		}
		return nil, nil, err
	}
	return p, c, nil
}

// attachSandbox makes a sandbox browsable through /files.
func (a *Agent) attachSandbox(spec launchSpec) {
	virtual := fmt.Sprintf("/frameworks/%s/executors/%s/runs/latest", spec.frameworkID, spec.executorID)
	for _, p := range []string{spec.dir, filepath.Join(filepath.Dir(spec.dir), "latest"), virtual} {
		a.files.Attach(p, spec.dir)
		a.owners.set(p, spec.user)
	}
}

func durationOf(d *mesos.DurationInfo) time.Duration {
	return time.Duration(d.GetNanoseconds())
}

// newUUID returns a random RFC 4122 version 4 UUID.
func newUUID() []byte {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u[:]
}

func newUUIDString() string { return uuidString(newUUID()) }

func uuidString(u []byte) string {
	if len(u) != 16 {
		return strconv.Quote(string(u))
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
