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
	if _, err := Authenticators("basic"); err != nil {
		t.Error(err)
	}
	if _, err := Authenticators("basic,jwt"); err == nil {
		t.Error("the master has no jwt authenticator")
	}
	if names, err := Authenticators("basic,jwt", "basic", "jwt"); err != nil || !names["jwt"] || !names["basic"] {
		t.Errorf("agent authenticators: %v %v", names, err)
	}
	if _, err := Authenticators("basic,kerberos"); err == nil || !strings.Contains(err.Error(), "HTTP authenticator 'kerberos' not found") {
		t.Errorf("unknown authenticator: %v", err)
	}
}

// TestBearerRealm checks the JWT authenticator's answers (Mesos §7) in a
// realm that also has Basic, as the agent's executor realm does.
func TestBearerRealm(t *testing.T) {
	key := []byte("secret-key\n")
	rl := &Realm{Name: "mesos-agent-executor", JWTKey: key,
		Creds: NewCredentials([]Credential{{Principal: "ops", Secret: "pw"}})}
	good := SignExecutorToken(key, ExecutorClaims{FrameworkID: "f1", ExecutorID: "e1", ContainerID: "c1"})
	var seen Subject
	h := Middleware(func(string) *Realm { return rl }, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, _ = SubjectOf(r.Context())
	}))
	for _, tc := range []struct {
		header, challenge string
		code              int
	}{
		{"", `Bearer realm="mesos-agent-executor"`, 401},
		{"Bearer " + good, "", 200},
		{"Bearer " + good + "x", `Bearer realm="mesos-agent-executor", error="invalid_token", error_description="Invalid JWT: Token signature does not match"`, 401},
		{"Bearer a.b", `Bearer realm="mesos-agent-executor", error="invalid_token", error_description="Invalid JWT: Expected 3 components in token, got 2"`, 401},
		{"Bearer " + SignExecutorToken([]byte("other"), ExecutorClaims{FrameworkID: "f1"}), `error_description="Invalid JWT: Token signature does not match"`, 401},
		{BasicHeader("ops", "pw"), "", 200},
		{BasicHeader("ops", "bad"), `Basic realm="mesos-agent-executor"`, 401},
	} {
		seen = Subject{}
		req := httptest.NewRequest("POST", "/api/v1/executor", nil)
		if tc.header != "" {
			req.Header.Set("Authorization", tc.header)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.code {
			t.Errorf("%q: %d, want %d", tc.header, rec.Code, tc.code)
		}
		got := strings.Join(rec.Header().Values("WWW-Authenticate"), "\n")
		if !strings.Contains(got, tc.challenge) {
			t.Errorf("%q: WWW-Authenticate %q, want %q", tc.header, got, tc.challenge)
		}
	}
	// The last good request was Basic; check a token's subject.
	req := httptest.NewRequest("POST", "/api/v1/executor", nil)
	req.Header.Set("Authorization", "Bearer "+good)
	h.ServeHTTP(httptest.NewRecorder(), req)
	if seen.Value != "" || seen.Claims["fid"] != "f1" || seen.Claims["eid"] != "e1" || seen.Claims["cid"] != "c1" {
		t.Errorf("subject %+v", seen)
	}
	if got := seen.String(); got != `{"claims":{"cid":"c1","eid":"e1","fid":"f1"}}` {
		t.Errorf("subject printed %s", got)
	}
	if got := (Subject{Value: "ops"}).String(); got != "ops" {
		t.Errorf("value subject printed %s", got)
	}
}

func FuzzParseCredentials(f *testing.F) {
	f.Add([]byte(`{"credentials":[{"principal":"ops","secret":"s"}]}`))
	f.Add([]byte(`{"credentials":[{"principal":""}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCredentials(data, "credentials")
		if err != nil {
			return
		}
		// Whatever parsed, nobody authenticates with a wrong secret.
		_ = c.Check("ops", "s")
		if c.Check("", "") && c.Len() == 0 {
			t.Fatal("an empty list authenticated someone")
		}
	})
}
