package master

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/agora-dev/agora/internal/webui"
)

// The web console and the master-side proxy it reads sandboxes through, so
// that a browser never needs to reach an agent:
//
//	GET /agora/v1/sandbox/{agent_id}/files/{browse|read|download}?path=&offset=&length=
//	GET /agora/v1/sandbox/{agent_id}/state
//	GET /agora/v1/leader
//
// The proxy forwards only to the endpoint an agent registered with, only
// those paths, and only the query parameters the files API takes: it is not
// an open proxy.

const (
	// sandboxTimeout bounds a proxied browse, read or state request.
	sandboxTimeout = 10 * time.Second
	// sandboxMaxBody bounds a proxied JSON answer (downloads stream unbounded).
	sandboxMaxBody = 32 << 20
)

// agentIDPattern is what an agent id may look like ("<master-id>-S<n>" for
// ids Agora assigns); anything else is refused before the loop is asked.
var agentIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,200}$`)

// sandboxTransport talks to agents directly (never through an HTTP proxy
// from the environment) and bounds the wait for response headers.
func sandboxTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		ResponseHeaderTimeout: sandboxTimeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       30 * time.Second,
	}
}

func (m *Master) webuiRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /agora/v1/sandbox/{agent_id}/files/{op}", m.handleSandboxFiles)
	mux.HandleFunc("GET /agora/v1/sandbox/{agent_id}/state", m.handleSandboxState)
	mux.HandleFunc("GET /agora/v1/leader", m.handleLeader)
	ui := webui.Handler(m.consoleSummary, m.cfg.Masters...)
	mux.Handle("GET /{$}", ui)
	mux.Handle("GET /static/", ui)
}

// agentEndpoint returns the host:port an agent registered with, or "" for
// an agent this master does not know.
func (m *Master) agentEndpoint(id string) (string, error) {
	var ep string
	err := m.do(func() {
		if a := m.agents[id]; a != nil {
			ep = a.endpoint
		}
	})
	return ep, err
}

func (m *Master) sandboxAgent(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("agent_id")
	if !agentIDPattern.MatchString(id) {
		textError(w, http.StatusBadRequest, "Invalid agent id")
		return "", false
	}
	ep, err := m.agentEndpoint(id)
	if err != nil {
		textError(w, http.StatusServiceUnavailable, "Master is stopping")
		return "", false
	}
	if ep == "" {
		textError(w, http.StatusNotFound, "Unknown agent "+id)
		return "", false
	}
	return ep, true
}

func (m *Master) handleSandboxFiles(w http.ResponseWriter, r *http.Request) {
	op := r.PathValue("op")
	if op != "browse" && op != "read" && op != "download" {
		http.NotFound(w, r)
		return
	}
	ep, ok := m.sandboxAgent(w, r)
	if !ok {
		return
	}
	in := r.URL.Query()
	out := url.Values{}
	for _, k := range []string{"path", "offset", "length"} {
		if v, ok := in[k]; ok && len(v) > 0 {
			out.Set(k, v[0])
		}
	}
	if out.Get("path") == "" {
		textError(w, http.StatusBadRequest, "Expecting 'path' to be present")
		return
	}
	m.forward(w, r, m.cfg.TLS.Scheme()+"://"+ep+"/files/"+op+"?"+out.Encode(), op == "download")
}

func (m *Master) handleSandboxState(w http.ResponseWriter, r *http.Request) {
	ep, ok := m.sandboxAgent(w, r)
	if !ok {
		return
	}
	m.forward(w, r, m.cfg.TLS.Scheme()+"://"+ep+"/state", false)
}

// forward GETs target from an agent and relays its status, a few headers and
// its body. A download streams for as long as the client reads it; anything
// else is bounded in time and size.
func (m *Master) forward(w http.ResponseWriter, r *http.Request, target string, stream bool) {
	ctx := r.Context()
	if !stream {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, sandboxTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		textError(w, http.StatusBadRequest, "Invalid request")
		return
	}
	// The caller's credentials go on to the agent: with the agents'
	// read-only realm on, the operator's principal is checked there too
	// (the master holds no credentials of its own for agents).
	if az := r.Header.Get("Authorization"); az != "" {
		req.Header.Set("Authorization", az)
	}
	if rg := r.Header.Get("Range"); rg != "" && stream {
		req.Header.Set("Range", rg)
	}
	resp, err := m.sandboxRT.RoundTrip(req)
	if err != nil {
		m.log.Debug("sandbox proxy: agent unreachable", "url", target, "err", err)
		textError(w, http.StatusBadGateway, "Agent unreachable: "+strings.TrimPrefix(err.Error(), "Get "))
		return
	}
	defer resp.Body.Close()
	h := w.Header()
	for _, k := range []string{"Content-Type", "Content-Disposition", "Last-Modified", "Content-Range", "Accept-Ranges"} {
		if v := resp.Header.Get(k); v != "" {
			h.Set(k, v)
		}
	}
	if stream && resp.Header.Get("Content-Length") != "" {
		h.Set("Content-Length", resp.Header.Get("Content-Length"))
	}
	if ct := h.Get("Content-Type"); ct == "" || strings.Contains(ct, "javascript") || strings.Contains(ct, "html") {
		// Never let agent content run as script or markup on the master's origin.
		h.Set("Content-Type", "application/octet-stream")
	}
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(resp.StatusCode)
	var body io.Reader = resp.Body
	if !stream {
		body = io.LimitReader(resp.Body, sandboxMaxBody)
	}
	_, _ = io.Copy(w, body)
}
