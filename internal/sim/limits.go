package sim

import (
	"fmt"
	"syscall"
)

// openFilesNeeded is how many file descriptors a fleet needs: one
// connection per agent's subscription, the shared connections for calls
// and PONGs to each master, and a margin for the rest of the process.
func openFilesNeeded(cfg Config) uint64 {
	return uint64(cfg.Agents) + uint64((cfg.MaxConns+16)*len(cfg.Masters)) + 64
}

// checkOpenFiles refuses a fleet that cannot have its connections: past
// the limit, subscriptions fail with "too many open files" and retry
// forever, and the master sees agents connect and vanish without a word.
// Go raised the soft limit to the hard one at start-up, so the hard limit
// is what there is.
func checkOpenFiles(cfg Config) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return nil // nothing to check against
	}
	need := openFilesNeeded(cfg)
	if lim.Cur >= need {
		return nil
	}
	if lim.Max >= need {
		lim.Cur = need
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
			return nil
		}
	}
	return fmt.Errorf("--agents=%d needs about %d open files (one connection per agent) but this process may open %d (ulimit -n): "+
		"raise the limit, or run the agents in several `agora sim` processes of at most %d each; "+
		"the master needs one per agent too", cfg.Agents, need, lim.Cur, int64(lim.Cur)-int64(need-uint64(cfg.Agents)))
}
