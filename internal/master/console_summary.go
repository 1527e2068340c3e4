package master

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/agora-dev/agora/internal/auth"
	"github.com/agora-dev/agora/internal/authz"
)

// consoleSummaryWait bounds how long the console's page waits for the
// loop to take its summary: a page without one asks for it itself.
const consoleSummaryWait = 250 * time.Millisecond

// consoleSummary is what the console's page carries of the cluster from
// the start (webui.Handler): /metrics/snapshot as JSON. It is nil, and the
// console asks for the snapshot itself, when this master does not lead,
// when the snapshot needs credentials (a browser sends none with the
// page) or the ACLs deny it to the request's subject, and when the loop
// does not take the request within consoleSummaryWait.
func (m *Master) consoleSummary(r *http.Request) []byte {
	const path = "/metrics/snapshot"
	if !m.elected.Load() || m.realmOf(path) != nil || !m.allowed(authz.GetEndpoints, auth.RequestSubject(r), authz.Object(path)) {
		return nil
	}
	snap := make(chan map[string]float64, 1) // the loop never waits for the page
	if !m.post(func() { snap <- m.metricsSnapshot() }) {
		return nil
	}
	t := time.NewTimer(consoleSummaryWait)
	defer t.Stop()
	select {
	case s := <-snap:
		b, err := json.Marshal(s) // escapes <, > and &: safe inside <script>
		if err != nil {
			return nil
		}
		return b
	case <-t.C:
		return nil
	case <-r.Context().Done():
		return nil
	}
}
