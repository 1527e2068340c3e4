package fetcher

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// cache is the agent's fetcher cache: one file per (user, URI) under dir,
// least recently used evicted beyond size bytes.
//
// An entry is created by the first fetch that misses; that fetch starts the
// download in a goroutine of its own, so that it survives the first task's
// kill while others wait for it. Every fetch waiting for or copying out of
// an entry pins it; a pinned entry is never evicted and its file stays until
// the last pin is released. When every waiter gives up before the download
// ends, the download is cancelled. A failed download is forgotten at once,
// so the next fetch tries again.
type cache struct {
	dir  string
	size int64
	log  *slog.Logger

	mu      sync.Mutex
	entries map[string]*entry // by key; downloading and complete entries
	lru     *list.List        // complete entries in the map, front = most recent
	used    int64             // bytes of complete entries in lru
	seq     int
}

type entry struct {
	key, path string
	done      chan struct{} // closed when the download ended
	err       error         // of the download, once done
	size      int64
	pins      int
	cancel    context.CancelFunc
	elem      *list.Element // in lru when complete and cached
	gone      bool          // out of the map: remove the file when unpinned
}

func newCache(dir string, size int64, log *slog.Logger) (*cache, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("fetcher: create cache directory: %w", err)
	}
	// Only our own files: the directory may be shared with something else.
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("fetcher: read cache directory: %w", err)
	}
	for _, de := range des {
		if strings.HasPrefix(de.Name(), "c-") && de.Type().IsRegular() {
			_ = os.Remove(filepath.Join(dir, de.Name()))
		}
	}
	return &cache{dir: dir, size: size, log: log, entries: make(map[string]*entry), lru: list.New()}, nil
}

func cacheKey(user, uri string) string { return user + "\x00" + uri }

func (c *cache) usage() (int, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len(), c.used
}

// acquire returns the entry for key, pinned, and whether this call started
// its download (with start, which runs in its own goroutine).
func (c *cache) acquire(key string, start func(ctx context.Context, e *entry)) (*entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[key]; e != nil {
		e.pins++
		if e.elem != nil {
			c.lru.MoveToFront(e.elem)
		}
		return e, false
	}
	c.seq++
	sum := sha256.Sum256([]byte(key))
	e := &entry{
		key:  key,
		path: filepath.Join(c.dir, "c-"+hex.EncodeToString(sum[:12])+"-"+strconv.Itoa(c.seq)),
		done: make(chan struct{}),
		pins: 1,
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	c.entries[key] = e
	go start(ctx, e)
	return e, true
}

// finish records the end of e's download and makes room for it.
func (c *cache) finish(e *entry, size int64, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.cancel()
	e.size, e.err = size, err
	switch {
	case e.gone:
		// Abandoned by every waiter while downloading.
	case err != nil:
		c.forget(e)
	case size > c.size:
		c.log.Info("download larger than the fetcher cache; not cached", "path", e.path, "size", size, "cache_size", c.size)
		c.forget(e)
	default:
		e.elem = c.lru.PushFront(e)
		c.used += size
		c.evict()
	}
	if e.gone && e.pins == 0 {
		_ = os.Remove(e.path)
	}
	close(e.done)
}

// release unpins e.
func (c *cache) release(e *entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.pins--
	if e.pins > 0 {
		return
	}
	select {
	case <-e.done:
	default:
		// Nobody wants the download any more; a later fetch starts afresh.
		e.cancel()
		c.forget(e)
		return
	}
	if e.gone {
		_ = os.Remove(e.path)
		return
	}
	c.evict()
}

// forget takes e out of the map and the LRU list; its file goes with the
// last pin.
func (c *cache) forget(e *entry) {
	if c.entries[e.key] == e {
		delete(c.entries, e.key)
	}
	if e.elem != nil {
		c.lru.Remove(e.elem)
		e.elem = nil
		c.used -= e.size
	}
	e.gone = true
}

// evict removes unpinned entries, least recently used first, until the
// cache fits its bound.
func (c *cache) evict() {
	for el := c.lru.Back(); el != nil && c.used > c.size; {
		prev := el.Prev()
		e := el.Value.(*entry)
		if e.pins == 0 {
			c.log.Info("evicting fetcher cache entry", "path", e.path, "size", e.size)
			c.forget(e)
			_ = os.Remove(e.path)
		}
		el = prev
	}
}

// fetchCached fetches raw through the cache into name inside root. The
// file is hard-linked from the cache when it is an archive about to be
// extracted (the task works on the extracted copies) and copied otherwise,
// so that a task writing to its file cannot change the cache.
func (f *Fetcher) fetchCached(ctx context.Context, raw, user string, root *os.Root, name string, link bool, log io.Writer) error {
	e, started := f.cache.acquire(cacheKey(user, raw), func(ctx context.Context, e *entry) {
		ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
		defer cancel()
		out, err := os.OpenFile(e.path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		var n int64
		if err == nil {
			n, err = f.download(ctx, raw, out)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
		}
		f.cache.finish(e, n, err)
	})
	defer f.cache.release(e)
	if started {
		fmt.Fprintf(log, "Downloading into the fetcher cache\n")
	} else {
		fmt.Fprintf(log, "Using the fetcher cache (a download of this URI is cached or under way)\n")
	}
	select {
	case <-e.done:
	case <-ctx.Done():
		return fmt.Errorf("fetch abandoned: %w", context.Cause(ctx))
	}
	if e.err != nil {
		return e.err
	}
	if started {
		fmt.Fprintf(log, "Downloaded %d bytes from '%s'\n", e.size, raw)
	}
	if link {
		dst := filepath.Join(root.Name(), name)
		if real, err := filepath.EvalSymlinks(filepath.Dir(dst)); err == nil && within(root.Name(), real) {
			if err := os.Link(e.path, filepath.Join(real, filepath.Base(name))); err == nil {
				fmt.Fprintf(log, "Hard-linked cached file to '%s'\n", dst)
				return nil
			}
		}
	}
	src, err := os.Open(e.path)
	if err != nil {
		return fmt.Errorf("open cached file: %w", err)
	}
	defer src.Close()
	out, err := root.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, ctxReader{ctx, src})
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = root.Remove(name)
		return fmt.Errorf("copy from the fetcher cache: %w", err)
	}
	fmt.Fprintf(log, "Copied cached file to '%s'\n", filepath.Join(root.Name(), name))
	return nil
}

// within reports whether p is dir or below it (both cleaned, absolute).
func within(dir, p string) bool {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return false
	}
	return p == real || strings.HasPrefix(p, real+string(filepath.Separator))
}
