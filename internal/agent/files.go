package agent

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// sandboxFiles is what the agent needs of the /files service.
type sandboxFiles interface {
	http.Handler
	// Attach makes realPath browsable under virtualPath.
	Attach(virtualPath, realPath string) error
}

// TEMPORARY: a minimal /files/{read,browse,download} until branch codec
// (internal/files) lands.
type miniFiles struct {
	log *slog.Logger
	mu  sync.Mutex
	// +checklocks:mu
	paths map[string]string
}

func newSandboxFiles(logger *slog.Logger) sandboxFiles {
	return &miniFiles{log: logger, paths: map[string]string{}}
}

func (f *miniFiles) Attach(virtualPath, realPath string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.paths[path.Clean(virtualPath)] = realPath
	return nil
}

// resolve maps a virtual path to a real one inside an attached directory.
func (f *miniFiles) resolve(p string) (string, bool) {
	p = path.Clean("/" + p)
	f.mu.Lock()
	defer f.mu.Unlock()
	for v := p; ; v = path.Dir(v) {
		if real, ok := f.paths[v]; ok {
			return filepath.Join(real, strings.TrimPrefix(p, v)), true
		}
		if v == "/" {
			return "", false
		}
	}
}

func (f *miniFiles) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := q.Get("path")
	if p == "" {
		http.Error(w, "Expecting 'path=value' in query", http.StatusBadRequest)
		return
	}
	real, ok := f.resolve(p)
	if !ok {
		http.Error(w, "", http.StatusNotFound)
		return
	}
	fi, err := os.Stat(real)
	if err != nil {
		http.Error(w, "", http.StatusNotFound)
		return
	}
	switch path.Base(r.URL.Path) {
	case "read":
		if fi.IsDir() {
			http.Error(w, "Cannot read a directory", http.StatusBadRequest)
			return
		}
		off, err := strconv.ParseInt(q.Get("offset"), 10, 64)
		if q.Get("offset") == "" || off == -1 {
			writeJSON(w, r, map[string]any{"offset": fi.Size(), "data": ""})
			return
		} else if err != nil || off < 0 {
			http.Error(w, "Failed to parse offset", http.StatusBadRequest)
			return
		}
		length := int64(16 * 4096)
		if l, err := strconv.ParseInt(q.Get("length"), 10, 64); err == nil && l >= 0 && l < length {
			length = l
		}
		fh, err := os.Open(real)
		if err != nil {
			http.Error(w, "", http.StatusNotFound)
			return
		}
		defer fh.Close()
		buf := make([]byte, length)
		n, _ := fh.ReadAt(buf, off)
		writeJSON(w, r, map[string]any{"offset": off, "data": string(buf[:n])})
	case "download":
		if fi.IsDir() {
			http.Error(w, "Cannot download a directory", http.StatusBadRequest)
			return
		}
		fh, err := os.Open(real)
		if err != nil {
			http.Error(w, "", http.StatusNotFound)
			return
		}
		defer fh.Close()
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", "attachment; filename="+filepath.Base(real))
		_, _ = io.Copy(w, fh)
	case "browse":
		ents, err := os.ReadDir(real)
		if err != nil {
			http.Error(w, "", http.StatusNotFound)
			return
		}
		out := []any{}
		for _, e := range ents {
			info, err := e.Info()
			if err != nil {
				continue
			}
			out = append(out, map[string]any{
				"path": path.Join(p, e.Name()), "size": info.Size(), "mtime": info.ModTime().Unix(),
				"mode": info.Mode().String(), "nlink": 1, "uid": "", "gid": "",
			})
		}
		b, _ := json.Marshal(out)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	default:
		http.NotFound(w, r)
	}
}
