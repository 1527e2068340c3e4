// Command agora-supervisor supervises one command task for an agent that
// runs command tasks itself (--command_executor=agent): it starts the
// task's command, reports whether it started and records how it ended.
// See internal/supervise for its protocol; agents start it, users do not.
package main

import (
	"os"
	"runtime"

	"github.com/agora-dev/agora/internal/supervise"
)

func main() {
	// It only waits: one P keeps its threads few.
	runtime.GOMAXPROCS(1)
	os.Exit(supervise.Main(os.Args[1:]))
}
