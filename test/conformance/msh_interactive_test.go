package conformance

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// msh -interactive launches its command task with ContainerInfo.tty_info
// and, on TASK_RUNNING, attaches to the task's container on the agent
// operator API at <offer hostname>:5051 (hard-coded): ATTACH_CONTAINER_INPUT
// (a RecordIO request stream) and ATTACH_CONTAINER_OUTPUT (a RecordIO
// response stream). -tty also puts msh's own terminal in raw mode and
// forwards its window size. The agent must listen on 5051, so the two
// runs share one cluster, one after the other.
func TestMshInteractive(t *testing.T) {
	c := newCluster(t)
	i := len(c.agents)
	a := start(t, agoraBin, "agent", "--switch_user=false", "--master="+c.master, "--ip=127.0.0.1", "--port=5051", "--hostname=127.0.0.1",
		"--work_dir="+c.agentDir(i), "--resources=cpus:2;mem:1024;disk:2048;ports:[31000-31099]")
	a.waitListening(t)
	c.agents = append(c.agents, a)
	waitFor(t, 20*time.Second, "the agent to register", func() bool {
		var st struct{ Slaves []struct{ Active bool } }
		return getJSON("http://"+c.master+"/master/state", &st) == nil && len(st.Slaves) == 1 && st.Slaves[0].Active
	})

	t.Run("interactive", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), programTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, mshBin, "-master", c.master, "-interactive", "--", "/bin/sh")
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out := &syncBuffer{changed: make(chan struct{}, 1)}
		var logs bytes.Buffer
		cmd.Stdout, cmd.Stderr = out, &logs
		cmd.WaitDelay = 5 * time.Second
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The shell runs on the task's pty: it echoes the input, so wait
		// for what only running the command prints.
		io.WriteString(stdin, "echo $((6*7))-computed\n")
		if !out.waitFor(ctx, "42-computed") {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("no output of the command; stdout %q\nmsh log:\n%s", out.String(), logs.String())
		}
		io.WriteString(stdin, "exit\n")
		stdin.Close()
		err = cmd.Wait()
		if ctx.Err() != nil || cmd.ProcessState.ExitCode() != 0 {
			t.Fatalf("msh -interactive: %v (exit %d); stdout %q\nmsh log:\n%s", err, cmd.ProcessState.ExitCode(), out.String(), logs.String())
		}
		if !strings.Contains(logs.String(), "TASK_FINISHED") {
			t.Errorf("msh log lacks TASK_FINISHED:\n%s", logs.String())
		}
	})

	t.Run("tty", func(t *testing.T) {
		// msh -tty opens its controlling terminal (ctermid): give it one.
		master, slave, err := openPTY()
		if err != nil {
			t.Skipf("no pty: %v", err)
		}
		defer master.Close()
		ctx, cancel := context.WithTimeout(context.Background(), programTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, mshBin, "-master", c.master, "-interactive", "-tty", "--", "/bin/sh")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
		cmd.Env = append(os.Environ(), "TERM=dumb")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		slave.Close()
		out := &syncBuffer{changed: make(chan struct{}, 1)}
		copied := make(chan struct{})
		go func() { _, _ = io.Copy(out, master); close(copied) }() // ends with EIO once msh has exited
		// msh puts the terminal in raw mode only once the task runs:
		// type the command once it has attached.
		if !out.waitFor(ctx, "attaching for interactive session") {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("msh -tty never attached:\n%s", out.String())
		}
		io.WriteString(master, "echo $((6*7))-computed\r")
		if !out.waitFor(ctx, "42-computed") {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("no output of the command through msh's tty:\n%s", out.String())
		}
		io.WriteString(master, "exit\r")
		err = cmd.Wait()
		if ctx.Err() != nil || cmd.ProcessState.ExitCode() != 0 {
			t.Fatalf("msh -tty: %v (exit %d):\n%s", err, cmd.ProcessState.ExitCode(), out.String())
		}
		master.Close()
		<-copied
	})
}

// syncBuffer is an output buffer a test waits on.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	n, err := s.b.Write(p)
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
	return n, err
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor waits until the buffer contains want or ctx ends.
func (s *syncBuffer) waitFor(ctx context.Context, want string) bool {
	for !strings.Contains(s.String(), want) {
		select {
		case <-s.changed:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// openPTY opens a pseudo-terminal with the standard library (as Agora's
// internal/pty, which this module cannot import).
func openPTY() (master, slave *os.File, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		m.Close()
		return nil, nil, e
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		m.Close()
		return nil, nil, e
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.FormatUint(uint64(n), 10), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	// A window size, which msh -tty reads and forwards.
	ws := [4]uint16{24, 80, 0, 0}
	syscall.Syscall(syscall.SYS_IOCTL, s.Fd(), syscall.TIOCSWINSZ, uintptr(unsafe.Pointer(&ws)))
	return m, s, nil
}
