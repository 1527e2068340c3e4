// Package recordio implements the RecordIO framing of Mesos's streaming
// HTTP responses: each record is its length in bytes as ASCII decimal
// digits, a newline, and exactly that many bytes of data.
package recordio

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// DefaultMaxRecord is the largest record a Reader accepts by default. It
// matches mesos-go's limit, so every record Agora writes must stay below it.
const DefaultMaxRecord = 4 << 20

// maxSizeLine bounds the length of the size line (digits plus newline).
const maxSizeLine = 21

// ErrRecordTooLarge is returned by ReadRecord for a record over the limit.
var ErrRecordTooLarge = errors.New("recordio: record too large")

// Writer writes records and flushes after each one when the underlying
// writer is an http.Flusher, so that each record leaves in its own chunk.
type Writer struct {
	w io.Writer
	f http.Flusher
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer {
	f, _ := w.(http.Flusher)
	return &Writer{w: w, f: f}
}

// WriteRecord writes one record and flushes it.
func (w *Writer) WriteRecord(data []byte) error {
	return w.WriteRecords([][]byte{data})
}

// WriteRecords writes records and then flushes once: a burst of events
// leaves in as few writes as the buffers allow, not one write each.
func (w *Writer) WriteRecords(records [][]byte) error {
	if len(records) == 0 {
		return nil
	}
	n := 0
	for _, r := range records {
		n += len(r) + 21
	}
	buf := make([]byte, 0, min(n, 1<<20))
	for _, data := range records {
		buf = strconv.AppendInt(buf, int64(len(data)), 10)
		buf = append(buf, '\n')
		buf = append(buf, data...)
		if len(buf) >= 1<<20 {
			if _, err := w.w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	if len(buf) > 0 {
		if _, err := w.w.Write(buf); err != nil {
			return err
		}
	}
	if w.f != nil {
		w.f.Flush()
	}
	return nil
}

// Reader reads records from a stream. It buffers, so record boundaries need
// not match read or chunk boundaries.
type Reader struct {
	r   *bufio.Reader
	max int
}

// NewReader returns a Reader on r accepting records up to DefaultMaxRecord.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: bufio.NewReader(r), max: DefaultMaxRecord}
}

// SetMaxRecord changes the largest accepted record size; a negative n
// refuses every non-empty record.
func (r *Reader) SetMaxRecord(n int) { r.max = n }

// ReadRecord returns the next record's data. At the clean end of the stream
// it returns io.EOF; a stream cut inside a record gives io.ErrUnexpectedEOF.
// Records of size zero are skipped, and white space around the size is
// tolerated, as mesos-go's reader does.
func (r *Reader) ReadRecord() ([]byte, error) {
	for {
		var line []byte
		for {
			b, err := r.r.ReadByte()
			if err != nil {
				if err == io.EOF && len(line) > 0 {
					return nil, io.ErrUnexpectedEOF
				}
				return nil, err
			}
			if b == '\n' {
				break
			}
			line = append(line, b)
			if len(line) > maxSizeLine {
				return nil, fmt.Errorf("recordio: size line longer than %d bytes", maxSizeLine)
			}
		}
		size, err := parseSize(line)
		if err != nil {
			return nil, err
		}
		if size == 0 {
			continue
		}
		if size > uint64(max(r.max, 0)) {
			return nil, fmt.Errorf("%w: %d bytes (limit %d)", ErrRecordTooLarge, size, r.max)
		}
		data := make([]byte, size)
		if _, err := io.ReadFull(r.r, data); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		return data, nil
	}
}

func parseSize(line []byte) (uint64, error) {
	start, end := 0, len(line)
	for start < end && isSpace(line[start]) {
		start++
	}
	for end > start && isSpace(line[end-1]) {
		end--
	}
	if start == end {
		return 0, errors.New("recordio: empty size line")
	}
	n, err := strconv.ParseUint(string(line[start:end]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("recordio: bad size %q", line[start:end])
	}
	return n, nil
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\r' }
