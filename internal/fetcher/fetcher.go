// Package fetcher downloads a task's CommandInfo.uris into its sandbox
// before the executor starts, as Mesos's fetcher does.
//
// Sources: http:// and https:// URLs, file:// URLs and absolute local
// paths. Per URI:
//
//   - output_file names the file, a relative path inside the sandbox (an
//     absolute path or one that leaves the sandbox is refused); otherwise the
//     base name of the URI's path is used;
//   - executable makes the file mode 0755 and the file is never extracted;
//   - extract (default true) unpacks .tar, .tar.gz/.tgz, .tar.bz2/.tbz2,
//     .tar.xz/.txz and .zip archives into the sandbox, keeping the members'
//     permission bits, and gunzips a plain .gz file to its name without .gz;
//     members that would land outside the sandbox (absolute names, "..",
//     symlinks pointing out, writes through symlinks) fail the fetch;
//   - cache uses the agent's fetcher cache: a size-bounded LRU directory of
//     downloads keyed by user and URI, shared by every task of the agent;
//     concurrent fetches of one URI download it once.
//
// Progress and errors go to the writer the caller passes, the sandbox's
// stderr, in the words Mesos uses ("Fetching URI '…'", "Downloaded N
// bytes", "Extracted '…' into '…'", "Failed to fetch '…': …").
//
// xz has no decoder in Go's standard library; rather than add a dependency
// the fetcher pipes .tar.xz/.txz archives through the xz program (`xz -dc`)
// and reads the tar stream itself, so that the confinement checks are the
// same for every format. Without xz on PATH such a fetch fails and says so.
package fetcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
)

// Defaults of Config.
const (
	DefaultCacheSize int64 = 2 << 30  // 2 GiB, as Mesos's --fetcher_cache_size
	DefaultMaxSize   int64 = 16 << 30 // per download and per archive's extracted bytes
	DefaultTimeout         = 30 * time.Minute
)

// Config configures a Fetcher.
type Config struct {
	// CacheDir holds cached downloads. Files the fetcher left there before
	// (named c-*) are removed by New: the cache does not survive a restart,
	// as in Mesos.
	CacheDir string
	// CacheSize bounds the bytes of completed cache entries; the least
	// recently used entries not being copied out are evicted beyond it. A
	// download larger than the bound is handed to the tasks waiting for it
	// and not kept. 0 means DefaultCacheSize.
	CacheSize int64
	// MaxSize bounds one download and the bytes extracted from one archive;
	// 0 means DefaultMaxSize.
	MaxSize int64
	// Timeout bounds the fetch of one URI (download and extraction); 0
	// means DefaultTimeout.
	Timeout time.Duration
	// Client is used for http(s) URIs; nil means a client with connect and
	// response-header timeouts (the whole download is bounded by Timeout).
	Client *http.Client
	Log    *slog.Logger
}

// Fetcher fetches URIs into sandboxes. It is safe for concurrent use; one
// per agent, so that the cache is shared.
type Fetcher struct {
	cfg    Config
	client *http.Client
	log    *slog.Logger
	cache  *cache

	// Fetch calls with URIs that succeeded and failed (Mesos's
	// containerizer/fetcher/task_fetches_{succeeded,failed}).
	succeeded, failed atomic.Int64
}

// Stats are the fetcher's metrics, under Mesos's names
// containerizer/fetcher/*.
type Stats struct {
	CacheSizeTotalBytes  int64 // the cache's bound
	CacheSizeUsedBytes   int64 // bytes of completed cache entries
	TaskFetchesSucceeded int64
	TaskFetchesFailed    int64
}

// Stats reports the fetcher's metrics.
func (f *Fetcher) Stats() Stats {
	_, used := f.cache.usage()
	return Stats{
		CacheSizeTotalBytes:  f.cfg.CacheSize,
		CacheSizeUsedBytes:   used,
		TaskFetchesSucceeded: f.succeeded.Load(),
		TaskFetchesFailed:    f.failed.Load(),
	}
}

// Error is a failed fetch of one URI.
type Error struct {
	URI string
	Err error
}

func (e *Error) Error() string { return fmt.Sprintf("Failed to fetch '%s': %v", e.URI, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// New creates the cache directory, empties it of earlier entries and
// returns a Fetcher.
func New(cfg Config) (*Fetcher, error) {
	if cfg.CacheSize == 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	if cfg.CacheSize < 0 {
		return nil, fmt.Errorf("fetcher: cache size %d is negative", cfg.CacheSize)
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.CacheDir == "" {
		return nil, errors.New("fetcher: cache directory is required")
	}
	client := cfg.Client
	if client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		tr.ResponseHeaderTimeout = time.Minute
		client = &http.Client{Transport: tr}
	}
	c, err := newCache(cfg.CacheDir, cfg.CacheSize, cfg.Log)
	if err != nil {
		return nil, err
	}
	return &Fetcher{cfg: cfg, client: client, log: cfg.Log, cache: c}, nil
}

// CacheUsage reports the number of completed cache entries and their bytes.
func (f *Fetcher) CacheUsage() (entries int, bytes int64) { return f.cache.usage() }

// Fetch fetches uris in order into sandbox (which must exist), on behalf of
// user (the cache key's other half), writing progress to log. It stops at
// the first failure and returns it as an *Error; cancelling ctx abandons
// the fetch.
func (f *Fetcher) Fetch(ctx context.Context, uris []*mesos.CommandInfo_URI, sandbox, user string, log io.Writer) error {
	if len(uris) == 0 {
		return nil
	}
	if log == nil {
		log = io.Discard
	}
	root, err := os.OpenRoot(sandbox)
	if err != nil {
		f.failed.Add(1)
		return fmt.Errorf("open sandbox: %w", err)
	}
	defer root.Close()
	for _, u := range uris {
		if err := f.fetchOne(ctx, u, root, user, log); err != nil {
			f.failed.Add(1)
			fe := &Error{URI: u.GetValue(), Err: err}
			fmt.Fprintln(log, fe.Error())
			return fe
		}
	}
	f.succeeded.Add(1)
	return nil
}

func (f *Fetcher) fetchOne(ctx context.Context, u *mesos.CommandInfo_URI, root *os.Root, user string, log io.Writer) error {
	raw := u.GetValue()
	fmt.Fprintf(log, "Fetching URI '%s'\n", raw)
	name, err := destName(u)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	if dir := filepath.Dir(name); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create directory for %q: %w", name, err)
		}
	}
	// An earlier URI or archive may have left anything at name; replace it.
	if fi, err := root.Lstat(name); err == nil && !fi.IsDir() {
		_ = root.Remove(name)
	}
	executable := u.GetExecutable()
	extract := !executable && (u.Extract == nil || u.GetExtract()) && archiveKind(name) != ""
	if u.GetCache() {
		err = f.fetchCached(ctx, raw, user, root, name, extract, log)
	} else {
		fmt.Fprintf(log, "Fetching directly into the sandbox directory\n")
		err = f.fetchDirect(ctx, raw, root, name, log)
	}
	if err != nil {
		return err
	}
	if executable {
		if err := root.Chmod(name, 0o755); err != nil {
			return err
		}
		fmt.Fprintf(log, "Made '%s' executable\n", name)
		return nil
	}
	if extract {
		if err := f.extract(ctx, root, name); err != nil {
			return fmt.Errorf("extract %q: %w", name, err)
		}
		fmt.Fprintf(log, "Extracted '%s' into '%s'\n", filepath.Join(root.Name(), name), root.Name())
	}
	return nil
}

// fetchDirect downloads raw to name inside root.
func (f *Fetcher) fetchDirect(ctx context.Context, raw string, root *os.Root, name string, log io.Writer) error {
	out, err := root.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	n, err := f.download(ctx, raw, out)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = root.Remove(name)
		return err
	}
	fmt.Fprintf(log, "Downloaded %d bytes from '%s'\n", n, raw)
	return nil
}

// download copies the URI's content to w, bounded by MaxSize and ctx.
func (f *Fetcher) download(ctx context.Context, raw string, w io.Writer) (int64, error) {
	src, size, err := f.open(ctx, raw)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	if size > f.cfg.MaxSize {
		return 0, fmt.Errorf("size %d bytes exceeds the limit of %d bytes", size, f.cfg.MaxSize)
	}
	n, err := io.Copy(w, io.LimitReader(ctxReader{ctx, src}, f.cfg.MaxSize+1))
	if err != nil {
		if ctx.Err() != nil {
			return n, fmt.Errorf("download abandoned: %w", context.Cause(ctx))
		}
		return n, fmt.Errorf("download: %w", err)
	}
	if n > f.cfg.MaxSize {
		return n, fmt.Errorf("download exceeds the limit of %d bytes", f.cfg.MaxSize)
	}
	if size >= 0 && n != size {
		return n, fmt.Errorf("download truncated: %d of %d bytes", n, size)
	}
	return n, nil
}

// open opens a URI for reading; size is -1 when unknown.
func (f *Fetcher) open(ctx context.Context, raw string) (io.ReadCloser, int64, error) {
	lower := strings.ToLower(raw)
	switch {
	case strings.HasPrefix(lower, "http://"), strings.HasPrefix(lower, "https://"):
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
		if err != nil {
			return nil, 0, err
		}
		resp, err := f.client.Do(req)
		if err != nil {
			return nil, 0, err
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return nil, 0, fmt.Errorf("HTTP %s", resp.Status)
		}
		return resp.Body, resp.ContentLength, nil
	case strings.HasPrefix(lower, "file://"):
		pu, err := url.Parse(raw)
		if err != nil {
			return nil, 0, err
		}
		if pu.Host != "" && pu.Host != "localhost" {
			return nil, 0, fmt.Errorf("file URI with host %q: only local files can be fetched", pu.Host)
		}
		return openLocal(pu.Path)
	case strings.HasPrefix(raw, "/"):
		return openLocal(raw)
	case strings.Contains(raw, "://"):
		return nil, 0, errors.New("unsupported URI scheme (supported: http, https, file and absolute paths)")
	case raw == "":
		return nil, 0, errors.New("empty URI")
	default:
		return nil, 0, errors.New("relative path: Agora has no frameworks_home, give an absolute path or a URL")
	}
}

func openLocal(p string) (io.ReadCloser, int64, error) {
	fh, err := os.Open(p)
	if err != nil {
		return nil, 0, err
	}
	fi, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, 0, err
	}
	if !fi.Mode().IsRegular() {
		fh.Close()
		return nil, 0, fmt.Errorf("%s is not a regular file", p)
	}
	return fh, fi.Size(), nil
}

// destName is the sandbox-relative name a URI is fetched to.
func destName(u *mesos.CommandInfo_URI) (string, error) {
	if of := u.GetOutputFile(); of != "" {
		if filepath.IsAbs(of) {
			return "", fmt.Errorf("output_file %q is absolute; it must be relative to the sandbox", of)
		}
		c := filepath.Clean(of)
		if c == "." || c == ".." || strings.HasPrefix(c, "../") {
			return "", fmt.Errorf("output_file %q leaves the sandbox", of)
		}
		return c, nil
	}
	raw := u.GetValue()
	p := raw
	if strings.Contains(raw, "://") {
		pu, err := url.Parse(raw)
		if err != nil {
			return "", err
		}
		p = pu.Path
	}
	base := path.Base(p)
	if base == "" || base == "." || base == "/" || base == ".." {
		return "", errors.New("cannot derive a file name from the URI; set output_file")
	}
	return base, nil
}

// ctxReader fails reads once ctx is done, so that local copies are
// cancellable like HTTP bodies.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// ParseBytes parses a size the way Mesos's flags write it: a number
// followed by B, KB, MB, GB or TB (powers of 1024, case-insensitive), or a
// bare number of bytes.
func ParseBytes(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"TB", 1 << 40}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || n < 0 || n*float64(mult) >= 1<<63 {
		return 0, fmt.Errorf("bad size %q (want e.g. 2GB, 512MB or a number of bytes)", s)
	}
	return int64(n * float64(mult)), nil
}
