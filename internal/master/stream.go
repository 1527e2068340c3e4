package master

import (
	"net/http"
	"sync"

	"github.com/agora-dev/agora/api/codec"
	"github.com/agora-dev/agora/api/recordio"
	"google.golang.org/protobuf/proto"
)

// stream is one subscriber's outbound event stream (a scheduler's or an
// agent's). The master loop encodes events and queues them without
// blocking; the subscriber's HTTP handler goroutine (serve), or for an
// agent a goroutine on its detached connection (serveConn), writes them
// out as RecordIO records, flushing each. A subscriber that falls StreamBacklog
// events behind is disconnected rather than allowed to stall the loop.
type stream struct {
	id      string
	codec   codec.Codec
	backlog int

	// queue holds the encoded events not yet written; it grows only as
	// far as a subscriber falls behind (a master with 10,000 agents keeps
	// 10,000 streams: a fixed buffer of StreamBacklog each would cost
	// gigabytes). wake has room for one signal.
	mu sync.Mutex
	// +checklocks:mu
	queue [][]byte
	wake  chan struct{}

	once sync.Once
	done chan struct{} // closed when the stream is closed
}

func newStream(id string, c codec.Codec, backlog int) *stream {
	return &stream{id: id, codec: c, backlog: backlog, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// send queues m. It reports false when the stream is closed or when it had
// to be closed because the subscriber is too slow.
func (s *stream) send(m proto.Message) bool {
	select {
	case <-s.done:
		return false
	default:
	}
	data, err := s.codec.Marshal(m)
	if err != nil {
		// A message the codec cannot encode is a bug in the master; the
		// subscriber must not see a stream that silently skips events.
		s.close()
		return false
	}
	s.mu.Lock()
	if len(s.queue) >= s.backlog {
		s.mu.Unlock()
		s.close()
		return false
	}
	s.queue = append(s.queue, data)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return true
}

// take removes and returns what is queued.
func (s *stream) take() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queue
	s.queue = nil
	return q
}

// close ends the stream after the queued events have been written.
func (s *stream) close() { s.once.Do(func() { close(s.done) }) }

// closed reports whether the stream has been closed.
func (s *stream) closed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// serve writes the stream to w until it is closed or the client goes away.
// The caller has already written the headers. It returns true when the
// client went away (as opposed to the master closing the stream).
func (s *stream) serve(w http.ResponseWriter, r *http.Request) (clientGone bool) {
	rw := recordio.NewWriter(w)
	write := func() bool {
		return rw.WriteRecords(s.take()) == nil
	}
	for {
		select {
		case <-s.wake:
			if !write() {
				return true
			}
		case <-s.done:
			// Write what was queued before the close (e.g. a final ERROR).
			return !write()
		case <-r.Context().Done():
			return true
		}
	}
}

// startStream writes the headers of a streaming response and flushes them
// at once, so that Go's server never adds a Content-Length.
func startStream(w http.ResponseWriter, c codec.Codec, extra map[string]string) {
	h := w.Header()
	h.Set("Content-Type", c.MediaType())
	h.Set("Cache-Control", "no-cache")
	for k, v := range extra {
		h.Set(k, v)
	}
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}
