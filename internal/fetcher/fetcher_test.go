package fetcher

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/internal/testutil"
	"google.golang.org/protobuf/proto"
)

// server serves files from a map and counts requests per path.
type server struct {
	*httptest.Server
	mu    sync.Mutex
	files map[string][]byte
	hits  map[string]int
	gate  chan struct{} // when set, responses wait for it to close
}

func newServer(t *testing.T) *server {
	s := &server{files: make(map[string][]byte), hits: make(map[string]int)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits[r.URL.Path]++
		b, ok := s.files[r.URL.Path]
		gate := s.gate
		s.mu.Unlock()
		if gate != nil {
			select {
			case <-gate:
			case <-r.Context().Done():
				return
			}
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(b)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) put(p string, b []byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[p] = b
	return s.URL + p
}

// hold makes responses wait until the returned channel is closed.
func (s *server) hold() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gate = make(chan struct{})
	return s.gate
}

func (s *server) count(p string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[p]
}

type entryT struct {
	name, body, link string
	mode             int64
	typ              byte
}

func tarBytes(t *testing.T, ms ...entryT) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range ms {
		h := &tar.Header{Name: m.name, Mode: m.mode, Typeflag: m.typ, Linkname: m.link}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(m.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(m.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// compress pipes b through an external compressor (bzip2 or xz); the
// standard library only has their decoders.
func compress(t *testing.T, prog string, b []byte) []byte {
	t.Helper()
	_, err := exec.LookPath(prog)
	pkg := prog
	if prog == "xz" {
		pkg = "xz-utils"
	}
	testutil.Require(t, prog, err == nil, "not installed (apt-get install "+pkg+"); the test compresses with it")
	cmd := exec.Command(prog, "-c")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func zipBytes(t *testing.T, ms ...entryT) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, m := range ms {
		h := &zip.FileHeader{Name: m.name, Method: zip.Deflate}
		mode := fs.FileMode(m.mode)
		if mode == 0 {
			mode = 0o644
		}
		body := m.body
		if m.typ == tar.TypeSymlink {
			mode |= fs.ModeSymlink
			body = m.link
		}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func newFetcher(t *testing.T, mutate func(*Config)) *Fetcher {
	t.Helper()
	cfg := Config{CacheDir: filepath.Join(t.TempDir(), "cache")}
	if mutate != nil {
		mutate(&cfg)
	}
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func mkURI(value string, mutate func(*mesos.CommandInfo_URI)) *mesos.CommandInfo_URI {
	u := &mesos.CommandInfo_URI{Value: proto.String(value)}
	if mutate != nil {
		mutate(u)
	}
	return u
}

// fetch runs one Fetch into a new sandbox and returns it with its log.
func fetch(t *testing.T, f *Fetcher, uris ...*mesos.CommandInfo_URI) (string, string, error) {
	t.Helper()
	dir := t.TempDir()
	var log bytes.Buffer
	err := f.Fetch(context.Background(), uris, dir, "alice", &log)
	return dir, log.String(), err
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mode(t *testing.T, p string) fs.FileMode {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode()
}

var bundle = []entryT{
	{name: "bin/", typ: tar.TypeDir, mode: 0o755},
	{name: "bin/run", body: "#!/bin/sh\necho hi\n", mode: 0o755},
	{name: "conf/app.cfg", body: "key=value\n", mode: 0o640},
	{name: "bin/alias", typ: tar.TypeSymlink, link: "run"},
}

func checkBundle(t *testing.T, dir string) {
	t.Helper()
	if got := readFile(t, filepath.Join(dir, "bin/run")); got != "#!/bin/sh\necho hi\n" {
		t.Errorf("bin/run = %q", got)
	}
	if m := mode(t, filepath.Join(dir, "bin/run")); m.Perm() != 0o755 {
		t.Errorf("bin/run mode %v, want 0755", m)
	}
	if m := mode(t, filepath.Join(dir, "conf/app.cfg")); m.Perm() != 0o640 {
		t.Errorf("conf/app.cfg mode %v, want 0640", m)
	}
	if l, err := os.Readlink(filepath.Join(dir, "bin/alias")); err != nil || l != "run" {
		t.Errorf("bin/alias -> %q, %v", l, err)
	}
}

func TestArchiveFormats(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	f := newFetcher(t, nil)
	tb := tarBytes(t, bundle...)
	for _, tc := range []struct {
		name string
		body func(t *testing.T) []byte
	}{
		{"b.tar", func(*testing.T) []byte { return tb }},
		{"b.tar.gz", func(t *testing.T) []byte { return gz(t, tb) }},
		{"b.tgz", func(t *testing.T) []byte { return gz(t, tb) }},
		{"b.tar.bz2", func(t *testing.T) []byte { return compress(t, "bzip2", tb) }},
		{"b.tbz2", func(t *testing.T) []byte { return compress(t, "bzip2", tb) }},
		{"b.tar.xz", func(t *testing.T) []byte { return compress(t, "xz", tb) }},
		{"b.txz", func(t *testing.T) []byte { return compress(t, "xz", tb) }},
		{"b.zip", func(t *testing.T) []byte { return zipBytes(t, bundle...) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := s.put("/"+tc.name, tc.body(t))
			dir, log, err := fetch(t, f, mkURI(u, nil))
			if err != nil {
				t.Fatalf("%v\n%s", err, log)
			}
			checkBundle(t, dir)
			if _, err := os.Stat(filepath.Join(dir, tc.name)); err != nil {
				t.Errorf("the archive itself is not kept in the sandbox: %v", err)
			}
			for _, want := range []string{"Fetching URI '" + u + "'", "Downloaded ", "Extracted "} {
				if !strings.Contains(log, want) {
					t.Errorf("log lacks %q:\n%s", want, log)
				}
			}
		})
	}
}

func TestPlainGzipAndModes(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	f := newFetcher(t, nil)
	tgz := gz(t, tarBytes(t, bundle...))
	dir, log, err := fetch(t, f,
		mkURI(s.put("/notes.txt.gz", gz(t, []byte("unzipped\n"))), nil),
		// executable: chmod 0755 and never extracted, even for an archive.
		mkURI(s.put("/tool.tgz", tgz), func(u *mesos.CommandInfo_URI) { u.Executable = proto.Bool(true) }),
		// extract=false leaves the archive alone.
		mkURI(s.put("/keep.tar.gz", tgz), func(u *mesos.CommandInfo_URI) { u.Extract = proto.Bool(false) }),
		// output_file renames, into a subdirectory.
		mkURI(s.put("/x", []byte("renamed"))+"?y=1", func(u *mesos.CommandInfo_URI) { u.OutputFile = proto.String("sub/dir/named.txt") }),
		mkURI(s.put("/plain.txt", []byte("plain")), nil),
	)
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	if got := readFile(t, filepath.Join(dir, "notes.txt")); got != "unzipped\n" {
		t.Errorf("notes.txt = %q", got)
	}
	if m := mode(t, filepath.Join(dir, "tool.tgz")); m.Perm() != 0o755 {
		t.Errorf("executable URI mode %v", m)
	}
	if _, err := os.Stat(filepath.Join(dir, "bin/run")); err == nil {
		t.Error("an executable archive was extracted")
	}
	if _, err := os.Stat(filepath.Join(dir, "keep.tar.gz")); err != nil {
		t.Error(err)
	}
	if got := readFile(t, filepath.Join(dir, "sub/dir/named.txt")); got != "renamed" {
		t.Errorf("output_file content %q", got)
	}
	if m := mode(t, filepath.Join(dir, "plain.txt")); m.Perm()&0o111 != 0 {
		t.Errorf("plain file is executable: %v", m)
	}
}

func TestOutputFileEscapes(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	f := newFetcher(t, nil)
	u := s.put("/a", []byte("a"))
	for _, of := range []string{"../evil", "/etc/evil", "a/../../evil", ".."} {
		_, log, err := fetch(t, f, mkURI(u, func(u *mesos.CommandInfo_URI) { u.OutputFile = proto.String(of) }))
		var fe *Error
		if !errors.As(err, &fe) || fe.URI != u || !strings.Contains(err.Error(), "output_file") {
			t.Errorf("output_file %q: %v", of, err)
		}
		if !strings.Contains(log, "Failed to fetch '"+u+"'") {
			t.Errorf("output_file %q: log %q", of, log)
		}
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	f := newFetcher(t, nil)
	u := s.URL + "/missing.tgz"
	for _, cache := range []bool{false, true} {
		_, log, err := fetch(t, f, mkURI(u, func(u *mesos.CommandInfo_URI) { u.Cache = proto.Bool(cache) }))
		if err == nil || !strings.Contains(err.Error(), u) || !strings.Contains(err.Error(), "404") {
			t.Errorf("cache=%v: error %v does not name the URI and the status", cache, err)
		}
		if !strings.Contains(log, "Failed to fetch '"+u+"': HTTP 404") {
			t.Errorf("cache=%v: log %q", cache, log)
		}
	}
	// A failed cached download is not remembered.
	if n, _ := f.CacheUsage(); n != 0 {
		t.Errorf("%d cache entries after failures", n)
	}
	if st := f.Stats(); st.TaskFetchesFailed != 2 || st.TaskFetchesSucceeded != 0 || st.CacheSizeUsedBytes != 0 {
		t.Errorf("Stats() = %+v, want 2 failed fetches", st)
	}
}

func TestLocalFiles(t *testing.T) {
	t.Parallel()
	f := newFetcher(t, nil)
	src := t.TempDir()
	p := filepath.Join(src, "data.tar.gz")
	if err := os.WriteFile(p, gz(t, tarBytes(t, bundle...)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"file://" + p, p} {
		dir, log, err := fetch(t, f, mkURI(u, nil))
		if err != nil {
			t.Fatalf("%s: %v\n%s", u, err, log)
		}
		checkBundle(t, dir)
	}
	for _, bad := range []string{"relative/path", "hdfs://nn/x", "file://otherhost/x", src, "file:///nonexistent/agora"} {
		if _, _, err := fetch(t, f, mkURI(bad, nil)); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

func TestSlip(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	f := newFetcher(t, nil)
	outside := t.TempDir()
	cases := map[string][]entryT{
		"dotdot":          {{name: "../../../../../../" + outside + "/evil", body: "x"}},
		"dotdot-inner":    {{name: "a/../../evil", body: "x"}},
		"absolute":        {{name: outside + "/evil", body: "x"}},
		"symlink-abs":     {{name: "l", typ: tar.TypeSymlink, link: outside}},
		"symlink-up":      {{name: "a/l", typ: tar.TypeSymlink, link: "../../x"}},
		"symlink-through": {{name: "d", typ: tar.TypeSymlink, link: "."}, {name: "d/l", typ: tar.TypeSymlink, link: ".."}},
		"write-through": {
			{name: "d", typ: tar.TypeSymlink, link: "."},
			{name: "d/up", typ: tar.TypeSymlink, link: "../" + filepath.Base(outside)},
			{name: "up/evil", body: "x"},
		},
		"hardlink-out": {{name: "h", typ: tar.TypeLink, link: "../../etc/passwd"}},
	}
	for name, ms := range cases {
		for _, format := range []string{"tar", "zip"} {
			if format == "zip" && ms[0].typ == tar.TypeLink {
				continue
			}
			t.Run(name+"."+format, func(t *testing.T) {
				var body []byte
				if format == "zip" {
					body = zipBytes(t, ms...)
				} else {
					body = tarBytes(t, ms...)
				}
				u := s.put("/"+name+"."+format, body)
				dir, log, err := fetch(t, f, mkURI(u, nil))
				if err == nil {
					t.Fatalf("extraction succeeded:\n%s", log)
				}
				if !strings.Contains(err.Error(), u) {
					t.Errorf("error %v does not name the URI", err)
				}
				if des, _ := os.ReadDir(outside); len(des) != 0 {
					t.Errorf("wrote outside the sandbox: %v", des)
				}
				_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
					if err == nil && d.Type()&fs.ModeSymlink != 0 {
						if _, err := os.Stat(p); err == nil {
							real, _ := filepath.EvalSymlinks(p)
							if !strings.HasPrefix(real, dir) {
								t.Errorf("symlink %s left pointing at %s", p, real)
							}
						}
					}
					return nil
				})
			})
		}
	}
}

func TestCacheHit(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	f := newFetcher(t, nil)
	tgz := gz(t, tarBytes(t, bundle...))
	u := s.put("/cached.tgz", tgz)
	plain := s.put("/cached.txt", []byte("cached"))
	cached := func(u *mesos.CommandInfo_URI) { u.Cache = proto.Bool(true) }
	var dirs []string
	for range 2 {
		dir, log, err := fetch(t, f, mkURI(u, cached), mkURI(plain, cached))
		if err != nil {
			t.Fatalf("%v\n%s", err, log)
		}
		checkBundle(t, dir)
		dirs = append(dirs, dir)
	}
	if n := s.count("/cached.tgz"); n != 1 {
		t.Errorf("server saw %d requests for the cached archive, want 1", n)
	}
	if n := s.count("/cached.txt"); n != 1 {
		t.Errorf("server saw %d requests for the cached file, want 1", n)
	}
	// A task writing its copy does not change the cache.
	if err := os.WriteFile(filepath.Join(dirs[0], "cached.txt"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir, _, err := fetch(t, f, mkURI(plain, cached))
	if err != nil || readFile(t, filepath.Join(dir, "cached.txt")) != "cached" {
		t.Errorf("cached copy after a task changed its own: %v", err)
	}
	// Another user does not share the entry.
	var log bytes.Buffer
	if err := f.Fetch(context.Background(), []*mesos.CommandInfo_URI{mkURI(plain, cached)}, t.TempDir(), "bob", &log); err != nil {
		t.Fatal(err)
	}
	if n := s.count("/cached.txt"); n != 2 {
		t.Errorf("server saw %d requests after another user's fetch, want 2", n)
	}
	if n, b := f.CacheUsage(); n != 3 || b != int64(len(tgz))+12 {
		t.Errorf("cache usage %d entries %d bytes", n, b)
	}
	want := Stats{CacheSizeTotalBytes: DefaultCacheSize, CacheSizeUsedBytes: int64(len(tgz)) + 12, TaskFetchesSucceeded: 4}
	if st := f.Stats(); st != want {
		t.Errorf("Stats() = %+v, want %+v", st, want)
	}
}

func TestCacheEviction(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	f := newFetcher(t, func(c *Config) { c.CacheSize = 250 })
	cached := func(u *mesos.CommandInfo_URI) { u.Cache = proto.Bool(true) }
	body := bytes.Repeat([]byte("x"), 100)
	a, b, c := s.put("/a", body), s.put("/b", body), s.put("/c", body)
	big := s.put("/big", bytes.Repeat([]byte("y"), 300))
	for _, u := range []string{a, b, a, c} { // c evicts b, the least recently used
		if _, log, err := fetch(t, f, mkURI(u, cached)); err != nil {
			t.Fatalf("%v\n%s", err, log)
		}
	}
	if got := [3]int{s.count("/a"), s.count("/b"), s.count("/c")}; got != [3]int{1, 1, 1} {
		t.Errorf("requests a,b,c = %v", got)
	}
	if _, _, err := fetch(t, f, mkURI(b, cached)); err != nil { // miss: evicts a
		t.Fatal(err)
	}
	if _, _, err := fetch(t, f, mkURI(c, cached)); err != nil { // hit
		t.Fatal(err)
	}
	if got := [3]int{s.count("/a"), s.count("/b"), s.count("/c")}; got != [3]int{1, 2, 1} {
		t.Errorf("requests a,b,c = %v", got)
	}
	if n, used := f.CacheUsage(); n != 2 || used != 200 {
		t.Errorf("cache holds %d entries, %d bytes; want 2, 200", n, used)
	}
	// Larger than the whole cache: fetched, not kept.
	dir, log, err := fetch(t, f, mkURI(big, cached))
	if err != nil || len(readFile(t, filepath.Join(dir, "big"))) != 300 {
		t.Fatalf("%v\n%s", err, log)
	}
	if n, used := f.CacheUsage(); n != 2 || used != 200 {
		t.Errorf("after an oversized download the cache holds %d entries, %d bytes", n, used)
	}
	des, _ := os.ReadDir(f.cfg.CacheDir)
	if len(des) != 2 {
		t.Errorf("cache directory holds %d files, want 2", len(des))
	}
}

func TestConcurrentSameURI(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	f := newFetcher(t, nil)
	u := s.put("/once.tgz", gz(t, tarBytes(t, bundle...)))
	gate := s.hold()
	const n = 6
	errs := make(chan error, n)
	dirs := make([]string, n)
	for i := range n {
		dirs[i] = t.TempDir()
		go func() {
			errs <- f.Fetch(context.Background(), []*mesos.CommandInfo_URI{mkURI(u, func(u *mesos.CommandInfo_URI) { u.Cache = proto.Bool(true) })},
				dirs[i], "alice", nil)
		}()
	}
	// Every fetch is waiting on the one download before it is let through.
	waitFor(t, func() bool {
		f.cache.mu.Lock()
		defer f.cache.mu.Unlock()
		e := f.cache.entries[cacheKey("alice", u)]
		return e != nil && e.pins == n
	})
	close(gate)
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range dirs {
		checkBundle(t, d)
	}
	if c := s.count("/once.tgz"); c != 1 {
		t.Errorf("server saw %d requests, want 1", c)
	}
}

func TestCancelAndLimits(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	f := newFetcher(t, func(c *Config) { c.MaxSize = 64 })
	defer close(s.hold()) // downloads hang until the test ends
	for _, cache := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		u := s.put("/hang", []byte("x"))
		done := make(chan error, 1)
		go func() {
			done <- f.Fetch(ctx, []*mesos.CommandInfo_URI{mkURI(u, func(u *mesos.CommandInfo_URI) { u.Cache = proto.Bool(cache) })},
				t.TempDir(), "alice", nil)
		}()
		waitFor(t, func() bool { return s.count("/hang") > 0 })
		cancel()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), u) {
				t.Errorf("cache=%v: cancelled fetch: %v", cache, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("cache=%v: fetch not cancelled", cache)
		}
		s.mu.Lock()
		s.hits = map[string]int{}
		s.mu.Unlock()
	}
	// The abandoned cached download is cancelled and forgotten.
	waitFor(t, func() bool {
		f.cache.mu.Lock()
		defer f.cache.mu.Unlock()
		return len(f.cache.entries) == 0
	})

	s2 := newServer(t)
	big := s2.put("/big", bytes.Repeat([]byte("z"), 65))
	if _, _, err := fetch(t, f, mkURI(big, nil)); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("oversized download: %v", err)
	}
	bomb := s2.put("/bomb.tgz", gz(t, tarBytes(t, entryT{name: "a", body: strings.Repeat("b", 100000)})))
	f2 := newFetcher(t, func(c *Config) { c.MaxSize = 2000 })
	if _, _, err := fetch(t, f2, mkURI(bomb, nil)); err == nil || !strings.Contains(err.Error(), "extracted data exceeds") {
		t.Errorf("oversized extraction: %v", err)
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"2GB": 2 << 30, "512MB": 512 << 20, "1kb": 1024, "100B": 100, "12345": 12345, "1.5GB": 3 << 29} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "GB", "-1MB", "lots"} {
		if _, err := ParseBytes(bad); err == nil {
			t.Errorf("ParseBytes(%q) succeeded", bad)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
