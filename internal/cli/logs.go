package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
)

const logsUsage = `usage: agora logs [-f] [--stderr] [--master=HOST:PORT] TASK_ID

Prints a task's stdout (or stderr) from its sandbox, read through its
agent's /files/read. With -f it keeps printing what the task writes until
the task has ended and the file is drained, or Ctrl-C. TASK_ID may be any
unique prefix of the id.

Flags:
  -f                  follow the file
  --stderr            the task's stderr instead of its stdout
  --master=HOST:PORT  master to ask (default $AGORA_MASTER, else 127.0.0.1:5050)
`

// Logs implements `agora logs`.
func Logs(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var follow, useStderr bool
	return runOp(ctx, "logs", logsUsage, args, stdout, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&follow, "f", false, "")
		fs.BoolVar(&useStderr, "stderr", false, "")
	}, func(ctx context.Context, c *opClient, args []string) error {
		if len(args) != 1 {
			return usageError("want one TASK_ID")
		}
		err := logs(ctx, c, args[0], follow, useStderr)
		if errors.Is(err, context.Canceled) {
			return nil // Ctrl-C ends -f
		}
		return err
	})
}

func logs(ctx context.Context, c *opClient, prefix string, follow, useStderr bool) error {
	t, d, err := lookupTask(ctx, c, prefix)
	if err != nil {
		return err
	}
	if d.AgentAddress == "" {
		return fmt.Errorf("task %s ran on agent %s, which the master no longer knows; its sandbox cannot be read", d.ID, d.AgentID)
	}
	out := newOutput(c.scheme+"://"+d.AgentAddress, d.FrameworkID, d.ID, nil, c.stdout, c.stdout, slog.New(slog.DiscardHandler))
	out.client = c.http
	f := &out.files[0]
	if useStderr {
		f = &out.files[1]
	}
	terminal := mesos.IsTerminal(t.GetState())
	for d.Sandbox == "" {
		if !follow || terminal {
			return fmt.Errorf("task %s has no sandbox on agent %s (%s) yet or any more; state %s", d.ID, d.AgentHostname, d.AgentAddress, d.State)
		}
		if err := pause(ctx); err != nil {
			return err
		}
		if t, d, err = lookupTask(ctx, c, d.ID); err != nil {
			return err
		}
		terminal = mesos.IsTerminal(t.GetState())
	}
	out.dir = d.Sandbox
	for {
		n, err := out.read(ctx, f)
		if err != nil {
			return fmt.Errorf("reading %s of task %s from agent %s: %v", f.name, d.ID, d.AgentAddress, err)
		}
		if n > 0 {
			continue
		}
		// Drained for now.
		if !follow || terminal {
			return nil
		}
		if err := pause(ctx); err != nil {
			return err
		}
		// Learn whether the task ended; one more pass drains the rest.
		if t, _, err := lookupTask(ctx, c, d.ID); err == nil && mesos.IsTerminal(t.GetState()) {
			terminal = true
		}
	}
}

// pause waits one poll interval, or until ctx ends.
func pause(ctx context.Context) error {
	timer := time.NewTimer(pollInterval)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
