package auth

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseBasic(t *testing.T) {
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for header, want := range map[string]string{
		BasicHeader("ops", "s3cret"):   "ops/s3cret",
		"Basic " + enc("ops:"):         "ops/",
		"Basic " + enc("a:b:c"):        "", // a ':' in the secret never authenticates (Mesos)
		"basic " + enc("ops:s"):        "", // case-sensitive scheme
		"Basic  " + enc("ops:s"):       "", // exactly two parts
		"Basic " + enc("ops:s") + " x": "",
		"Basic !!!":                    "",
		"Bearer " + enc("ops:s"):       "",
		"":                             "",
	} {
		p, s, ok := ParseBasic(header)
		got := ""
		if ok {
			got = p + "/" + s
		}
		if got != want {
			t.Errorf("ParseBasic(%q) = %q, want %q", header, got, want)
		}
	}
}

func FuzzParseBasic(f *testing.F) {
	f.Add(BasicHeader("ops", "s"))
	f.Add("Basic Og==")
	f.Add("Basic")
	f.Fuzz(func(t *testing.T, h string) {
		p, s, ok := ParseBasic(h)
		if ok && (strings.Contains(p, ":") || strings.Contains(s, ":")) {
			t.Fatalf("ParseBasic(%q) = %q, %q with a ':'", h, p, s)
		}
		if ok && BasicHeader(p, s) != h {
			t.Fatalf("ParseBasic(%q) = %q, %q, which encodes differently", h, p, s)
		}
	})
}

func write(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "creds.json")
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadCredentials(t *testing.T) {
	p := write(t, `{"credentials":[{"principal":"ops","secret":"one"},{"principal":"fw","secret":"two"}],"extra":1}`, 0o600)
	for _, v := range []string{p, "file://" + p} {
		c, err := LoadCredentials(v, "credentials", nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.Len() != 2 || !c.Check("ops", "one") || c.Check("ops", "two") || c.Check("nobody", "") || !c.Check("fw", "two") {
			t.Errorf("%s: credentials check wrongly", v)
		}
	}
	if c, err := LoadCredentials(write(t, `{"credentials":[]}`, 0o600), "credentials", nil); err != nil || c.Len() != 0 {
		t.Errorf("empty list: %v", err)
	}
	for content, want := range map[string]string{
		"":                                  "Credentials file must contain at least one credential (see --credentials flag)",
		"{":                                 "Invalid json format",
		`{"credentials":{"principal":"x"}}`: "Failed to parse credentials",
		`{"credentials":[{"secret":"x"}]}`:  "has no 'principal'",
	} {
		if _, err := LoadCredentials(write(t, content, 0o600), "credentials", nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", content, err, want)
		}
	}
	if _, err := LoadCredentials("/no/such/file", "http_credentials", nil); err == nil ||
		!strings.Contains(err.Error(), "Failed to read credentials file '/no/such/file'") || !strings.Contains(err.Error(), "--http_credentials") {
		t.Errorf("missing file: %v", err)
	}
}

func TestLoadCredential(t *testing.T) {
	c, err := LoadCredential(write(t, `{"principal":"agent","secret":"s"}`, 0o600), nil)
	if err != nil || c.Principal != "agent" || c.Secret != "s" {
		t.Fatalf("%+v %v", c, err)
	}
	if _, err := LoadCredential(write(t, "\n", 0o600), nil); err == nil || !strings.Contains(err.Error(), "Empty credential file") {
		t.Errorf("empty file: %v", err)
	}
}

func TestMiddleware(t *testing.T) {
	realm := &Realm{Name: "mesos-master-readonly", Creds: NewCredentials([]Credential{{Principal: "ops", Secret: "s"}})}
	h := Middleware(func(path string) *Realm {
		if path == "/state" {
			return realm
		}
		return nil
	}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := Principal(r.Context())
		_, _ = w.Write([]byte(p + map[bool]string{true: "!", false: "?"}[ok]))
	}))
	for _, tc := range []struct {
		path, header string
		code         int
		body         string
	}{
		{"/state", BasicHeader("ops", "s"), 200, "ops!"},
		{"/state", BasicHeader("ops", "x"), 401, "401 Unauthorized."},
		{"/state", "", 401, "401 Unauthorized."},
		{"/health", "", 200, "?"},
	} {
		req := httptest.NewRequest("GET", tc.path, nil)
		if tc.header != "" {
			req.Header.Set("Authorization", tc.header)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.code || rec.Body.String() != tc.body {
			t.Errorf("%s %q: %d %q, want %d %q", tc.path, tc.header, rec.Code, rec.Body.String(), tc.code, tc.body)
		}
		if tc.code == 401 && rec.Header().Get("WWW-Authenticate") != `Basic realm="mesos-master-readonly"` {
			t.Errorf("WWW-Authenticate %q", rec.Header().Get("WWW-Authenticate"))
		}
	}
	if err := Authenticators("basic"); err != nil {
		t.Error(err)
	}
	if err := Authenticators("basic,kerberos"); err == nil || !strings.Contains(err.Error(), "HTTP authenticator 'kerberos' not found") {
		t.Errorf("unknown authenticator: %v", err)
	}
}
