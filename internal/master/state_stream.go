package master

import (
	"context"
	"net/http"
	"sync"

	"github.com/agora-dev/agora/internal/httpapi"
)

// /master/state is encoded on the master's loop, where the state is
// consistent, but not built whole before it is written: every docChunk
// bytes the encoding hands a chunk to the request's goroutine, which
// writes it to the client while the loop encodes the rest. The loop never
// waits for the client; a chunk written is garbage, so with a client that
// reads as fast as the loop encodes the master holds a few chunks instead
// of the whole document (63 MB for 10,000 agents and 100,000 tasks).

// docChunk is the size of the chunks /master/state is written in.
const docChunk = 1 << 20

// docStream carries the chunks of one document from the loop to the
// request's goroutine.
type docStream struct {
	mu     sync.Mutex
	chunks [][]byte
	closed bool
	wake   chan struct{}
}

func newDocStream() *docStream { return &docStream{wake: make(chan struct{}, 1)} }

// chunks are the buffers of written chunks, for the next ones: a large
// document is some 60 of them, which would otherwise each be allocated
// (and cleared) again for every request.
var chunks sync.Pool

// newChunk returns an empty buffer for a chunk.
func newChunk() []byte {
	if p, ok := chunks.Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return make([]byte, 0, docChunk+docChunk/4)
}

// releaseChunk gives back a chunk once it was written.
func releaseChunk(b []byte) {
	if cap(b) >= docChunk {
		b = b[:0]
		chunks.Put(&b)
	}
}

// flush hands b to the writer once it holds a chunk, and returns the
// buffer to go on with.
func (d *docStream) flush(b []byte) []byte {
	if len(b) < docChunk {
		return b
	}
	d.push(b, false)
	return newChunk()
}

// push queues a chunk; last ends the document.
func (d *docStream) push(b []byte, last bool) {
	d.mu.Lock()
	if len(b) > 0 {
		d.chunks = append(d.chunks, b)
	}
	d.closed = d.closed || last
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// next returns the next chunk, waiting for it; false once the document is
// over or ctx ends.
func (d *docStream) next(ctx context.Context) ([]byte, bool) {
	for {
		d.mu.Lock()
		if len(d.chunks) > 0 {
			b := d.chunks[0]
			d.chunks[0] = nil
			d.chunks = d.chunks[1:]
			d.mu.Unlock()
			return b, true
		}
		closed := d.closed
		d.mu.Unlock()
		if closed {
			return nil, false
		}
		select {
		case <-d.wake:
		case <-ctx.Done():
			return nil, false
		}
	}
}

// serveState answers /master/state, streamed.
func (m *Master) serveState(w http.ResponseWriter, r *http.Request) {
	if httpapi.RefuseJSONP(w, r) {
		return
	}
	v := m.viewerOf(r)
	d := newDocStream()
	if !m.post(func() { d.push(m.encodeState(v, d.flush), true) }) {
		textError(w, http.StatusServiceUnavailable, "Master is stopping")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	for {
		b, ok := d.next(r.Context())
		if !ok {
			return
		}
		if _, err := w.Write(b); err != nil {
			return
		}
		releaseChunk(b)
	}
}
