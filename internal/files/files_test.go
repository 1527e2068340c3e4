package files

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

const virtualRun = "/frameworks/F0/executors/E1/runs/latest"

type fixture struct {
	srv     *httptest.Server
	files   *Files
	sandbox string // real path of the attached sandbox
	outside string // a directory that is not attached
	big     []byte
}

func write(t testing.TB, p string, data []byte) {
	t.Helper()
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t testing.TB, oldname, newname string) {
	t.Helper()
	if err := os.Symlink(oldname, newname); err != nil {
		t.Fatal(err)
	}
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	base := t.TempDir()
	sandbox := filepath.Join(base, "slaves", "S0", "frameworks", "F0", "executors", "E1", "runs", "C1")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{sandbox, filepath.Join(sandbox, "sub"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	big := make([]byte, 200<<10)
	for i := range big {
		big[i] = 'a' + byte(i%26)
	}
	write(t, filepath.Join(sandbox, "stdout"), []byte("hello\nworld\n"))
	write(t, filepath.Join(sandbox, "stderr"), []byte("oops <&> \"quoted\"\n"))
	write(t, filepath.Join(sandbox, "big"), big)
	write(t, filepath.Join(sandbox, "sub", "nested.txt"), []byte("nested"))
	write(t, filepath.Join(outside, "secret"), []byte("top secret"))
	symlink(t, filepath.Join(outside, "secret"), filepath.Join(sandbox, "escape"))
	symlink(t, "../../../../../../../outside", filepath.Join(sandbox, "escape-dir"))
	symlink(t, "stdout", filepath.Join(sandbox, "link-in"))
	symlink(t, filepath.Join(sandbox, "sub", "nested.txt"), filepath.Join(sandbox, "link-abs-in"))
	// The agent's runs/latest symlink.
	symlink(t, "C1", filepath.Join(filepath.Dir(sandbox), "latest"))

	fs := &Files{}
	fs.Attach(sandbox, sandbox)
	fs.Attach(virtualRun, filepath.Join(filepath.Dir(sandbox), "latest"))
	mux := http.NewServeMux()
	mux.Handle("/files/", fs)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, files: fs, sandbox: sandbox, outside: outside, big: big}
}

func (fx *fixture) get(t *testing.T, endpoint string, query url.Values) (*http.Response, []byte) {
	t.Helper()
	return fx.getRaw(t, endpoint, query.Encode())
}

func (fx *fixture) getRaw(t *testing.T, endpoint, rawQuery string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(fx.srv.URL + "/files/" + endpoint + "?" + rawQuery)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func q(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func wantStatus(t *testing.T, resp *http.Response, body []byte, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s: status %d, want %d; body %q", resp.Request.URL, resp.StatusCode, status, body)
	}
}

func TestBrowseDirectory(t *testing.T) {
	fx := newFixture(t)
	for _, p := range []string{fx.sandbox, virtualRun, virtualRun + "/", virtualRun + "/sub/.."} {
		resp, body := fx.get(t, "browse", q("path", p))
		wantStatus(t, resp, body, 200)
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		var entries []map[string]any
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&entries); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		byName := map[string]map[string]any{}
		for _, e := range entries {
			if len(e) != 7 {
				t.Errorf("entry keys: %v", e)
			}
			byName[filepath.Base(e["path"].(string))] = e
			if dir := filepath.Dir(e["path"].(string)); dir != filepath.Clean(p) {
				t.Errorf("entry path %q not under %q", e["path"], p)
			}
		}
		wantNames := []string{"big", "escape", "escape-dir", "link-abs-in", "link-in", "stderr", "stdout", "sub"}
		if len(entries) != len(wantNames) {
			t.Fatalf("%d entries: %s", len(entries), body)
		}
		for i, n := range wantNames {
			if filepath.Base(entries[i]["path"].(string)) != n {
				t.Errorf("entry %d is %v, want %s (sorted)", i, entries[i]["path"], n)
			}
		}
		me, _ := user.Current()
		stdout := byName["stdout"]
		if stdout["mode"] != "-rw-r--r--" || stdout["size"] != json.Number("12") || stdout["nlink"] != json.Number("1") {
			t.Errorf("stdout entry: %v", stdout)
		}
		if me != nil && stdout["uid"] != me.Username {
			t.Errorf("uid %v, want %s", stdout["uid"], me.Username)
		}
		if g, ok := stdout["gid"].(string); !ok || g == "" {
			t.Errorf("gid %v", stdout["gid"])
		}
		if m := string(stdout["mtime"].(json.Number)); !strings.HasSuffix(m, ".0") {
			t.Errorf("mtime %s is not written as a double", m)
		}
		if sub := byName["sub"]; sub["mode"] != "drwxr-xr-x" {
			t.Errorf("sub mode %v", sub["mode"])
		}
		// Links inside the sandbox are followed; links leading out are
		// described as links, revealing nothing of their target.
		if e := byName["link-in"]; e["mode"] != "-rw-r--r--" || e["size"] != json.Number("12") {
			t.Errorf("link-in: %v", e)
		}
		if e := byName["link-abs-in"]; e["size"] != json.Number("6") {
			t.Errorf("link-abs-in: %v", e)
		}
		for _, n := range []string{"escape", "escape-dir"} {
			if e := byName[n]; !strings.HasPrefix(e["mode"].(string), "l") {
				t.Errorf("%s: %v", n, e)
			}
		}
	}
}

func TestBrowseFile(t *testing.T) {
	fx := newFixture(t)
	resp, body := fx.get(t, "browse", q("path", virtualRun+"/sub/nested.txt"))
	wantStatus(t, resp, body, 200)
	var entries []fileInfo
	if err := json.Unmarshal(body, &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Path != virtualRun+"/sub/nested.txt" || entries[0].Size != 6 {
		t.Errorf("entries %+v", entries)
	}
	// Key order and number formats as Mesos writes them.
	if !bytes.HasPrefix(body, []byte(`[{"gid":`)) || !bytes.Contains(body, []byte(`"mode":"-rw-r--r--","mtime":`)) {
		t.Errorf("body %s", body)
	}
}

func TestBrowseErrors(t *testing.T) {
	fx := newFixture(t)
	tests := []struct {
		query  string
		status int
	}{
		{"", 400},
		{"path=", 400},
		{"path=%00", 400},
		{"path=/nonexistent", 404},
		{"path=" + url.QueryEscape(virtualRun+"/missing"), 404},
		{"path=" + url.QueryEscape(fx.outside), 404},
		{"path=/", 404},
		{"path=%zz", 400},
	}
	for _, tt := range tests {
		resp, body := fx.getRaw(t, "browse", tt.query)
		wantStatus(t, resp, body, tt.status)
	}
}

func TestRead(t *testing.T) {
	fx := newFixture(t)
	stdout := virtualRun + "/stdout"
	limit := pagesPerRead * os.Getpagesize()
	tests := []struct {
		name       string
		query      url.Values
		wantOffset int64
		wantData   string
	}{
		{"whole file", q("path", stdout, "offset", "0"), 0, "hello\nworld\n"},
		{"length", q("path", stdout, "offset", "0", "length", "5"), 0, "hello"},
		{"offset and length", q("path", stdout, "offset", "6", "length", "3"), 6, "wor"},
		{"length -1 to EOF", q("path", stdout, "offset", "6", "length", "-1"), 6, "world\n"},
		{"length past EOF", q("path", stdout, "offset", "6", "length", "1000"), 6, "world\n"},
		{"length 0", q("path", stdout, "offset", "2", "length", "0"), 2, ""},
		{"offset -1 gives size", q("path", stdout, "offset", "-1"), 12, ""},
		{"no offset gives size", q("path", stdout), 12, ""},
		{"offset at EOF", q("path", stdout, "offset", "12"), 12, ""},
		{"offset past EOF", q("path", stdout, "offset", "100"), 100, ""},
		{"huge offset", q("path", stdout, "offset", "9223372036854775807"), 9223372036854775807, ""},
		{"special characters kept raw", q("path", virtualRun+"/stderr", "offset", "0"), 0, "oops <&> \"quoted\"\n"},
		{"through an inside link", q("path", virtualRun+"/link-in", "offset", "0"), 0, "hello\nworld\n"},
		{"through an absolute inside link", q("path", virtualRun+"/link-abs-in", "offset", "0"), 0, "nested"},
		{"real path", q("path", fx.sandbox+"/sub/nested.txt", "offset", "1", "length", "2"), 1, "es"},
		{"capped", q("path", virtualRun+"/big", "offset", "0"), 0, string(fx.big[:limit])},
		{"capped with length", q("path", virtualRun+"/big", "offset", "10", "length", "1000000"), 10, string(fx.big[10 : 10+limit])},
		{"tail of big", q("path", virtualRun+"/big", "offset", fmt.Sprint(len(fx.big)-3)), int64(len(fx.big) - 3), string(fx.big[len(fx.big)-3:])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := fx.get(t, "read", tt.query)
			wantStatus(t, resp, body, 200)
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var got readResult
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("%s: %v", body, err)
			}
			if got.Offset != tt.wantOffset || got.Data != tt.wantData {
				t.Errorf("got offset %d data %.40q (%d bytes); want %d %.40q (%d bytes)",
					got.Offset, got.Data, len(got.Data), tt.wantOffset, tt.wantData, len(tt.wantData))
			}
		})
	}
	// The exact Mesos shape.
	_, body := fx.get(t, "read", q("path", stdout, "offset", "0"))
	if string(body) != `{"data":"hello\nworld\n","offset":0}` {
		t.Errorf("body %s", body)
	}
}

func TestReadErrors(t *testing.T) {
	fx := newFixture(t)
	stdout := virtualRun + "/stdout"
	tests := []struct {
		name   string
		query  url.Values
		status int
	}{
		{"no path", q("offset", "0"), 400},
		{"directory", q("path", virtualRun, "offset", "0"), 400},
		{"directory through link", q("path", virtualRun+"/sub", "offset", "0"), 400},
		{"bad offset", q("path", stdout, "offset", "abc"), 400},
		{"float offset", q("path", stdout, "offset", "1.5"), 400},
		{"offset below -1", q("path", stdout, "offset", "-2"), 400},
		{"bad length", q("path", stdout, "offset", "0", "length", "x"), 400},
		{"length below -1", q("path", stdout, "offset", "0", "length", "-5"), 400},
		{"overflowing offset", q("path", stdout, "offset", "99999999999999999999"), 400},
		{"missing file", q("path", virtualRun+"/nope", "offset", "0"), 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := fx.get(t, "read", tt.query)
			wantStatus(t, resp, body, tt.status)
		})
	}
}

func TestReadFIFODoesNotHang(t *testing.T) {
	fx := newFixture(t)
	if err := syscall.Mkfifo(filepath.Join(fx.sandbox, "pipe"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	for _, ep := range []string{"read", "download"} {
		resp, body := fx.get(t, ep, q("path", virtualRun+"/pipe", "offset", "0"))
		wantStatus(t, resp, body, 400)
	}
	resp, body := fx.get(t, "browse", q("path", virtualRun+"/pipe"))
	wantStatus(t, resp, body, 200)
	if !strings.Contains(string(body), `"mode":"prw-r--r--"`) {
		t.Errorf("fifo entry %s", body)
	}
}

func TestDownload(t *testing.T) {
	fx := newFixture(t)
	resp, body := fx.get(t, "download", q("path", virtualRun+"/big"))
	wantStatus(t, resp, body, 200)
	if !bytes.Equal(body, fx.big) {
		t.Errorf("downloaded %d bytes, want %d", len(body), len(fx.big))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != "attachment; filename=big" {
		t.Errorf("Content-Disposition %q", cd)
	}

	resp, body = fx.get(t, "download", q("path", virtualRun))
	wantStatus(t, resp, body, 400)
	resp, body = fx.get(t, "download", q("path", virtualRun+"/escape"))
	wantStatus(t, resp, body, 404)

	// An awkward file name is quoted, not injected.
	write(t, filepath.Join(fx.sandbox, `a "b";c.txt`), []byte("x"))
	resp, body = fx.get(t, "download", q("path", virtualRun+`/a "b";c.txt`))
	wantStatus(t, resp, body, 200)
	if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="a \"b\";c.txt"` {
		t.Errorf("Content-Disposition %q", cd)
	}
}

func TestDebug(t *testing.T) {
	fx := newFixture(t)
	resp, body := fx.get(t, "debug", nil)
	wantStatus(t, resp, body, 200)
	var m map[string]string
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || m[virtualRun] != filepath.Join(filepath.Dir(fx.sandbox), "latest") || m[fx.sandbox] != fx.sandbox {
		t.Errorf("debug %v", m)
	}
}

func TestConfinement(t *testing.T) {
	fx := newFixture(t)
	secret := filepath.Join(fx.outside, "secret")
	rel, err := filepath.Rel(fx.sandbox, secret)
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{
		virtualRun + "/../../../../../../etc/passwd",
		virtualRun + "/" + rel,
		fx.sandbox + "/" + rel,
		fx.sandbox + "/sub/../../C1/../../../../../../../../outside/secret",
		"/etc/passwd",
		secret,
		fx.outside,
		virtualRun + "/escape",
		virtualRun + "/escape-dir",
		virtualRun + "/escape-dir/secret",
		fx.sandbox + "/escape-dir/secret",
		"../../../../../../../../etc/passwd",
		"/frameworks/F0/executors/E1/runs/latestX/stdout", // prefix confusion
		"/frameworks/F0/executors/E1/runs",
		fx.sandbox + "X/stdout",
		fx.sandbox[:len(fx.sandbox)-1] + "/stdout",
	}
	for _, p := range paths {
		for _, ep := range []string{"browse", "read", "download"} {
			resp, body := fx.get(t, ep, q("path", p, "offset", "0"))
			if resp.StatusCode != 404 && resp.StatusCode != 403 {
				t.Errorf("%s %q: status %d, body %q", ep, p, resp.StatusCode, body)
			}
			if strings.Contains(string(body), "top secret") || strings.Contains(string(body), "root:") {
				t.Errorf("%s %q leaked: %q", ep, p, body)
			}
		}
	}
	// Percent-encoded dots in the query are decoded, then cleaned.
	for _, raw := range []string{
		"path=" + url.PathEscape(virtualRun) + "%2F%2e%2e%2F%2e%2e%2F%2e%2e%2F%2e%2e%2F%2e%2e%2F%2e%2e%2Fetc%2Fpasswd&offset=0",
		"path=%2e%2e%2F%2e%2e%2Fetc%2Fpasswd&offset=0",
	} {
		resp, body := fx.getRaw(t, "read", raw)
		if resp.StatusCode != 404 {
			t.Errorf("%s: status %d body %q", raw, resp.StatusCode, body)
		}
	}
	// Harmless dot-dot that stays inside is fine.
	resp, body := fx.get(t, "read", q("path", virtualRun+"/sub/../stdout", "offset", "0"))
	wantStatus(t, resp, body, 200)
}

func TestLongestPrefix(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	write(t, filepath.Join(a, "f"), []byte("from a"))
	if err := os.MkdirAll(filepath.Join(a, "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(a, "b", "f"), []byte("shadowed"))
	write(t, filepath.Join(b, "f"), []byte("from b"))
	fs := &Files{}
	fs.Attach("/x", a)
	fs.Attach("/x/b", b)
	srv := httptest.NewServer(fs)
	defer srv.Close()
	fx := &fixture{srv: srv}
	for p, want := range map[string]string{"/x/f": "from a", "/x/b/f": "from b", "x/b/./f": "from b"} {
		resp, body := fx.get(t, "read", q("path", p, "offset", "0"))
		wantStatus(t, resp, body, 200)
		var got readResult
		if err := json.Unmarshal(body, &got); err != nil || got.Data != want {
			t.Errorf("%s: %s", p, body)
		}
	}
	resp, body := fx.get(t, "read", q("path", "/xb/f", "offset", "0"))
	wantStatus(t, resp, body, 404)

	fs.Detach("/x/b/")
	resp, body = fx.get(t, "read", q("path", "/x/b/f", "offset", "0"))
	wantStatus(t, resp, body, 200)
	if !strings.Contains(string(body), "shadowed") {
		t.Errorf("after detach: %s", body)
	}
	fs.Detach("/x")
	resp, body = fx.get(t, "read", q("path", "/x/f", "offset", "0"))
	wantStatus(t, resp, body, 404)
}

func TestAttachFile(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "agent.log")
	write(t, log, []byte("I1121 log line\n"))
	write(t, filepath.Join(dir, "other"), []byte("not attached"))
	fs := &Files{}
	fs.Attach("/slave/log", log)
	srv := httptest.NewServer(fs)
	defer srv.Close()
	fx := &fixture{srv: srv}

	resp, body := fx.get(t, "read", q("path", "/slave/log", "offset", "0"))
	wantStatus(t, resp, body, 200)
	if string(body) != `{"data":"I1121 log line\n","offset":0}` {
		t.Errorf("read %s", body)
	}
	resp, body = fx.get(t, "browse", q("path", "/slave/log"))
	wantStatus(t, resp, body, 200)
	if !strings.Contains(string(body), `"path":"/slave/log"`) {
		t.Errorf("browse %s", body)
	}
	for _, p := range []string{"/slave/log/x", "/slave/log/../other", "/slave/other", "/slave"} {
		resp, body = fx.get(t, "read", q("path", p, "offset", "0"))
		wantStatus(t, resp, body, 404)
	}
}

// TestJSONP: no endpoint wraps its JSON in a callback (a cross-site
// leak); asking for it is a 400, whatever the callback.
func TestJSONP(t *testing.T) {
	fx := newFixture(t)
	for _, cb := range []string{"cb", "angular.callbacks._0", "", "alert(1)//"} {
		for _, ep := range []string{"browse", "read", "debug"} {
			resp, body := fx.get(t, ep, q("path", virtualRun+"/stdout", "offset", "0", "length", "5", "jsonp", cb))
			wantStatus(t, resp, body, 400)
			if !strings.Contains(string(body), "JSONP is not supported") {
				t.Errorf("%s?jsonp=%q: %q", ep, cb, body)
			}
		}
	}
}

func TestRouting(t *testing.T) {
	fx := newFixture(t)
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		req, err := http.NewRequest(m, fx.srv.URL+"/files/read?path="+url.QueryEscape(virtualRun+"/stdout"), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 405 || resp.Header.Get("Allow") == "" {
			t.Errorf("%s: status %d allow %q", m, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	resp, body := fx.get(t, "nope", nil)
	wantStatus(t, resp, body, 404)
	resp, body = fx.get(t, "read.json", q("path", virtualRun+"/stdout", "offset", "0"))
	wantStatus(t, resp, body, 200)
	resp, err := http.Head(fx.srv.URL + "/files/download?path=" + url.QueryEscape(virtualRun+"/stdout"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != 12 {
		t.Errorf("HEAD download: %d, length %d", resp.StatusCode, resp.ContentLength)
	}
}

func TestConcurrentAttach(t *testing.T) {
	fx := newFixture(t)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			v := fmt.Sprintf("/tmp-attach/%d", i)
			for range 50 {
				fx.files.Attach(v, fx.sandbox)
				fx.files.Detach(v)
			}
		}()
		go func() {
			defer wg.Done()
			for range 20 {
				resp, err := http.Get(fx.srv.URL + "/files/read?offset=0&path=" + url.QueryEscape(virtualRun+"/stdout"))
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Errorf("status %d", resp.StatusCode)
				}
			}
		}()
	}
	wg.Wait()
}

func TestModeString(t *testing.T) {
	for mode, want := range map[os.FileMode]string{
		0o755:                             "-rwxr-xr-x",
		0o600:                             "-rw-------",
		0o755 | os.ModeSetuid:             "-rwsr-xr-x",
		0o644 | os.ModeSetgid:             "-rw-r-Sr--",
		0o777 | os.ModeSticky:             "-rwxrwxrwt",
		0o666 | os.ModeSticky:             "-rw-rw-rwT",
		os.ModeDir | 0o755:                "drwxr-xr-x",
		os.ModeSymlink | 0o777:            "lrwxrwxrwx",
		os.ModeNamedPipe | 0o644:          "prw-r--r--",
		os.ModeDevice | os.ModeCharDevice: "c---------",
		os.ModeSocket | 0o755:             "srwxr-xr-x",
		os.ModeDevice | 0o660:             "brw-rw----",
		os.ModeSetuid | os.ModeSetgid:     "---S--S---",
	} {
		if got := modeString(mode); got != want {
			t.Errorf("%v: got %s, want %s", mode, got, want)
		}
	}
}

// FuzzResolve checks confinement: whatever the path parameter, a resolved
// target lies inside the attached sandbox.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{
		virtualRun + "/stdout", virtualRun + "/../../etc/passwd", virtualRun + "/escape",
		virtualRun + "/escape-dir/secret", "..", "/", "", virtualRun + "/sub/../link-in",
		"//frameworks//F0/./executors/E1/runs/latest/sub/", "\x00", virtualRun + "X",
	} {
		f.Add(s)
	}
	fx := newFixture(f)
	sandbox, err := filepath.EvalSymlinks(fx.sandbox)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, p string) {
		tg, err := fx.files.resolve(&request{query: url.Values{"path": {p}}})
		if err != nil {
			return
		}
		defer tg.Close()
		full, err := filepath.EvalSymlinks(filepath.Join(tg.rootDir, tg.rel))
		if err != nil {
			t.Fatalf("%q resolved to %q which does not resolve: %v", p, tg.rel, err)
		}
		if _, ok := within(sandbox, full); !ok {
			t.Fatalf("%q escaped to %q", p, full)
		}
	})
}
