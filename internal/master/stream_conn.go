package master

import (
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/agora-dev/agora/api/codec"
	"github.com/agora-dev/agora/api/recordio"
)

// An agent's event stream lasts as long as the agent, and a master holds
// one per agent. Served through net/http, each keeps the server's
// per-connection state for its whole life: a 4 KB read buffer, a 4 KB
// write buffer, a 2 KB chunking buffer, the request and a goroutine
// waiting in the handler. detachStream takes the connection over instead
// (HTTP/1.1 only): the master writes the response head and the chunked
// body itself, from a goroutine that holds nothing but the connection.

// detachStream takes over the connection of r and writes the head of a
// chunked streaming response on it, with the headers already set on w
// and extra. It returns nil, having written nothing, when the connection
// cannot be taken over (HTTP/2, HTTP/1.0, or a ResponseWriter that does
// not hijack): the caller then serves the stream through w.
func detachStream(w http.ResponseWriter, r *http.Request, c codec.Codec, extra map[string]string) net.Conn {
	if r.ProtoMajor != 1 || !r.ProtoAtLeast(1, 1) {
		return nil
	}
	h := w.Header()
	h.Set("Content-Type", c.MediaType())
	h.Set("Cache-Control", "no-cache")
	for k, v := range extra {
		h.Set(k, v)
	}
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	h.Set("Transfer-Encoding", "chunked")
	// The connection ends with the stream: no client may reuse it.
	h.Set("Connection", "close")
	// What the client sent after its request stays unread in the
	// returned reader: a subscriber sends nothing more.
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		h.Del("Date")
		h.Del("Transfer-Encoding")
		h.Del("Connection")
		return nil
	}
	_ = conn.SetDeadline(time.Time{}) // the server's deadlines no longer apply
	head := []byte("HTTP/1.1 200 OK\r\n")
	buf := &appendWriter{b: head}
	_ = h.Write(buf)
	buf.b = append(buf.b, "\r\n"...)
	// A failed write leaves a broken connection: serveConn finds the
	// client gone at once.
	_, _ = conn.Write(buf.b)
	return conn
}

type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }

// serveConn writes the stream to a detached connection, as chunks of
// RecordIO records, until the stream is closed (it then ends the body and
// the connection) or the client goes away. It reports true in the second
// case, like serve.
func (s *stream) serveConn(conn net.Conn) (clientGone bool) {
	defer conn.Close()
	gone := make(chan struct{})
	go func() {
		// A subscriber sends nothing after its request: a read that ends
		// is the client closing (or resetting) the connection.
		var b [1]byte
		for {
			if _, err := conn.Read(b[:]); err != nil {
				close(gone)
				return
			}
		}
	}()
	rw := recordio.NewWriter(chunkWriter{conn})
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
			// Write what was queued before the close (e.g. a final ERROR),
			// then the body's last chunk.
			if !write() {
				return true
			}
			_, err := conn.Write([]byte("0\r\n\r\n"))
			return err != nil
		case <-gone:
			return true
		}
	}
}

// chunkWriter writes each Write as one HTTP/1.1 chunk, in one writev.
type chunkWriter struct{ conn net.Conn }

func (w chunkWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	size := strconv.AppendInt(make([]byte, 0, 20), int64(len(p)), 16)
	size = append(size, '\r', '\n')
	bufs := net.Buffers{size, p, []byte("\r\n")}
	if _, err := bufs.WriteTo(w.conn); err != nil {
		return 0, err
	}
	return len(p), nil
}
