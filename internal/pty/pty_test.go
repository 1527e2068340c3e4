package pty

import (
	"bufio"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

func TestPtyRunsTty(t *testing.T) {
	m, s, err := OpenPair()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer m.Close()
	if !IsTerminal(s.Fd()) {
		t.Fatal("slave is not a terminal")
	}
	if err := SetSize(m, 33, 101); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", "tty; stty size")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s, s, s
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	var lines []string
	sc := bufio.NewScanner(m)
	for sc.Scan() { // ends with EIO once the shell has exited
		lines = append(lines, strings.TrimSpace(sc.Text()))
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "/dev/pts/") || lines[1] != "33 101" {
		t.Fatalf("output %q, want a /dev/pts/N line and \"33 101\"", lines)
	}
}
