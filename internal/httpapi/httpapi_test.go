package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	schedpb "github.com/agora-dev/agora/api/mesos/v1/scheduler"
)

func TestDecodeCall(t *testing.T) {
	for _, tc := range []struct {
		name, method, ct, body string
		want                   int // 0: decoded
	}{
		{"json", "POST", "application/json", `{"type":"TEARDOWN","framework_id":{"value":"f"}}`, 0},
		{"protobuf", "POST", "application/x-protobuf", "", 0},
		{"get", "GET", "application/json", "{}", 405},
		{"no content type", "POST", "", "{}", 400},
		{"charset", "POST", "application/json; charset=utf-8", "{}", 415},
		{"malformed", "POST", "application/json", "{", 400},
		{"missing required field", "POST", "application/json", `{"framework_id":{}}`, 400},
	} {
		req := httptest.NewRequest(tc.method, "/api/v1/scheduler", strings.NewReader(tc.body))
		if tc.ct != "" {
			req.Header.Set("Content-Type", tc.ct)
		}
		rec := httptest.NewRecorder()
		call := &schedpb.Call{}
		_, ok := DecodeCall(rec, req, call)
		switch {
		case tc.want == 0 && !ok:
			t.Errorf("%s: refused with %d %q", tc.name, rec.Code, rec.Body.String())
		case tc.want != 0 && (ok || rec.Code != tc.want):
			t.Errorf("%s: ok=%v status %d, want %d", tc.name, ok, rec.Code, tc.want)
		}
		if tc.want == http.StatusMethodNotAllowed && rec.Header().Get("Allow") != "POST" {
			t.Errorf("%s: Allow = %q", tc.name, rec.Header().Get("Allow"))
		}
	}
}

// TestDecodeCallTooLarge: a body over MaxBodyBytes is a 413, read no
// further than the bound.
func TestDecodeCallTooLarge(t *testing.T) {
	body := `{"type":"TEARDOWN","framework_id":{"value":"` + strings.Repeat("f", MaxBodyBytes) + `"}}`
	req := httptest.NewRequest("POST", "/api/v1/scheduler", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	if _, ok := DecodeCall(rec, req, &schedpb.Call{}); ok || rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("ok=%v status %d %q, want 413", ok, rec.Code, rec.Body.String())
	}
}

func TestRefuseJSONP(t *testing.T) {
	for url, want := range map[string]bool{"/state?jsonp=cb": true, "/state?jsonp=": true, "/state": false, "/state?x=jsonp": false} {
		rec := httptest.NewRecorder()
		if got := RefuseJSONP(rec, httptest.NewRequest("GET", url, nil)); got != want || (want && rec.Code != http.StatusBadRequest) {
			t.Errorf("%s: refused=%v status %d, want refused=%v", url, got, rec.Code, want)
		}
	}
}
