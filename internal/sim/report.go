package sim

import (
	"context"
	"fmt"
	"io"
	"time"
)

// Report prints the fleet's progress to w every interval while it
// changes, and once when every agent has subscribed, until ctx ends.
func (s *Sim) Report(ctx context.Context, w io.Writer, every time.Duration) {
	start := s.started()
	t := time.NewTicker(every)
	defer t.Stop()
	var last Stats
	allAt := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st := s.Stats()
		if st != last {
			fmt.Fprintf(w, "sim: %v: %d/%d agents subscribed, %d tasks active, %d launched, %d finished, %d killed\n",
				time.Since(start).Round(time.Second), st.Subscribed, st.Agents, st.Active, st.Launched, st.Finished, st.Killed)
		}
		if allAt == 0 && st.Subscribed == int64(st.Agents) {
			allAt = time.Since(start)
			fmt.Fprintf(w, "sim: all %d agents subscribed in %v\n", st.Agents, allAt.Round(time.Millisecond))
		}
		last = st
	}
}

// Summary prints what the fleet did; call it after Run returns.
func (s *Sim) Summary(w io.Writer) {
	st := s.Stats()
	fmt.Fprintf(w, "sim: %d agents ran for %v: %d subscriptions (%d broke while running), %d tasks launched, %d finished, %d killed, %d status updates sent\n",
		st.Agents, time.Since(s.started()).Round(time.Millisecond), st.Subscriptions, st.Disconnects,
		st.Launched, st.Finished, st.Killed, st.Updates)
}
