// Package webui is Agora's web console: a small single-page application
// (HTML, CSS and plain JavaScript, no build step) embedded in the binary and
// served by the master at / and /static/.
//
// The console talks only to the master it was loaded from: the operator
// API's SUBSCRIBE stream for live state, /metrics/snapshot for resource
// totals, and the master's sandbox proxy (/agora/v1/sandbox/...) for task
// sandboxes, so a browser never needs to reach an agent.
package webui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var assets embed.FS

// ContentSecurityPolicy is sent with every console response: scripts,
// styles and connections only from the master's own origin, no inline
// script, no framing.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"

// policy is ContentSecurityPolicy with the other masters of the group
// allowed as connect sources: a console whose master died asks them who
// leads now (GET /agora/v1/leader) before it moves to the leader.
func policy(group []string) string {
	if len(group) == 0 {
		return ContentSecurityPolicy
	}
	srcs := "'self'"
	for _, m := range group {
		srcs += " http://" + m + " https://" + m
	}
	return strings.Replace(ContentSecurityPolicy, "connect-src 'self'", "connect-src "+srcs, 1)
}

type asset struct {
	body []byte
	etag string
	ct   string
}

// Handler serves the console: index.html at / and the assets under /static/.
// Everything else is 404.
//
// group lists the masters of the group (host:port); the console may ask
// them where the leader is.
func Handler(group ...string) http.Handler {
	csp := policy(group)
	files := map[string]asset{}
	err := fs.WalkDir(assets, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		files["/"+p] = asset{body: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, ct: ct}
		return nil
	})
	if err != nil {
		panic("webui: embedded assets: " + err.Error()) // the embed is fixed at build time
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if p == "/" {
			p = "/static/index.html"
		}
		a, ok := files[p]
		if !ok || strings.Contains(p, "..") {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Type", a.ct)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
	})
}
