package executor

import (
	"time"

	"github.com/agora-dev/agora/internal/proc"
)

// What the default executor (internal/executor/defaultexec) shares with
// the command executor.

// BaseEnv is the environment the executor passes on to its tasks: its own,
// with the agent-given variables read through getenv and without those a
// task must not see.
func BaseEnv(getenv func(string) string) []string { return baseEnv(getenv) }

// MergeEnv returns base with over applied on top (later entries win) and
// the names in drop removed.
func MergeEnv(base, over, drop []string) []string { return mergeEnv(base, over, drop) }

// ExitMessage describes how a task's command ended, in Mesos's words.
func ExitMessage(x proc.Exit) string { return exitMessage(x) }

// ShutdownGrace is the kill grace period that fits in the agent's shutdown
// grace period.
func ShutdownGrace(agentGrace time.Duration) time.Duration { return shutdownGrace(agentGrace) }
