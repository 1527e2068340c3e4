// Package cli implements agora's user-facing client commands, which talk to
// a cluster only through its public HTTP APIs. So far: `agora run`, which
// runs one command as a task, like mesos-execute, but follows it: it prints
// every state change, streams the task's stdout and stderr while it runs,
// and exits with the command's exit status.
package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/sdk/scheduler"
)

// Exit statuses of `agora run` other than the command's own.
const (
	exitFailure     = 1
	exitUsage       = 2
	exitInterrupted = 130 // 128 + SIGINT, as shells report Ctrl-C
)

// Bounds on the phases of `agora run`.
var (
	killWait     = 15 * time.Second // for the terminal state after a kill
	drainWait    = 10 * time.Second // for the last of the task's output
	teardownWait = 5 * time.Second  // for the driver to stop
	pollInterval = 250 * time.Millisecond
	// While no offer fits, say why after whyFirst, then every whyEvery.
	whyFirst = 3 * time.Second
	whyEvery = 10 * time.Second
)

const runUsage = `usage: agora run [flags] [--] COMMAND [ARG...]

Runs COMMAND once as a task on the cluster, prints each change of its state,
streams its stdout and stderr, and exits with its exit status (0 on
TASK_FINISHED, the command's status on TASK_FAILED, 128+N if it was killed by
signal N, 1 if it was killed, lost or refused, 2 for usage errors, 130 when
interrupted). Ctrl-C kills the task. While no offer fits, it says why after 3s
and every 10s: no agents, the largest agent's free resources against what the
task asks, or the other frameworks whose offers hold the resources. The framework ("agora-run") is torn down
when agora run exits, so nothing is left running.

By default COMMAND is executed directly with ARGs as its argv; with --shell the
words are joined into one string run by /bin/sh -c.

Flags:
  --master=HOST:PORT[,HOST:PORT...]
                      master to use, or every master of a group (the leader
                      is found and followed across failovers); default
                      $AGORA_MASTER, else 127.0.0.1:5050
  --cpus=N            CPUs for the task (default 0.1)
  --mem=MB            memory for the task in MB (default 32)
  --disk=MB           disk for the task in MB (default 0)
  --name=NAME         task name (default: the command's base name)
  --role=ROLE         role to take resources from (default *)
  --env K=V           environment variable for the task (repeatable)
  --shell             run the command through /bin/sh -c
  --timeout=DURATION  give up if no offer fits within DURATION (e.g. 30s;
                      default: wait forever)
  --codec=json|protobuf  wire encoding (default protobuf)
  -v                  log the scheduler driver's diagnostics to stderr
` + credentialsHelp + `
Examples:
  agora run -- uname -a
  agora run --cpus=1 --mem=256 --env GREETING=hi --shell -- 'echo $GREETING; sleep 5'
`

// RunUsage writes the help text of `agora run`.
func RunUsage(w io.Writer) { _, _ = io.WriteString(w, runUsage) }

type envFlag []*mesos.Environment_Variable

func (e *envFlag) String() string { return "" }

func (e *envFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want K=V, got %q", v)
	}
	*e = append(*e, &mesos.Environment_Variable{Name: proto.String(k), Value: proto.String(val)})
	return nil
}

type runOptions struct {
	master  string
	want    scheduler.Resources
	name    string
	role    string
	env     envFlag
	shell   bool
	timeout time.Duration
	codec   codec.Codec
	verbose bool
	command []string
	creds   credentials
}

// parseRun parses the arguments of `agora run`; help reports -h.
func parseRun(args []string) (opts runOptions, help bool, err error) {
	fs := flag.NewFlagSet("agora run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	master := os.Getenv("AGORA_MASTER")
	if master == "" {
		master = "127.0.0.1:5050"
	}
	fs.StringVar(&opts.master, "master", master, "")
	fs.Float64Var(&opts.want.Cpus, "cpus", 0.1, "")
	fs.Float64Var(&opts.want.Mem, "mem", 32, "")
	fs.Float64Var(&opts.want.Disk, "disk", 0, "")
	fs.StringVar(&opts.name, "name", "", "")
	fs.StringVar(&opts.role, "role", "*", "")
	fs.Var(&opts.env, "env", "")
	fs.BoolVar(&opts.shell, "shell", false, "")
	fs.DurationVar(&opts.timeout, "timeout", 0, "")
	codecName := fs.String("codec", "protobuf", "")
	fs.BoolVar(&opts.verbose, "v", false, "")
	opts.creds.flags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return opts, true, nil
		}
		return opts, false, err
	}
	switch *codecName {
	case "protobuf", "proto":
		opts.codec = codec.Protobuf
	case "json":
		opts.codec = codec.JSON
	default:
		return opts, false, fmt.Errorf("unknown codec %q (want json or protobuf)", *codecName)
	}
	if opts.want.Cpus < 0 || opts.want.Mem < 0 || opts.want.Disk < 0 {
		return opts, false, errors.New("resources must not be negative")
	}
	if opts.want.Cpus == 0 && opts.want.Mem == 0 {
		return opts, false, errors.New("a task needs some cpus or mem")
	}
	if opts.timeout < 0 {
		return opts, false, errors.New("--timeout must not be negative")
	}
	opts.command = fs.Args()
	if len(opts.command) == 0 || opts.command[0] == "" {
		return opts, false, errors.New("no command given")
	}
	if opts.name == "" {
		opts.name = filepath.Base(opts.command[0])
		if opts.shell {
			opts.name = "sh"
		}
	}
	return opts, false, nil
}

// taskIDFor makes a valid, unique task id from a task name.
func taskIDFor(name string) string {
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, name)
	if len(clean) > 200 {
		clean = clean[:200]
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return clean + "-" + hex.EncodeToString(b[:])
}

func currentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "nobody"
}

// syncWriter serialises writes from the driver's and the streamer's
// goroutines.
type syncWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (s syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// Run implements `agora run`. args are the arguments after "run". The
// caller cancels ctx on SIGINT/SIGTERM; Run then kills the task. It returns
// the process exit status.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, help, err := parseRun(args)
	if help {
		RunUsage(stdout)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "agora run: %v\nRun 'agora run -h' for usage.\n", err)
		return exitUsage
	}
	var mu sync.Mutex
	stdout, stderr = syncWriter{&mu, stdout}, syncWriter{&mu, stderr}
	logger := slog.New(slog.DiscardHandler)
	if opts.verbose {
		logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	r := newRunner(opts, stdout, stderr, logger)
	return r.run(ctx)
}
