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
	"errors"
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

// summaryMark is where index.html carries the summary (Handler).
const summaryMark = "<!--agora-summary-->"

// Handler serves the console: index.html at / and the assets under /static/.
// Everything else is 404.
//
// summary, when not nil, returns what the page carries of the cluster from
// the start: the master's /metrics/snapshot as JSON, for the request of
// the page, or nil when it has none for it. The page carries it in a data
// block (<script type="application/json" id="agora-summary">, which is not
// run: the policy still allows no inline script), so the overview's
// summary shows as soon as app.js runs, with no request of its own.
//
// group lists the masters of the group (host:port); the console may ask
// them where the leader is.
func Handler(summary func(*http.Request) []byte, group ...string) http.Handler {
	csp := policy(group)
	files := map[string]asset{}
	var head, tail []byte // index.html before and after its summary
	err := fs.WalkDir(assets, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		if p == "static/index.html" {
			i := bytes.Index(b, []byte(summaryMark))
			if i < 0 {
				return errors.New("index.html has no " + summaryMark)
			}
			head, tail = b[:i:i], b[i+len(summaryMark):]
			b = append(head, tail...)
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
		if p == "/static/index.html" && summary != nil {
			// JSON without '<' cannot end the block (encoding/json
			// escapes it): anything else is not put in the page.
			if js := summary(r); js != nil && !bytes.ContainsRune(js, '<') {
				// The page of this moment: not to be cached or revalidated.
				h.Set("Cache-Control", "no-store")
				page := make([]byte, 0, len(a.body)+len(js)+80)
				page = append(page, head...)
				page = append(page, `<script type="application/json" id="agora-summary">`...)
				page = append(append(page, js...), "</script>"...)
				_, _ = w.Write(append(page, tail...))
				return
			}
		}
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
	})
}
