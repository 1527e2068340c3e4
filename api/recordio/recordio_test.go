package recordio

import (
	"bytes"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
)

func writeAll(t *testing.T, records ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, r := range records {
		if err := w.WriteRecord([]byte(r)); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func readAll(r *Reader) ([]string, error) {
	var out []string
	for {
		rec, err := r.ReadRecord()
		if err != nil {
			return out, err
		}
		out = append(out, string(rec))
	}
}

func TestWriterFormat(t *testing.T) {
	got := string(writeAll(t, `{"type":"HEARTBEAT"}`, "é", "x"))
	want := "20\n{\"type\":\"HEARTBEAT\"}2\né1\nx"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestWriterFlushes(t *testing.T) {
	rec := httptest.NewRecorder()
	w := NewWriter(rec)
	if err := w.WriteRecord([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	if !rec.Flushed || rec.Body.String() != "3\nabc" {
		t.Errorf("flushed=%v body=%q", rec.Flushed, rec.Body.String())
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestWriterError(t *testing.T) {
	if err := NewWriter(failingWriter{}).WriteRecord([]byte("x")); err == nil {
		t.Error("write error not reported")
	}
}

func TestRoundTrip(t *testing.T) {
	records := []string{"a", strings.Repeat("b", 70000), "{\"x\":\n1}", "\n\n", "12\n"}
	data := writeAll(t, records...)
	readers := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
		"data err": iotest.DataErrReader,
	}
	for name, wrap := range readers {
		t.Run(name, func(t *testing.T) {
			got, err := readAll(NewReader(wrap(bytes.NewReader(data))))
			if err != io.EOF {
				t.Fatalf("end: %v", err)
			}
			if len(got) != len(records) {
				t.Fatalf("got %d records, want %d", len(got), len(records))
			}
			for i := range records {
				if got[i] != records[i] {
					t.Errorf("record %d differs", i)
				}
			}
		})
	}
}

// chunkReader returns data in chunks of the given sizes, cycling.
type chunkReader struct {
	data  []byte
	sizes []int
	i     int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := c.sizes[c.i%len(c.sizes)]
	c.i++
	n = min(n, len(p), len(c.data))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

func TestArbitraryChunkBoundaries(t *testing.T) {
	records := []string{"first", "second record", strings.Repeat("z", 5000), "4"}
	data := writeAll(t, records...)
	for split := 1; split < len(data); split += 7 {
		for _, sizes := range [][]int{{split}, {split, 1}, {1, split, 3}} {
			got, err := readAll(NewReader(&chunkReader{data: data, sizes: sizes}))
			if err != io.EOF || strings.Join(got, "|") != strings.Join(records, "|") {
				t.Fatalf("sizes %v: got %d records, err %v", sizes, len(got), err)
			}
		}
	}
}

func TestReaderLeniency(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty stream", "", nil},
		{"zero records skipped", "0\n0\n3\nabc0\n", []string{"abc"}},
		{"white space around size", " 3 \nabc\t2\r\nde", []string{"abc", "de"}},
		{"leading zeros", "003\nabc", []string{"abc"}},
		{"binary data", "3\n\x00\n\xff", []string{"\x00\n\xff"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(NewReader(strings.NewReader(tt.in)))
			if err != io.EOF {
				t.Fatalf("err = %v", err)
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReaderErrors(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		max   int
		valid int // records read before the error
		want  error
	}{
		{"truncated data", "5\nab", 0, 0, io.ErrUnexpectedEOF},
		{"truncated after size", "5\n", 0, 0, io.ErrUnexpectedEOF},
		{"truncated size line", "1\na12", 0, 1, io.ErrUnexpectedEOF},
		{"oversize record", "11\nhello world", 10, 0, ErrRecordTooLarge},
		{"oversize default", "4194305\n", 0, 0, ErrRecordTooLarge},
		{"huge size", "18446744073709551615\n", 0, 0, ErrRecordTooLarge},
		{"size overflow", "99999999999999999999\n", 0, 0, nil},
		{"size line too long", strings.Repeat("1", 30), 0, 0, nil},
		{"not a number", "abc\nabc", 0, 0, nil},
		{"negative", "-1\nx", 0, 0, nil},
		{"empty size line", "\nabc", 0, 0, nil},
		{"blank size line", "  \nabc", 0, 0, nil},
		{"hex", "0x3\nabc", 0, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tt.in))
			if tt.max > 0 {
				r.SetMaxRecord(tt.max)
			}
			got, err := readAll(r)
			if err == nil || err == io.EOF {
				t.Fatalf("err = %v, want an error", err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if len(got) != tt.valid {
				t.Errorf("read %d records before the error, want %d", len(got), tt.valid)
			}
		})
	}
}

func TestReaderMaxRecordBoundary(t *testing.T) {
	r := NewReader(strings.NewReader("10\n0123456789"))
	r.SetMaxRecord(10)
	if rec, err := r.ReadRecord(); err != nil || string(rec) != "0123456789" {
		t.Errorf("record at the limit: %q, %v", rec, err)
	}
}

func TestReaderNegativeMax(t *testing.T) {
	r := NewReader(strings.NewReader("18446744073709551615\n"))
	r.SetMaxRecord(-1)
	if _, err := r.ReadRecord(); !errors.Is(err, ErrRecordTooLarge) {
		t.Errorf("err = %v", err)
	}
}

func FuzzRecordIOReader(f *testing.F) {
	f.Add([]byte("3\nabc0\n2\nde"), uint16(0))
	f.Add([]byte(" 3 \nabc"), uint16(2))
	f.Add([]byte("5\nab"), uint16(1))
	f.Add([]byte("99999999999999999999\n"), uint16(3))
	f.Add([]byte("20\n{\"type\":\"HEARTBEAT\"}"), uint16(7))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint16) {
		r := NewReader(&chunkReader{data: data, sizes: []int{int(chunk%64) + 1}})
		r.SetMaxRecord(1 << 16)
		got, err := readAll(r)
		if err == io.EOF {
			// A cleanly read stream re-encodes to records that read back
			// the same (zero records and white space do not survive).
			again, err := readAll(NewReader(bytes.NewReader(writeAll(t, got...))))
			if err != io.EOF || strings.Join(again, "\x00|") != strings.Join(got, "\x00|") || len(again) != len(got) {
				t.Fatalf("re-encoded stream differs: %q vs %q (%v)", again, got, err)
			}
		}
		total := 0
		for _, rec := range got {
			if len(rec) == 0 || len(rec) > 1<<16 {
				t.Fatalf("record of %d bytes", len(rec))
			}
			total += len(rec)
		}
		if total > len(data) {
			t.Fatalf("read %d bytes of records from %d bytes", total, len(data))
		}
	})
}

// countingWriter counts Write calls.
type countingWriter struct {
	bytes.Buffer
	writes int
}

func (c *countingWriter) Write(p []byte) (int, error) { c.writes++; return c.Buffer.Write(p) }

// TestWriteRecordsOneWrite: a batch is one Write (below 1 MiB), in the
// same format as record by record, and a huge batch is split.
func TestWriteRecordsOneWrite(t *testing.T) {
	var c countingWriter
	if err := NewWriter(&c).WriteRecords([][]byte{[]byte(`{"type":"HEARTBEAT"}`), []byte("é"), []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if c.writes != 1 || c.String() != "20\n{\"type\":\"HEARTBEAT\"}2\né1\nx" {
		t.Errorf("%d writes of %q", c.writes, c.String())
	}
	var big countingWriter
	rec := bytes.Repeat([]byte("y"), 600<<10)
	if err := NewWriter(&big).WriteRecords([][]byte{rec, rec, rec}); err != nil {
		t.Fatal(err)
	}
	r := NewReader(&big.Buffer)
	for i := range 3 {
		got, err := r.ReadRecord()
		if err != nil || !bytes.Equal(got, rec) {
			t.Fatalf("record %d: %d bytes, %v", i, len(got), err)
		}
	}
	if big.writes < 2 {
		t.Errorf("a 1.8 MiB batch in %d write(s)", big.writes)
	}
	if err := NewWriter(&big).WriteRecords(nil); err != nil {
		t.Error(err)
	}
}
