// Command agora-executor is Agora's built-in executors on their own: the
// command executor (`agora-executor executor`, or no argument) and the
// default executor for task groups (`agora-executor default-executor`),
// the same code as `agora executor` and `agora default-executor`.
//
// Agents start one executor process per command task. This binary links
// only the executors (about half of agora's size and none of the master's,
// the CLI's or the metrics' package initialisation), so it starts in a
// fraction of the time; an agent uses it when it lies next to the agora
// binary (or in --launcher_dir) and falls back to `agora executor`.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/agora-dev/agora/internal/executor"
	"github.com/agora-dev/agora/internal/executor/defaultexec"
	"github.com/agora-dev/agora/internal/supervise"
)

func main() {
	// One executor per task: a single P keeps its threads and context
	// switches few (it mostly waits on its task and the agent).
	runtime.GOMAXPROCS(1)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	mode := "executor"
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	switch mode {
	case "executor":
		os.Exit(executor.Main(ctx, os.Getenv, logger))
	case "default-executor":
		os.Exit(defaultexec.Main(ctx, os.Getenv, logger))
	case "supervise":
		os.Exit(supervise.Main(os.Args[2:]))
	default:
		fmt.Fprintf(os.Stderr, "Usage: agora-executor [executor|default-executor|supervise]\n\n"+
			"The built-in executors, started by agents with the MESOS_* environment of the executor API.\n")
		os.Exit(2)
	}
}
