// Package framework is the scheduler-side plumbing the example frameworks
// share: their common flags (--master, --timeout, --serve, -v), a session
// that registers a framework, waits for its outcome within a deadline and
// always tears the framework down (TEARDOWN) afterwards, an HTTP server
// that hands the example's own binary to agents as its custom executor,
// and a queue that packs tasks into offers with one executor per agent.
package framework

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"os/user"
	"sync"
	"syscall"
	"time"

	"google.golang.org/protobuf/proto"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/sdk/scheduler"
)

// Exit statuses shared by the examples.
const (
	ExitOK          = 0
	ExitFailure     = 1
	ExitUsage       = 2
	ExitInterrupted = 130
)

// ErrInterrupted is returned by Session.Run when the user pressed Ctrl-C
// (SIGINT) or the program got SIGTERM.
var ErrInterrupted = errors.New("interrupted")

// Flags are the flags every example takes.
type Flags struct {
	Master  string        // --master: the master's host:port, or a comma list of a group's masters
	Timeout time.Duration // --timeout: bound on the whole run (0: none)
	Serve   string        // --serve: where to serve the executor binary
	Verbose bool          // -v: log the SDK drivers' diagnostics
}

// Define registers the common flags on fs; timeout is the default of
// --timeout.
func (f *Flags) Define(fs *flag.FlagSet, timeout time.Duration) {
	master := os.Getenv("AGORA_MASTER")
	if master == "" {
		master = "127.0.0.1:5050"
	}
	fs.StringVar(&f.Master, "master", master, "")
	fs.DurationVar(&f.Timeout, "timeout", timeout, "")
	fs.StringVar(&f.Serve, "serve", "127.0.0.1:0", "")
	fs.BoolVar(&f.Verbose, "v", false, "")
}

// CommonUsage documents the flags of Define, for the examples' -h texts.
const CommonUsage = `  --master=HOST:PORT[,HOST:PORT...]
                      the master, or every master of a group (the leader is
                      found and followed across failovers); default
                      $AGORA_MASTER, else 127.0.0.1:5050
  --timeout=DURATION  give up (and tear the framework down) after DURATION
  --serve=HOST:PORT   where to serve this program to the agents as the
                      executor (default 127.0.0.1:0: any free port on
                      loopback; use an address the agents can reach when
                      they run on other machines)
  -v                  log the scheduler driver's diagnostics to stderr
`

// Parse parses args with fs. It prints usage on -h (ok false, code 0) and
// a short error on a bad flag (ok false, code 2).
func Parse(fs *flag.FlagSet, args []string, usage string, stdout, stderr io.Writer) (ok bool, code int) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			_, _ = io.WriteString(stdout, usage)
			return false, ExitOK
		}
		return false, UsageError(stderr, fs.Name(), err)
	}
	return true, 0
}

// UsageError prints err the way every example reports a usage error and
// returns ExitUsage.
func UsageError(stderr io.Writer, name string, err error) int {
	fmt.Fprintf(stderr, "%s: %v\nRun '%s -h' for usage.\n", name, err, name)
	return ExitUsage
}

// Logger returns the logger for the SDK: silent unless verbose.
func (f *Flags) Logger(w io.Writer) *slog.Logger {
	if !f.Verbose {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Info returns the FrameworkInfo of an example: the current user, no
// failover timeout (the framework ends with the program).
func Info(name string) *mesos.FrameworkInfo {
	u := "nobody"
	if cu, err := user.Current(); err == nil && cu.Username != "" {
		u = cu.Username
	}
	fw := &mesos.FrameworkInfo{
		User:            proto.String(u),
		Name:            proto.String(name),
		FailoverTimeout: proto.Float64(0),
	}
	if h, err := os.Hostname(); err == nil {
		fw.Hostname = proto.String(h)
	}
	return fw
}

// Outcome is how a scheduler tells its Session that the work is over. The
// first Done wins.
type Outcome struct {
	once sync.Once
	ch   chan error
}

// NewOutcome returns an Outcome not yet done.
func NewOutcome() *Outcome { return &Outcome{ch: make(chan error, 1)} }

// Done records the outcome: nil for success.
func (o *Outcome) Done(err error) {
	o.once.Do(func() { o.ch <- err })
}

// Progress is implemented by schedulers that can say what they are waiting
// for; a timeout's error includes it.
type Progress interface {
	Progress() string
}

// Session runs one framework from registration to teardown.
type Session struct {
	Flags     Flags
	Framework *mesos.FrameworkInfo
	Scheduler scheduler.Scheduler
	Outcome   *Outcome
	Stderr    io.Writer // for -v logging; nil means os.Stderr
	// Cleanup, when set, runs before the teardown while the driver is
	// still subscribed (e.g. to kill a task and wait for TASK_KILLED);
	// its context is bounded.
	Cleanup func(ctx context.Context, d *scheduler.Driver)
}

// Bounds on the end of a session.
const (
	cleanupWait  = 20 * time.Second
	teardownWait = 10 * time.Second
)

// Run registers the framework and waits until the scheduler reports its
// outcome, --timeout passes, the program is interrupted (SIGINT/SIGTERM)
// or the master ends the framework. Whatever happened, it then tears the
// framework down, so that the master forgets it and kills its tasks, and
// returns the outcome.
func (s *Session) Run(ctx context.Context) error {
	ctx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	if s.Flags.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, s.Flags.Timeout, errTimeout)
		defer cancel()
	}
	stderr := s.Stderr
	if stderr == nil {
		stderr = os.Stderr
	}
	g := &guard{Scheduler: s.Scheduler, outcome: s.Outcome}
	d, err := scheduler.NewDriver(scheduler.Config{
		Master:    s.Flags.Master,
		Framework: s.Framework,
		Logger:    s.Flags.Logger(stderr),
	}, g)
	if err != nil {
		return err
	}
	ran := make(chan error, 1)
	go func() { ran <- d.Run(context.Background()) }()

	var result error
	runEnded := false
	select {
	case result = <-s.Outcome.ch:
	case err := <-ran:
		runEnded = true
		result = err
		if result == nil {
			result = errors.New("the driver stopped")
		}
	case <-ctx.Done():
		result = s.interruption(ctx, d)
	}
	if !runEnded {
		if s.Cleanup != nil && d.Connected() {
			cctx, cancel := context.WithTimeout(context.Background(), cleanupWait)
			s.Cleanup(cctx, d)
			cancel()
		}
		if err := d.Stop(false); err != nil && !errors.Is(err, scheduler.ErrNotSubscribed) {
			fmt.Fprintf(stderr, "%s: tearing the framework down: %v\n", s.Framework.GetName(), err)
		}
		select {
		case <-ran:
		case <-time.After(teardownWait):
			fmt.Fprintf(stderr, "%s: the scheduler driver did not stop within %v\n", s.Framework.GetName(), teardownWait)
		}
	}
	return result
}

var errTimeout = errors.New("timeout")

// interruption explains why ctx ended.
func (s *Session) interruption(ctx context.Context, d *scheduler.Driver) error {
	if !errors.Is(context.Cause(ctx), errTimeout) {
		return ErrInterrupted
	}
	msg := fmt.Sprintf("timed out after %v", s.Flags.Timeout)
	switch {
	case !d.Connected() && d.LastError() != nil:
		msg += fmt.Sprintf(": could not subscribe to the master at %s: %v", s.Flags.Master, d.LastError())
	case !d.Connected():
		msg += fmt.Sprintf(": not subscribed to the master at %s", s.Flags.Master)
	default:
		if p, ok := s.Scheduler.(Progress); ok {
			msg += ": " + p.Progress()
		}
	}
	return errors.New(msg)
}

// guard wraps an example's scheduler: a master ERROR or a second
// registration (the master removed the framework and its tasks when the
// connection broke, since failover_timeout is 0) ends the session.
type guard struct {
	scheduler.Scheduler
	outcome *Outcome
	mu      sync.Mutex
	regs    int
}

func (g *guard) Registered(d *scheduler.Driver, id *mesos.FrameworkID, mi *mesos.MasterInfo) {
	g.mu.Lock()
	g.regs++
	n := g.regs
	g.mu.Unlock()
	if n > 1 {
		g.outcome.Done(errors.New("lost the connection to the master, which removed the framework and its tasks"))
		return
	}
	g.Scheduler.Registered(d, id, mi)
}

func (g *guard) Error(d *scheduler.Driver, message string) {
	g.Scheduler.Error(d, message)
	g.outcome.Done(fmt.Errorf("the master ended the framework: %s", message))
}

// Exit turns Session.Run's error into an exit status, printing it.
func Exit(stderr io.Writer, name string, err error) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, ErrInterrupted):
		fmt.Fprintf(stderr, "%s: interrupted; framework torn down\n", name)
		return ExitInterrupted
	default:
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return ExitFailure
	}
}

// Terminal reports whether a task state is final.
func Terminal(s mesos.TaskState) bool {
	switch s {
	case mesos.TaskState_TASK_FINISHED, mesos.TaskState_TASK_FAILED, mesos.TaskState_TASK_KILLED,
		mesos.TaskState_TASK_LOST, mesos.TaskState_TASK_ERROR, mesos.TaskState_TASK_DROPPED,
		mesos.TaskState_TASK_GONE, mesos.TaskState_TASK_GONE_BY_OPERATOR, mesos.TaskState_TASK_UNKNOWN:
		return true
	}
	return false
}

// Describe renders a status for a person: "TASK_FAILED: message".
func Describe(st *mesos.TaskStatus) string {
	s := st.GetState().String()
	if m := st.GetMessage(); m != "" {
		s += ": " + m
	}
	return s
}
