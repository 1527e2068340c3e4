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
// blocking; the subscriber's HTTP handler goroutine writes them out as
// RecordIO records, flushing each. A subscriber that falls StreamBacklog
// events behind is disconnected rather than allowed to stall the loop.
type stream struct {
	id    string
	codec codec.Codec
	out   chan []byte

	once sync.Once
	done chan struct{} // closed when the stream is closed
}

func newStream(id string, c codec.Codec, backlog int) *stream {
	return &stream{id: id, codec: c, out: make(chan []byte, backlog), done: make(chan struct{})}
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
	select {
	case s.out <- data:
		return true
	default:
		s.close()
		return false
	}
}

// close ends the stream after the queued events have been written.
func (s *stream) close() { s.once.Do(func() { close(s.done) }) }

// serve writes the stream to w until it is closed or the client goes away.
// The caller has already written the headers. It returns true when the
// client went away (as opposed to the master closing the stream).
func (s *stream) serve(w http.ResponseWriter, r *http.Request) (clientGone bool) {
	rw := recordio.NewWriter(w)
	for {
		select {
		case data := <-s.out:
			if err := rw.WriteRecord(data); err != nil {
				return true
			}
		case <-s.done:
			// Drain what was queued before the close (e.g. a final ERROR).
			for {
				select {
				case data := <-s.out:
					if err := rw.WriteRecord(data); err != nil {
						return true
					}
				default:
					return false
				}
			}
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
