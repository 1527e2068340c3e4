// Package files serves the Mesos sandbox files API: /files/browse,
// /files/read, /files/download and /files/debug, as a Mesos master or agent
// does. Directories are attached under virtual paths (an executor's run
// directory under its real path and under
// /frameworks/<fw>/executors/<ex>/runs/latest); a request can reach only
// what lies inside an attached directory, symbolic links included.
package files

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/agora-dev/agora/internal/httpapi"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// pagesPerRead is how many pages one /files/read answers at most, as in
// Mesos.
const pagesPerRead = 16

// Files maps virtual paths to real directories (or files) and serves them.
// The zero value is ready to use; it is safe for concurrent use.
type Files struct {
	mu     sync.RWMutex
	attach map[string]string // clean virtual path → clean absolute real path

	names sync.Map // "u<uid>" / "g<gid>" → user or group name
}

// Attach makes realPath reachable under virtualPath, replacing an earlier
// attachment of the same virtual path. realPath need not exist yet; it is
// resolved (symbolic links followed) on every request, so attaching a
// "latest" symlink follows it as it changes.
func (f *Files) Attach(virtualPath, realPath string) {
	real := filepath.Clean(realPath)
	if abs, err := filepath.Abs(real); err == nil {
		real = abs
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.attach == nil {
		f.attach = make(map[string]string)
	}
	f.attach[cleanVirtual(virtualPath)] = real
}

// Detach removes the attachment of virtualPath, if any.
func (f *Files) Detach(virtualPath string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.attach, cleanVirtual(virtualPath))
}

func cleanVirtual(p string) string { return path.Clean("/" + p) }

// ServeHTTP answers GET (and HEAD) requests for /files/browse, /files/read,
// /files/download and /files/debug (also with a ".json" suffix, as Mesos
// accepts); any other path under /files/ is 404.
func (f *Files) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	dir, name := path.Split(r.URL.Path)
	if !strings.HasSuffix(dir, "/files/") {
		http.NotFound(w, r)
		return
	}
	var handler func(http.ResponseWriter, *request)
	switch strings.TrimSuffix(name, ".json") {
	case "browse":
		handler = f.browse
	case "read":
		handler = f.read
	case "download":
		handler = f.download
	case "debug":
		handler = f.debug
	default:
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "expecting 'GET', received '"+r.Method+"'", http.StatusMethodNotAllowed)
		return
	}
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		http.Error(w, "failed to parse query: "+err.Error(), http.StatusBadRequest)
		return
	}
	if httpapi.RefuseJSONP(w, r) {
		return
	}
	handler(w, &request{Request: r, query: query})
}

type request struct {
	*http.Request
	query url.Values
}

// writeJSON answers 200 with v as JSON.
func writeJSON(w http.ResponseWriter, r *request, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, "failed to encode JSON: "+err.Error(), http.StatusInternalServerError)
		return
	}
	body := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// httpError is an error with the HTTP status it answers with.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func fail(w http.ResponseWriter, err error) {
	var he *httpError
	if errors.As(err, &he) {
		http.Error(w, he.msg, he.status)
		return
	}
	http.Error(w, err.Error(), http.StatusInternalServerError)
}

func notFound(p string) error {
	return &httpError{http.StatusNotFound, fmt.Sprintf("path %q not found", p)}
}

func badRequest(format string, args ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// target is a request path resolved into an attached directory.
type target struct {
	virtual string   // the clean virtual path asked for
	root    *os.Root // the attached directory (its symbolic links resolved)
	rootDir string   // root's real path
	rel     string   // the target inside root, free of symbolic links
}

func (t *target) Close() { t.root.Close() }

// resolve maps a request's path parameter into an attached directory. The
// longest attached virtual prefix (by whole components) wins; the rest is
// joined to its real path after cleaning, so ".." cannot climb out of it.
// Symbolic links are then resolved and the result must still lie inside
// the attached directory's own resolved path. Files are opened through an
// os.Root of that directory, so a link swapped in after the check cannot
// lead outside either.
func (f *Files) resolve(r *request) (*target, error) {
	vals, ok := r.query["path"]
	if !ok || vals[0] == "" {
		return nil, badRequest("expecting 'path' query parameter")
	}
	raw := vals[0]
	if strings.IndexByte(raw, 0) >= 0 {
		return nil, badRequest("invalid 'path' query parameter")
	}
	virtual := cleanVirtual(raw)

	prefix, realDir, found := f.lookup(virtual)
	if !found {
		return nil, notFound(raw)
	}
	rest := strings.TrimPrefix(virtual, prefix)
	rest = strings.TrimPrefix(path.Clean("/"+rest), "/")
	if rest == ".." || strings.HasPrefix(rest, "../") {
		return nil, notFound(raw) // cannot happen after Clean; kept as a guard
	}

	rootDir, err := filepath.EvalSymlinks(realDir)
	if err != nil {
		return nil, notFound(raw)
	}
	if fi, err := os.Stat(rootDir); err != nil {
		return nil, notFound(raw)
	} else if !fi.IsDir() {
		// A single attached file (a log): nothing lies under it.
		if rest != "" {
			return nil, notFound(raw)
		}
		root, err := os.OpenRoot(filepath.Dir(rootDir))
		if err != nil {
			return nil, notFound(raw)
		}
		return &target{virtual: virtual, root: root, rootDir: filepath.Dir(rootDir), rel: filepath.Base(rootDir)}, nil
	}
	resolved, err := filepath.EvalSymlinks(filepath.Join(rootDir, filepath.FromSlash(rest)))
	if err != nil {
		return nil, notFound(raw)
	}
	rel, ok := within(rootDir, resolved)
	if !ok {
		return nil, notFound(raw)
	}
	root, err := os.OpenRoot(rootDir)
	if err != nil {
		return nil, notFound(raw)
	}
	return &target{virtual: virtual, root: root, rootDir: rootDir, rel: rel}, nil
}

// lookup finds the attachment with the longest virtual prefix of p, by
// whole path components.
func (f *Files) lookup(p string) (prefix, real string, ok bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for v, r := range f.attach {
		if !hasPathPrefix(p, v) {
			continue
		}
		if !ok || len(v) > len(prefix) {
			prefix, real, ok = v, r, true
		}
	}
	return prefix, real, ok
}

// hasPathPrefix reports whether slash path p is prefix or lies under it.
func hasPathPrefix(p, prefix string) bool {
	if prefix == "/" {
		return strings.HasPrefix(p, "/")
	}
	return p == prefix || strings.HasPrefix(p, prefix+"/")
}

// within reports whether the clean absolute path p lies in dir (or is
// dir), by whole components, and returns it relative to dir.
func within(dir, p string) (string, bool) {
	if p == dir {
		return ".", true
	}
	prefix := dir
	if !strings.HasSuffix(prefix, string(filepath.Separator)) {
		prefix += string(filepath.Separator)
	}
	if !strings.HasPrefix(p, prefix) {
		return "", false
	}
	return p[len(prefix):], true
}

// open opens the target without blocking (a FIFO in a sandbox must not
// hang the request) and returns it with its stat.
func (t *target) open() (*os.File, fs.FileInfo, error) {
	file, err := t.root.OpenFile(t.rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, notFound(t.virtual)
	}
	fi, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, nil, notFound(t.virtual)
	}
	return file, fi, nil
}

// openRegular opens the target for reading its contents; directories and
// special files are refused with 400.
func (t *target) openRegular() (*os.File, fs.FileInfo, error) {
	file, fi, err := t.open()
	if err != nil {
		return nil, nil, err
	}
	switch {
	case fi.IsDir():
		file.Close()
		return nil, nil, badRequest("cannot read a directory")
	case !fi.Mode().IsRegular():
		file.Close()
		return nil, nil, badRequest("cannot read a special file")
	}
	return file, fi, nil
}

// fileInfo is one /files/browse entry; keys in Mesos's (sorted) order.
type fileInfo struct {
	GID   string  `json:"gid"`
	Mode  string  `json:"mode"`
	Mtime seconds `json:"mtime"`
	Nlink uint64  `json:"nlink"`
	Path  string  `json:"path"`
	Size  int64   `json:"size"`
	UID   string  `json:"uid"`
}

// seconds is a time in seconds, written as a double like Mesos does
// (1795293522.0).
type seconds float64

func (s seconds) MarshalJSON() ([]byte, error) {
	b := strconv.AppendFloat(nil, float64(s), 'f', -1, 64)
	if !bytes.ContainsAny(b, ".e") {
		b = append(b, ".0"...)
	}
	return b, nil
}

func (f *Files) browse(w http.ResponseWriter, r *request) {
	t, err := f.resolve(r)
	if err != nil {
		fail(w, err)
		return
	}
	defer t.Close()
	file, fi, err := t.open()
	if err != nil {
		fail(w, err)
		return
	}
	defer file.Close()

	if !fi.IsDir() {
		writeJSON(w, r, []fileInfo{f.info(t.virtual, fi)})
		return
	}
	entries, err := file.ReadDir(-1)
	if err != nil {
		fail(w, fmt.Errorf("failed to list %q: %w", t.virtual, err))
		return
	}
	list := make([]fileInfo, 0, len(entries))
	for _, e := range entries {
		fi, ok := t.statEntry(path.Join(t.rel, e.Name()))
		if !ok {
			continue
		}
		list = append(list, f.info(path.Join(t.virtual, e.Name()), fi))
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Path < list[j].Path })
	writeJSON(w, r, list)
}

// statEntry stats a directory entry, following a symbolic link only when
// it leads to somewhere inside the root; otherwise the link itself is
// described.
func (t *target) statEntry(rel string) (fs.FileInfo, bool) {
	if resolved, err := filepath.EvalSymlinks(filepath.Join(t.rootDir, rel)); err == nil {
		if r2, ok := within(t.rootDir, resolved); ok {
			if fi, err := t.root.Stat(r2); err == nil {
				return fi, true
			}
		}
	}
	fi, err := t.root.Lstat(rel)
	return fi, err == nil
}

func (f *Files) info(p string, fi fs.FileInfo) fileInfo {
	out := fileInfo{
		Mtime: seconds(fi.ModTime().Unix()),
		Path:  p,
		Size:  fi.Size(),
		Nlink: 1,
		Mode:  modeString(fi.Mode()),
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		out.Nlink = uint64(st.Nlink)
		out.UID = f.name('u', st.Uid)
		out.GID = f.name('g', st.Gid)
	}
	return out
}

// name returns the user ('u') or group ('g') name of an id, or the id in
// decimal when it has no name.
func (f *Files) name(kind byte, id uint32) string {
	key := string(kind) + strconv.FormatUint(uint64(id), 10)
	if v, ok := f.names.Load(key); ok {
		return v.(string)
	}
	s := strconv.FormatUint(uint64(id), 10)
	if kind == 'u' {
		if u, err := user.LookupId(s); err == nil {
			s = u.Username
		}
	} else if g, err := user.LookupGroupId(s); err == nil {
		s = g.Name
	}
	f.names.Store(key, s)
	return s
}

// modeString formats a mode the way `ls -l` does: "drwxr-xr-x".
func modeString(m fs.FileMode) string {
	b := []byte("----------")
	switch {
	case m&fs.ModeDir != 0:
		b[0] = 'd'
	case m&fs.ModeSymlink != 0:
		b[0] = 'l'
	case m&fs.ModeNamedPipe != 0:
		b[0] = 'p'
	case m&fs.ModeSocket != 0:
		b[0] = 's'
	case m&fs.ModeCharDevice != 0:
		b[0] = 'c'
	case m&fs.ModeDevice != 0:
		b[0] = 'b'
	}
	const rwx = "rwxrwxrwx"
	for i := 0; i < 9; i++ {
		if m&(1<<uint(8-i)) != 0 {
			b[1+i] = rwx[i]
		}
	}
	special := func(pos int, set bool, exec, noexec byte) {
		if !set {
			return
		}
		if b[pos] == 'x' {
			b[pos] = exec
		} else {
			b[pos] = noexec
		}
	}
	special(3, m&fs.ModeSetuid != 0, 's', 'S')
	special(6, m&fs.ModeSetgid != 0, 's', 'S')
	special(9, m&fs.ModeSticky != 0, 't', 'T')
	return string(b)
}

// readResult is the /files/read answer.
type readResult struct {
	Data   string `json:"data"`
	Offset int64  `json:"offset"`
}

func (f *Files) read(w http.ResponseWriter, r *request) {
	offset, err := intParam(r, "offset")
	if err != nil {
		fail(w, err)
		return
	}
	length, err := intParam(r, "length")
	if err != nil {
		fail(w, err)
		return
	}
	t, err := f.resolve(r)
	if err != nil {
		fail(w, err)
		return
	}
	defer t.Close()
	file, fi, err := t.openRegular()
	if err != nil {
		fail(w, err)
		return
	}
	defer file.Close()

	if offset == -1 {
		writeJSON(w, r, readResult{Offset: fi.Size()})
		return
	}
	limit := int64(pagesPerRead * os.Getpagesize())
	if length == -1 || length > limit {
		length = limit
	}
	if offset >= fi.Size() {
		// Past the end: nothing to read (and pread refuses offsets near
		// the largest off_t).
		length = 0
	}
	buf := make([]byte, length)
	n, err := file.ReadAt(buf, offset)
	if err != nil && err != io.EOF {
		fail(w, fmt.Errorf("failed to read %q: %w", t.virtual, err))
		return
	}
	writeJSON(w, r, readResult{Offset: offset, Data: string(buf[:n])})
}

// intParam parses an optional offset or length parameter: absent means -1,
// and values below -1 are refused.
func intParam(r *request, name string) (int64, error) {
	vals, ok := r.query[name]
	if !ok {
		return -1, nil
	}
	n, err := strconv.ParseInt(vals[0], 10, 64)
	if err != nil {
		return 0, badRequest("failed to parse %s: %q is not a number", name, vals[0])
	}
	if n < -1 {
		return 0, badRequest("negative %s provided: %d", name, n)
	}
	return n, nil
}

func (f *Files) download(w http.ResponseWriter, r *request) {
	t, err := f.resolve(r)
	if err != nil {
		fail(w, err)
		return
	}
	defer t.Close()
	file, fi, err := t.openRegular()
	if err != nil {
		fail(w, err)
		return
	}
	defer file.Close()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	disposition := mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(t.virtual)})
	if disposition == "" {
		disposition = "attachment"
	}
	h.Set("Content-Disposition", disposition)
	http.ServeContent(w, r.Request, "", fi.ModTime(), file)
}

func (f *Files) debug(w http.ResponseWriter, r *request) {
	f.mu.RLock()
	m := make(map[string]string, len(f.attach))
	for v, real := range f.attach {
		m[v] = real
	}
	f.mu.RUnlock()
	writeJSON(w, r, m)
}
