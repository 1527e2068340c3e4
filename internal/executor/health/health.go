// Package health runs a task's health check (mesos.v1.HealthCheck) the way
// Mesos's health checker does, for the command executor and the default
// executor:
//
//   - COMMAND runs the check's command in the task's sandbox with the task's
//     environment (plus the check command's own); exit status 0 is healthy.
//   - HTTP sends GET <scheme>://127.0.0.1:<port><path>; a status in
//     200–399 is healthy (Mesos's rule).
//   - TCP connects to 127.0.0.1:<port>; an established connection is
//     healthy.
//
// The first check runs delay_seconds after Run starts, then one every
// interval_seconds; each gets timeout_seconds (0 means no timeout).
// Failures within grace_period_seconds of the start are ignored until the
// first success. Run reports the first success, the first success after
// failures, the first counted failure of a streak, and the failure that
// reaches consecutive_failures, with Kill set; after that it stops.
package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/internal/proc"
)

// Result is a change of a task's health as Run reports it.
type Result struct {
	Healthy bool
	// ConsecutiveFailures counts the counted failures of the current streak.
	ConsecutiveFailures int
	// Kill is set when the task failed consecutive_failures checks in a row
	// and must be killed; it is the last report.
	Kill bool
	// Message says why the last check failed; empty when it succeeded.
	Message string
}

// Options is what a check needs of the task.
type Options struct {
	// Dir is the working directory of COMMAND checks (the task's sandbox).
	Dir string
	// Env is the task's environment ("NAME=value"), for COMMAND checks.
	Env []string
	// Host is the address HTTP and TCP checks reach; default 127.0.0.1.
	Host   string
	Logger *slog.Logger
}

// Validate reports what is wrong with a health check, the way Mesos's
// master rejects it.
func Validate(hc *mesos.HealthCheck) error {
	switch typeOf(hc) {
	case mesos.HealthCheck_COMMAND:
		if hc.GetCommand() == nil || (hc.GetCommand().GetShell() && hc.GetCommand().GetValue() == "") {
			return errors.New("health check of type COMMAND has no command")
		}
	case mesos.HealthCheck_HTTP:
		if hc.GetHttp() == nil || hc.GetHttp().GetPort() == 0 || hc.GetHttp().GetPort() > 65535 {
			return errors.New("health check of type HTTP needs a port in 1-65535")
		}
		if s := hc.GetHttp().GetScheme(); s != "" && s != "http" && s != "https" {
			return fmt.Errorf("health check of type HTTP has unsupported scheme %q", s)
		}
	case mesos.HealthCheck_TCP:
		if hc.GetTcp() == nil || hc.GetTcp().GetPort() == 0 || hc.GetTcp().GetPort() > 65535 {
			return errors.New("health check of type TCP needs a port in 1-65535")
		}
	default:
		return errors.New("health check has no type and no command, http or tcp to infer it from")
	}
	for name, v := range map[string]float64{
		"delay_seconds": hc.GetDelaySeconds(), "interval_seconds": hc.GetIntervalSeconds(),
		"timeout_seconds": hc.GetTimeoutSeconds(), "grace_period_seconds": hc.GetGracePeriodSeconds(),
	} {
		if v < 0 {
			return fmt.Errorf("health check's %s must be non-negative, not %g", name, v)
		}
	}
	return nil
}

// typeOf is the check's type, inferred from its payload when unset (as
// Mesos did before 'type' was required).
func typeOf(hc *mesos.HealthCheck) mesos.HealthCheck_Type {
	if t := hc.GetType(); t != mesos.HealthCheck_UNKNOWN {
		return t
	}
	switch {
	case hc.GetCommand() != nil:
		return mesos.HealthCheck_COMMAND
	case hc.GetHttp() != nil:
		return mesos.HealthCheck_HTTP
	case hc.GetTcp() != nil:
		return mesos.HealthCheck_TCP
	}
	return mesos.HealthCheck_UNKNOWN
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// Run checks until ctx ends or it reports Kill, calling report on each
// change of health (see the package comment). report runs on Run's
// goroutine. Run returns at once when the check is invalid.
func Run(ctx context.Context, hc *mesos.HealthCheck, opts Options, report func(Result)) error {
	if err := Validate(hc); err != nil {
		return err
	}
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	grace := seconds(hc.GetGracePeriodSeconds())
	interval := seconds(hc.GetIntervalSeconds())
	threshold := int(hc.GetConsecutiveFailures())
	initializing := true // no success yet
	everReported := false
	failures := 0

	timer := time.NewTimer(seconds(hc.GetDelaySeconds()))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		err := checkOnce(ctx, hc, opts)
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case err == nil:
			if initializing || failures > 0 || !everReported {
				report(Result{Healthy: true})
				everReported = true
			}
			initializing = false
			failures = 0
		case initializing && time.Since(start) <= grace:
			log.Info("health check failed during its grace period; ignored", "error", err)
		default:
			failures++
			log.Info("health check failed", "consecutive_failures", failures, "error", err)
			kill := failures >= threshold
			if failures == 1 || kill {
				report(Result{Healthy: false, ConsecutiveFailures: failures, Kill: kill, Message: err.Error()})
				everReported = true
			}
			if kill {
				return nil
			}
		}
		timer.Reset(interval)
	}
}

// checkOnce runs one check within its timeout.
func checkOnce(ctx context.Context, hc *mesos.HealthCheck, opts Options) error {
	if t := seconds(hc.GetTimeoutSeconds()); t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	switch typeOf(hc) {
	case mesos.HealthCheck_COMMAND:
		return checkCommand(ctx, hc.GetCommand(), opts)
	case mesos.HealthCheck_HTTP:
		return checkHTTP(ctx, hc.GetHttp(), opts.Host)
	default:
		return checkTCP(ctx, hc.GetTcp(), opts.Host)
	}
}

func checkCommand(ctx context.Context, cmd *mesos.CommandInfo, opts Options) error {
	env := append([]string(nil), opts.Env...)
	for _, v := range cmd.GetEnvironment().GetVariables() {
		if v.GetType() == mesos.Environment_Variable_VALUE {
			env = append(env, v.GetName()+"="+v.GetValue())
		}
	}
	spec := proc.Spec{Env: env, Dir: opts.Dir, Stdout: "/dev/null", Stderr: "/dev/null"}
	if cmd.GetShell() {
		spec.Path, spec.Args = "/bin/sh", []string{"sh", "-c", cmd.GetValue()}
	} else {
		spec.Path, spec.Args = cmd.GetValue(), cmd.GetArguments()
	}
	p, err := proc.Start(spec)
	if err != nil {
		return fmt.Errorf("health check command could not start: %w", err)
	}
	select {
	case <-p.Done():
	case <-ctx.Done():
		_ = p.Signal(syscall.SIGKILL)
		<-p.Done()
		return fmt.Errorf("health check command timed out: %w", ctx.Err())
	}
	if x := p.Exit(); x.Err != nil || x.Signaled || x.Code != 0 {
		return fmt.Errorf("health check command: %s", x)
	}
	return nil
}

func checkHTTP(ctx context.Context, h *mesos.HealthCheck_HTTPCheckInfo, host string) error {
	scheme := h.GetScheme()
	if scheme == "" {
		scheme = "http"
	}
	path := h.GetPath()
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	url := scheme + "://" + net.JoinHostPort(host, strconv.Itoa(int(h.GetPort()))) + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("health check URL %s: %w", url, err)
	}
	client := &http.Client{
		// Mesos's curl does not follow redirects: a 3xx is an answer.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("health check GET %s: %w", url, err)
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 399 {
		return fmt.Errorf("health check GET %s returned %s, not 200-399", url, resp.Status)
	}
	return nil
}

func checkTCP(ctx context.Context, t *mesos.HealthCheck_TCPCheckInfo, host string) error {
	addr := net.JoinHostPort(host, strconv.Itoa(int(t.GetPort())))
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("health check connect to %s: %w", addr, err)
	}
	return c.Close()
}
