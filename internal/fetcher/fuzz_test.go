package fetcher

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// archiveNames maps FuzzExtract's kind byte to the fetched file's name,
// which selects the format.
var archiveNames = []string{"a.tar", "a.zip", "a.tar.gz", "a.gz", "a.tar.bz2"}

// FuzzExtract extracts arbitrary archives into a sandbox nested inside a
// scratch tree and asserts the slip checks: whatever the archive, and
// whether or not extraction fails, nothing is written outside the sandbox
// and no symbolic link left in the sandbox resolves outside it.
//
// kind%len(archiveNames) picks the format for raw data. With kind ≥ 128,
// data is instead a script, one member per line, "T name|target-or-body"
// with T one of f (file), d (dir), l (symlink), h (hard link), built into a
// well-formed tar (kind odd) or zip (kind even): random bytes seldom make
// a tar header with a valid checksum, a script always does.
func FuzzExtract(f *testing.F) {
	seedTar := func(ms ...entryT) []byte { return tarBytesF(f, ms...) }
	f.Add(byte(0), seedTar(entryT{name: "bundle/", typ: tar.TypeDir, mode: 0o755}, entryT{name: "bundle/run.sh", body: "#!/bin/sh\n", mode: 0o755}))
	f.Add(byte(0), seedTar(entryT{name: "d", typ: tar.TypeSymlink, link: "."}, entryT{name: "d/l", typ: tar.TypeSymlink, link: ".."}))
	f.Add(byte(0), seedTar(entryT{name: "h", typ: tar.TypeLink, link: "../../etc/passwd"}))
	f.Add(byte(1), zipBytesF(f, entryT{name: "x/y.txt", body: "hello"}, entryT{name: "l", typ: tar.TypeSymlink, link: "x/y.txt"}))
	f.Add(byte(2), gzBytes(f, seedTar(entryT{name: "a/b", body: "x"})))
	f.Add(byte(3), gzBytes(f, []byte("plain")))
	f.Add(byte(129), []byte("d x|\nl x/l|..\nf x/l/evil|boom\n"))
	f.Add(byte(129), []byte("l m|.\nl l|m/..\nf ../bad|x\n"))
	f.Add(byte(129), []byte("l m|.\nl l|m/..\nh h|l\n"))
	f.Add(byte(128), []byte("l d|.\nl d/up|../outside\nf up/evil|x\n"))
	f.Add(byte(129), []byte("f a|1\nh b|a\nl c|b\nd e|\nf e/f|2\n"))

	f.Fuzz(func(t *testing.T, kind byte, data []byte) {
		scratch := scratchDir(t)
		sandbox := filepath.Join(scratch, "p1", "p2", "sandbox")
		outside := filepath.Join(scratch, "p1", "p2", "outside")
		for _, d := range []string{sandbox, outside} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		name := archiveNames[int(kind)%len(archiveNames)]
		if kind >= 128 {
			ms, ok := parseScript(data)
			if !ok {
				return
			}
			if kind%2 == 1 {
				name, data = "a.tar", tarBytesF(t, ms...)
			} else {
				name, data = "a.zip", zipBytesF(t, ms...)
			}
		}
		if err := os.WriteFile(filepath.Join(sandbox, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		root, err := os.OpenRoot(sandbox)
		if err != nil {
			t.Fatal(err)
		}
		defer root.Close()
		fx := &Fetcher{cfg: Config{MaxSize: 1 << 20}}
		_ = fx.extract(context.Background(), root, name) // errors are fine; escapes are not

		// Nothing outside the sandbox: the scratch tree is exactly what the
		// test made.
		_ = filepath.WalkDir(scratch, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if p == sandbox {
				return filepath.SkipDir
			}
			switch p {
			case scratch, filepath.Join(scratch, "p1"), filepath.Join(scratch, "p1", "p2"), outside:
				return nil
			}
			t.Errorf("extraction wrote %s, outside the sandbox", p)
			return nil
		})
		realSandbox, _ := filepath.EvalSymlinks(sandbox)
		_ = filepath.WalkDir(sandbox, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if d.IsDir() {
				// Keep the walk going through directories extraction
				// left without permissions.
				_ = os.Chmod(p, 0o755)
				return nil
			}
			if d.Type()&fs.ModeSymlink == 0 {
				return nil
			}
			real, err := filepath.EvalSymlinks(p)
			if err != nil {
				return nil // dangling: names nothing
			}
			if real != realSandbox && !strings.HasPrefix(real, realSandbox+string(filepath.Separator)) {
				target, _ := os.Readlink(p)
				t.Errorf("symlink %s -> %q left in the sandbox resolves outside it, to %s", p, target, real)
			}
			return nil
		})
	})
}

// parseScript reads FuzzExtract's script form.
func parseScript(data []byte) ([]entryT, bool) {
	var ms []entryT
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(line) < 3 || line[1] != ' ' || len(ms) > 16 {
			continue
		}
		name, rest, _ := strings.Cut(string(line[2:]), "|")
		if name == "" {
			continue
		}
		m := entryT{name: name}
		switch line[0] {
		case 'f':
			m.body = rest
		case 'd':
			m.typ, m.mode = tar.TypeDir, 0o755
			if !strings.HasSuffix(m.name, "/") {
				m.name += "/"
			}
		case 'l':
			m.typ, m.link = tar.TypeSymlink, rest
		case 'h':
			m.typ, m.link = tar.TypeLink, rest
		default:
			continue
		}
		ms = append(ms, m)
	}
	return ms, len(ms) > 0
}

// tarBytesF and zipBytesF are tarBytes and zipBytes for a fuzz seed or a
// fuzz run; a member the writer refuses is left out.
func tarBytesF(tb testing.TB, ms ...entryT) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range ms {
		h := &tar.Header{Name: m.name, Mode: m.mode, Typeflag: m.typ, Linkname: m.link}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(m.body))
		}
		if tw.WriteHeader(h) != nil {
			continue
		}
		_, _ = tw.Write([]byte(m.body))
	}
	_ = tw.Close()
	return buf.Bytes()
}

func zipBytesF(tb testing.TB, ms ...entryT) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, m := range ms {
		if m.typ == tar.TypeLink { // zip has no hard links
			continue
		}
		h := &zip.FileHeader{Name: m.name, Method: zip.Deflate}
		mode := fs.FileMode(m.mode)
		if mode == 0 {
			mode = 0o644
		}
		body := m.body
		switch m.typ {
		case tar.TypeSymlink:
			mode |= fs.ModeSymlink
			body = m.link
		case tar.TypeDir:
			mode |= fs.ModeDir
		}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			tb.Fatal(err)
		}
		_, _ = w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func gzBytes(tb testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// scratchDir is a fresh directory removed at the end of the test, in memory
// (/dev/shm) where there is one: a fuzz run makes and removes thousands.
func scratchDir(t *testing.T) string {
	base := ""
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		base = "/dev/shm"
	}
	d, err := os.MkdirTemp(base, "agora-fuzz-extract-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Directories extracted without write permission block RemoveAll.
		_ = filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				_ = os.Chmod(p, 0o755)
			}
			return nil
		})
		if err := os.RemoveAll(d); err != nil {
			t.Error(err)
		}
	})
	return d
}
