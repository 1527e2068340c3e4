// Package pty opens pseudo-terminals and sets terminal modes with the
// standard library only: /dev/ptmx and the Linux ioctls TIOCSPTLCK,
// TIOCGPTN, TIOCGWINSZ/TIOCSWINSZ and TCGETS/TCSETS.
package pty

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
	"unsafe"
)

// Open opens a new pseudo-terminal: its master side and the path of its
// slave (/dev/pts/N), unlocked so that any process may open it.
func Open() (master *os.File, slave string, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, "", fmt.Errorf("pty: open /dev/ptmx: %w", err)
	}
	var unlock int32
	if err := ioctl(m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); err != nil {
		m.Close()
		return nil, "", fmt.Errorf("pty: unlock: %w", err)
	}
	var n uint32
	if err := ioctl(m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); err != nil {
		m.Close()
		return nil, "", fmt.Errorf("pty: get pts number: %w", err)
	}
	return m, "/dev/pts/" + strconv.FormatUint(uint64(n), 10), nil
}

// OpenPair opens a new pseudo-terminal and its slave side.
func OpenPair() (master, slave *os.File, err error) {
	m, name, err := Open()
	if err != nil {
		return nil, nil, err
	}
	s, err := os.OpenFile(name, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("pty: open %s: %w", name, err)
	}
	return m, s, nil
}

// Winsize is a terminal's size in characters.
type Winsize struct {
	Rows, Cols uint16
	_, _       uint16 // pixels, unused
}

// SetSize sets the window size of the terminal open on f (either side of
// a pty); the foreground process group gets SIGWINCH.
func SetSize(f *os.File, rows, cols uint16) error {
	ws := Winsize{Rows: rows, Cols: cols}
	return ioctl(f.Fd(), syscall.TIOCSWINSZ, uintptr(unsafe.Pointer(&ws)))
}

// GetSize returns the window size of the terminal open on fd.
func GetSize(fd uintptr) (rows, cols uint16, err error) {
	var ws Winsize
	if err := ioctl(fd, syscall.TIOCGWINSZ, uintptr(unsafe.Pointer(&ws))); err != nil {
		return 0, 0, err
	}
	return ws.Rows, ws.Cols, nil
}

// IsTerminal reports whether fd is a terminal.
func IsTerminal(fd uintptr) bool {
	var t syscall.Termios
	return ioctl(fd, syscall.TCGETS, uintptr(unsafe.Pointer(&t))) == nil
}

// MakeRaw puts the terminal on fd in raw mode, as cfmakeraw(3) does, and
// returns a function restoring its previous mode.
func MakeRaw(fd uintptr) (restore func() error, err error) {
	var old syscall.Termios
	if err := ioctl(fd, syscall.TCGETS, uintptr(unsafe.Pointer(&old))); err != nil {
		return nil, fmt.Errorf("pty: get terminal mode: %w", err)
	}
	t := old
	t.Iflag &^= syscall.IGNBRK | syscall.BRKINT | syscall.PARMRK | syscall.ISTRIP | syscall.INLCR |
		syscall.IGNCR | syscall.ICRNL | syscall.IXON
	t.Oflag &^= syscall.OPOST
	t.Lflag &^= syscall.ECHO | syscall.ECHONL | syscall.ICANON | syscall.ISIG | syscall.IEXTEN
	t.Cflag &^= syscall.CSIZE | syscall.PARENB
	t.Cflag |= syscall.CS8
	t.Cc[syscall.VMIN] = 1
	t.Cc[syscall.VTIME] = 0
	if err := ioctl(fd, syscall.TCSETS, uintptr(unsafe.Pointer(&t))); err != nil {
		return nil, fmt.Errorf("pty: set raw mode: %w", err)
	}
	return func() error { return ioctl(fd, syscall.TCSETS, uintptr(unsafe.Pointer(&old))) }, nil
}

func ioctl(fd, req, arg uintptr) error {
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, req, arg); e != 0 {
		return e
	}
	return nil
}
