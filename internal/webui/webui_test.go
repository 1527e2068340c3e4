package webui

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Result(), string(b)
}

// TestSummaryBlock: the page carries the summary it is given in a data
// block, is then not cacheable, and carries none when there is none or
// when it could end the block.
func TestSummaryBlock(t *testing.T) {
	const block = `<script type="application/json" id="agora-summary">`
	for _, tc := range []struct {
		summary []byte
		want    string
	}{
		{[]byte(`{"master/elected":1}`), block + `{"master/elected":1}</script>`},
		{nil, ""},
		{[]byte(`{"x":"</script><script>alert(1)</script>"}`), ""},
	} {
		h := Handler(func(*http.Request) []byte { return tc.summary })
		resp, body := get(t, h, "/")
		if strings.Contains(body, summaryMark) {
			t.Errorf("the page still has its mark:\n%s", body)
		}
		if tc.want == "" {
			if strings.Contains(body, "agora-summary") || resp.Header.Get("ETag") == "" {
				t.Errorf("summary %q: ETag %q, page:\n%s", tc.summary, resp.Header.Get("ETag"), body)
			}
			continue
		}
		if !strings.Contains(body, tc.want) || resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("ETag") != "" {
			t.Errorf("summary %q: Cache-Control %q ETag %q, page:\n%s", tc.summary, resp.Header.Get("Cache-Control"), resp.Header.Get("ETag"), body)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("CSP %q", csp)
		}
	}
	// Without a summary function the page is the file, with its ETag.
	if resp, body := get(t, Handler(nil), "/"); strings.Contains(body, "agora-summary\"") || resp.Header.Get("ETag") == "" {
		t.Errorf("no summary function: ETag %q, page:\n%s", resp.Header.Get("ETag"), body)
	}
}
