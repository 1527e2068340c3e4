package sim

import (
	"cmp"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"
)

// leaderCheck is how often, with several masters, the fleet's one
// detector asks a master who leads.
const leaderCheck = 250 * time.Millisecond

// leaderHint is what the detector knows: the master that last confirmed
// it leads. One detector serves every agent (the real agent runs one per
// agent), so that after a failover the agents go straight to the new
// leader rather than round the list.
type leaderHint struct {
	mu sync.Mutex
	// +checklocks:mu
	addr string
	// +checklocks:mu
	term uint64
	// +checklocks:mu
	changed chan struct{} // closed when addr changes
}

func (h *leaderHint) get() (string, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.changed == nil {
		h.changed = make(chan struct{})
	}
	return h.addr, h.changed
}

func (h *leaderHint) set(addr string, term uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if addr == h.addr || term < h.term {
		return
	}
	h.addr, h.term = addr, term
	if h.changed != nil {
		close(h.changed)
	}
	h.changed = make(chan struct{})
}

// detect asks the masters, round-robin, who leads, until ctx ends.
func (s *Sim) detect(ctx context.Context) {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{IdleConnTimeout: 30 * time.Second},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer client.CloseIdleConnections()
	t := time.NewTicker(leaderCheck)
	defer t.Stop()
	for i := 0; ; i++ {
		addr := s.cfg.Masters[i%len(s.cfg.Masters)]
		if info, ok := askLeader(ctx, client, addr); ok && info.Elected {
			s.hint.set(cmp.Or(info.Self, addr), info.Term)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

type leaderInfo struct {
	Self    string `json:"self"`
	Elected bool   `json:"elected"`
	Term    uint64 `json:"term"`
}

func askLeader(ctx context.Context, client *http.Client, addr string) (leaderInfo, bool) {
	var info leaderInfo
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/agora/v1/leader", nil)
	if err != nil {
		return info, false
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return info, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return info, false
	}
	return info, json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&info) == nil
}
