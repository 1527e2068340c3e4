package agent

import (
	"archive/tar"
	"archive/zip"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
)

// The fetcher downloads CommandInfo.uris into a sandbox before the executor
// starts: http(s)://, file:// and plain local paths. Like Mesos it makes
// the file executable when asked (and then never extracts it), names it
// output_file when given, and otherwise extracts .tar, .tar.gz/.tgz,
// .tar.bz2/.tbz2 and .zip archives into the sandbox (extract defaults to
// true). The cache flag is ignored: every fetch downloads.

// errFetch wraps every fetch failure; the task fails with its message.
var errFetch = errors.New("fetch failed")

var fetchClient = &http.Client{Timeout: 10 * time.Minute}

func fetchURIs(ctx context.Context, uris []*mesos.CommandInfo_URI, dir, logFile string) error {
	for _, u := range uris {
		if err := fetchURI(ctx, u, dir); err != nil {
			if lf, e := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); e == nil {
				fmt.Fprintf(lf, "Failed to fetch '%s': %v\n", u.GetValue(), err)
				lf.Close()
			}
			return fmt.Errorf("%w: URI %q: %v", errFetch, u.GetValue(), err)
		}
	}
	return nil
}

func fetchURI(ctx context.Context, u *mesos.CommandInfo_URI, dir string) error {
	raw := u.GetValue()
	name := u.GetOutputFile()
	if name == "" {
		name = path.Base(strings.SplitN(strings.SplitN(raw, "?", 2)[0], "#", 2)[0])
	}
	if name == "" || name == "/" || name == "." || name == ".." {
		return errors.New("cannot derive a file name")
	}
	dst := filepath.Join(dir, filepath.Clean("/"+name))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	var src io.ReadCloser
	switch {
	case strings.HasPrefix(raw, "http://"), strings.HasPrefix(raw, "https://"):
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
		if err != nil {
			return err
		}
		resp, err := fetchClient.Do(req)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return fmt.Errorf("HTTP %s", resp.Status)
		}
		src = resp.Body
	case strings.HasPrefix(raw, "file://"):
		pu, err := url.Parse(raw)
		if err != nil {
			return err
		}
		f, err := os.Open(pu.Path)
		if err != nil {
			return err
		}
		src = f
	case strings.HasPrefix(raw, "/"):
		f, err := os.Open(raw)
		if err != nil {
			return err
		}
		src = f
	default:
		return errors.New("unsupported URI scheme (supported: http, https, file, absolute path)")
	}
	defer src.Close()
	mode := os.FileMode(0o644)
	if u.GetExecutable() {
		mode = 0o755
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, src); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if u.GetExecutable() {
		return os.Chmod(dst, 0o755)
	}
	if u.Extract == nil || u.GetExtract() {
		return extract(dst, dir)
	}
	return nil
}

// extract unpacks an archive recognised by its name into dir; other files
// are left alone.
func extract(file, dir string) error {
	lower := strings.ToLower(file)
	switch {
	case strings.HasSuffix(lower, ".zip"):
		return extractZip(file, dir)
	case strings.HasSuffix(lower, ".tar"):
		return withFile(file, func(r io.Reader) error { return extractTar(r, dir) })
	case strings.HasSuffix(lower, ".tar.gz"), strings.HasSuffix(lower, ".tgz"):
		return withFile(file, func(r io.Reader) error {
			zr, err := gzip.NewReader(r)
			if err != nil {
				return err
			}
			return extractTar(zr, dir)
		})
	case strings.HasSuffix(lower, ".tar.bz2"), strings.HasSuffix(lower, ".tbz2"):
		return withFile(file, func(r io.Reader) error { return extractTar(bzip2.NewReader(r), dir) })
	}
	return nil
}

func withFile(name string, f func(io.Reader) error) error {
	fh, err := os.Open(name)
	if err != nil {
		return err
	}
	defer fh.Close()
	return f(fh)
}

// safeJoin joins an archive member name to dir, refusing names that leave it.
func safeJoin(dir, name string) (string, error) {
	p := filepath.Join(dir, name)
	if p != dir && !strings.HasPrefix(p, dir+string(filepath.Separator)) {
		return "", fmt.Errorf("archive member %q leaves the sandbox", name)
	}
	return p, nil
}

func extractTar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		p, err := safeJoin(dir, h.Name)
		if err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := writeFile(p, tr, os.FileMode(h.Mode).Perm()); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if filepath.IsAbs(h.Linkname) {
				return fmt.Errorf("archive member %q links outside the sandbox", h.Name)
			}
			if _, err := safeJoin(dir, filepath.Join(filepath.Dir(h.Name), h.Linkname)); err != nil {
				return err
			}
			_ = os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.Symlink(h.Linkname, p); err != nil {
				return err
			}
		}
	}
}

func extractZip(file, dir string) error {
	zr, err := zip.OpenReader(file)
	if err != nil {
		return err
	}
	defer zr.Close()
	for _, f := range zr.File {
		p, err := safeJoin(dir, f.Name)
		if err != nil {
			return err
		}
		if f.FileInfo().IsDir() {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return err
		}
		err = writeFile(p, rc, f.Mode().Perm())
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func writeFile(p string, r io.Reader, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if perm == 0 {
		perm = 0o644
	}
	out, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
