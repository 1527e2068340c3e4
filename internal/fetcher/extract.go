package fetcher

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

// archiveKind classifies a fetched file by its name: "tar", "tar.gz",
// "tar.bz2", "tar.xz", "zip", "gz", or "" for a file that is not extracted.
func archiveKind(name string) string {
	n := strings.ToLower(name)
	switch {
	case strings.HasSuffix(n, ".tar.gz"), strings.HasSuffix(n, ".tgz"):
		return "tar.gz"
	case strings.HasSuffix(n, ".tar.bz2"), strings.HasSuffix(n, ".tbz2"):
		return "tar.bz2"
	case strings.HasSuffix(n, ".tar.xz"), strings.HasSuffix(n, ".txz"):
		return "tar.xz"
	case strings.HasSuffix(n, ".tar"):
		return "tar"
	case strings.HasSuffix(n, ".zip"):
		return "zip"
	case strings.HasSuffix(n, ".gz") && len(n) > len(".gz") && !strings.HasSuffix(n, "/.gz"):
		return "gz"
	}
	return ""
}

// extract unpacks the archive name (inside root) into root. Every write
// goes through root, so a path that resolves outside the sandbox, through
// ".." or a symlink, fails; names and link targets are also checked
// before, for a clear message.
func (f *Fetcher) extract(ctx context.Context, root *os.Root, name string) error {
	fh, err := root.Open(name)
	if err != nil {
		return err
	}
	defer fh.Close()
	x := &extractor{root: root, left: f.cfg.MaxSize}
	err = x.extract(ctx, fh, name)
	if err != nil {
		// A member can fail after a link that only a later member made
		// escape ("l -> m/.." then "m -> ."): finish never ran, so remove
		// every link that now resolves outside, or the task, or the
		// sandbox files API, could follow it.
		x.dropEscaping()
	}
	return err
}

func (x *extractor) extract(ctx context.Context, fh *os.File, name string) error {
	var in io.Reader = ctxReader{ctx, fh}
	switch archiveKind(name) {
	case "tar":
		return x.tar(in)
	case "tar.gz":
		zr, err := gzip.NewReader(in)
		if err != nil {
			return err
		}
		return x.tar(zr)
	case "tar.bz2":
		return x.tar(bzip2.NewReader(in))
	case "tar.xz":
		return x.tarXZ(ctx, in)
	case "zip":
		fi, err := fh.Stat()
		if err != nil {
			return err
		}
		zr, err := zip.NewReader(fh, fi.Size())
		if err != nil {
			return err
		}
		return x.zip(zr)
	case "gz":
		zr, err := gzip.NewReader(in)
		if err != nil {
			return err
		}
		out := name[:len(name)-len(".gz")]
		return x.file(out, zr, 0o644)
	}
	return nil
}

type extractor struct {
	root  *os.Root
	left  int64 // bytes that may still be written
	dirs  []dirMode
	links []string // symlinks created, checked again at the end
}

type dirMode struct {
	name string
	mode fs.FileMode
}

// member validates an archive member's name and returns it cleaned and
// relative to the sandbox ("" for the sandbox itself).
func member(name string) (string, error) {
	if name == "" {
		return "", errors.New("archive member with an empty name")
	}
	if strings.HasPrefix(name, "/") || filepath.IsAbs(name) {
		return "", fmt.Errorf("archive member %q has an absolute path", name)
	}
	c := path.Clean(name)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("archive member %q leaves the sandbox", name)
	}
	if c == "." {
		return "", nil
	}
	return c, nil
}

// checkLink refuses a symlink target that is absolute or leaves the
// sandbox from the link's directory.
func checkLink(name, target string) error {
	if target == "" || strings.HasPrefix(target, "/") {
		return fmt.Errorf("links to %q, outside the sandbox", target)
	}
	c := path.Clean(path.Join(path.Dir(name), target))
	if c == ".." || strings.HasPrefix(c, "../") {
		return fmt.Errorf("links to %q, outside the sandbox", target)
	}
	return nil
}

func (x *extractor) parent(name string) error {
	if d := path.Dir(name); d != "." {
		return x.root.MkdirAll(d, 0o755)
	}
	return nil
}

// clear removes what is at name (not a directory) so that a new member
// replaces it instead of writing through it.
func (x *extractor) clear(name string) {
	if fi, err := x.root.Lstat(name); err == nil && !fi.IsDir() {
		_ = x.root.Remove(name)
	}
}

// file writes a regular file with exactly perm (setuid and the like are
// dropped).
func (x *extractor) file(name string, r io.Reader, perm fs.FileMode) error {
	if err := x.parent(name); err != nil {
		return err
	}
	x.clear(name)
	out, err := x.root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	n, err := io.Copy(out, io.LimitReader(r, x.left+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	x.left -= n
	if x.left < 0 {
		return errors.New("extracted data exceeds the size limit")
	}
	if perm == 0 {
		perm = 0o644
	}
	return x.root.Chmod(name, perm.Perm())
}

func (x *extractor) dir(name string, perm fs.FileMode) error {
	if name == "" {
		return nil
	}
	if err := x.root.MkdirAll(name, 0o755); err != nil {
		return err
	}
	if perm = perm.Perm(); perm != 0 {
		x.dirs = append(x.dirs, dirMode{name, perm})
	}
	return nil
}

func (x *extractor) symlink(name, target string) error {
	if err := checkLink(name, target); err != nil {
		return err
	}
	if err := x.parent(name); err != nil {
		return err
	}
	x.clear(name)
	if err := x.root.Symlink(target, name); err != nil {
		return err
	}
	x.links = append(x.links, name)
	return x.checkResolved(name)
}

// checkResolved refuses a symlink that resolves outside the sandbox through
// other symlinks ("d -> ." then "d/l -> .."), which the lexical check
// cannot see. Dangling links are fine: nothing they name exists.
func (x *extractor) checkResolved(name string) error {
	if _, err := x.root.Stat(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		_ = x.root.Remove(name)
		return fmt.Errorf("resolves outside the sandbox (%v)", err)
	}
	return nil
}

// dropEscaping removes every link created that resolves outside the sandbox
// and returns the error for the first.
func (x *extractor) dropEscaping() error {
	var first error
	for _, l := range x.links {
		if err := x.checkResolved(l); err != nil && first == nil {
			first = fmt.Errorf("archive member %q: %w", l, err)
		}
	}
	return first
}

// finish checks the links again, now that every member is in place, and
// applies directory modes, deepest first, once their contents are written.
func (x *extractor) finish() error {
	if err := x.dropEscaping(); err != nil {
		return err
	}
	for i := len(x.dirs) - 1; i >= 0; i-- {
		if err := x.root.Chmod(x.dirs[i].name, x.dirs[i].mode|0o700); err != nil {
			return err
		}
	}
	return nil
}

func (x *extractor) tar(r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return x.finish()
		}
		if err != nil {
			return err
		}
		name, err := member(h.Name)
		if err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = x.dir(name, h.FileInfo().Mode())
		case tar.TypeReg:
			if name == "" {
				return fmt.Errorf("archive member %q is not a file name", h.Name)
			}
			err = x.file(name, tr, h.FileInfo().Mode())
		case tar.TypeSymlink:
			if name == "" {
				return fmt.Errorf("archive member %q is not a file name", h.Name)
			}
			err = x.symlink(name, h.Linkname)
		case tar.TypeLink:
			var target string
			if target, err = member(h.Linkname); err != nil {
				return err
			}
			if name == "" || target == "" {
				return fmt.Errorf("archive member %q is a bad hard link", h.Name)
			}
			if err = x.parent(name); err != nil {
				return err
			}
			x.clear(name)
			if err = x.root.Link(target, name); err == nil {
				// A hard link to a symlink is another symlink (link(2)
				// does not follow it): check it like one.
				if fi, lerr := x.root.Lstat(name); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
					x.links = append(x.links, name)
					err = x.checkResolved(name)
				}
			}
		default:
			// Devices, FIFOs, PAX globals: not for a sandbox.
			continue
		}
		if err != nil {
			return fmt.Errorf("archive member %q: %w", h.Name, err)
		}
	}
}

func (x *extractor) zip(zr *zip.Reader) error {
	for _, zf := range zr.File {
		name, err := member(zf.Name)
		if err != nil {
			return err
		}
		mode := zf.Mode()
		switch {
		case mode.IsDir():
			err = x.dir(name, mode)
		case mode&fs.ModeSymlink != 0:
			var target []byte
			if target, err = readSmall(zf); err == nil {
				err = x.symlink(name, string(target))
			}
		case mode.IsRegular():
			if name == "" {
				return fmt.Errorf("archive member %q is not a file name", zf.Name)
			}
			var rc io.ReadCloser
			if rc, err = zf.Open(); err == nil {
				err = x.file(name, rc, mode)
				rc.Close()
			}
		default:
			continue
		}
		if err != nil {
			return fmt.Errorf("archive member %q: %w", zf.Name, err)
		}
	}
	return x.finish()
}

func readSmall(zf *zip.File) ([]byte, error) {
	rc, err := zf.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 4097))
	if err != nil {
		return nil, err
	}
	if len(b) > 4096 {
		return nil, errors.New("symlink target too long")
	}
	return b, nil
}

// tarXZ decompresses with the xz program and extracts the tar stream.
func (x *extractor) tarXZ(ctx context.Context, in io.Reader) error {
	xz, err := exec.LookPath("xz")
	if err != nil {
		return errors.New("cannot decompress xz: the xz program is not installed on this agent (install xz-utils)")
	}
	cmd := exec.CommandContext(ctx, xz, "-dc")
	cmd.Stdin = in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	terr := x.tar(out)
	if terr != nil {
		_ = cmd.Process.Kill()
	} else {
		// Trailing padding after the tar end: let xz finish writing.
		_, _ = io.Copy(io.Discard, out)
	}
	werr := cmd.Wait()
	if werr != nil {
		msg := strings.TrimSpace(stderr.String())
		if terr != nil && msg != "" {
			return fmt.Errorf("%w (xz: %s)", terr, msg)
		}
		if terr != nil {
			return terr
		}
		return fmt.Errorf("xz -d: %v %s", werr, msg)
	}
	return terr
}
