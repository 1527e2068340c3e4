package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	agentapi "github.com/agora-dev/agora/api/mesos/v1/agent"
	"github.com/agora-dev/agora/api/recordio"
	"github.com/agora-dev/agora/internal/pty"
	"google.golang.org/protobuf/proto"
)

const execUsage = `usage: agora exec [-t] [--master=HOST:PORT] TASK_ID -- CMD [ARGS...]

Runs CMD in the container of a running task (a nested container session on
its agent: LAUNCH_NESTED_CONTAINER_SESSION), in the task's sandbox and
cgroups, with stdin forwarded (ATTACH_CONTAINER_INPUT) and stdout and
stderr streamed back. Exits with CMD's exit status. TASK_ID may be any
unique prefix of the id.

Flags:
  -t                  run CMD on a pty, this terminal in raw mode
  --master=HOST:PORT  master to ask (default $AGORA_MASTER, else 127.0.0.1:5050)
`

const attachUsage = `usage: agora attach [--master=HOST:PORT] TASK_ID

Streams the output of a running task's container (ATTACH_CONTAINER_OUTPUT)
until it ends or Ctrl-C; for a task launched with a tty
(ContainerInfo.tty_info) stdin is forwarded too (ATTACH_CONTAINER_INPUT)
and this terminal is put in raw mode. Ctrl-P Ctrl-Q detaches.
TASK_ID may be any unique prefix of the id.

Flags:
  --master=HOST:PORT  master to ask (default $AGORA_MASTER, else 127.0.0.1:5050)
`

// exitStatus is an error carrying the exit status a command ends with.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

const mediaRecordIO = "application/recordio"

// Exec implements `agora exec`.
func Exec(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var cmd []string
	for i, a := range args {
		if a == "--" {
			args, cmd = args[:i], args[i+1:]
			break
		}
	}
	var tty bool
	return runOp(ctx, "exec", execUsage, args, stdout, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&tty, "t", false, "")
	}, func(ctx context.Context, c *opClient, args []string) error {
		if len(args) != 1 || len(cmd) == 0 {
			return usageError("want TASK_ID -- CMD [ARGS...]")
		}
		return execTask(ctx, c, args[0], cmd, tty, stdin)
	})
}

// Attach implements `agora attach`.
func Attach(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runOp(ctx, "attach", attachUsage, args, stdout, stderr, nil, func(ctx context.Context, c *opClient, args []string) error {
		if len(args) != 1 {
			return usageError("want one TASK_ID")
		}
		err := attachTask(ctx, c, args[0], stdin)
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	})
}

// taskContainer finds a running task's agent and container.
func taskContainer(ctx context.Context, c *opClient, prefix string) (*mesos.Task, string, *mesos.ContainerID, error) {
	t, d, err := lookupTask(ctx, c, prefix)
	if err != nil {
		return nil, "", nil, err
	}
	if t.GetState() != mesos.TaskState_TASK_RUNNING {
		return nil, "", nil, fmt.Errorf("task %s is %s, not running", d.ID, d.State)
	}
	if d.AgentAddress == "" {
		return nil, "", nil, fmt.Errorf("task %s runs on agent %s, whose address the master does not know", d.ID, d.AgentID)
	}
	var cid *mesos.ContainerID
	for _, s := range t.GetStatuses() {
		if id := s.GetContainerStatus().GetContainerId(); id.GetValue() != "" {
			cid = id
		}
	}
	if cid == nil {
		return nil, "", nil, fmt.Errorf("task %s has reported no container id", d.ID)
	}
	return t, c.scheme + "://" + d.AgentAddress + "/api/v1", cid, nil
}

// postStream POSTs a call whose answer is a ProcessIO stream.
func postStream(ctx context.Context, client *http.Client, url string, call *agentapi.Call) (*http.Response, error) {
	body, err := codec.Protobuf.Marshal(call)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", codec.MediaProtobuf)
	req.Header.Set("Accept", mediaRecordIO)
	req.Header.Set("Message-Accept", codec.MediaProtobuf)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, fmt.Errorf("%s: %s: %s", call.GetType(), resp.Status, strings.TrimSpace(string(b)))
	}
	return resp, nil
}

// copyOutput writes the ProcessIO records of body to stdout and stderr.
func copyOutput(body io.Reader, stdout, stderr io.Writer) error {
	rd := recordio.NewReader(body)
	for {
		b, err := rd.ReadRecord()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		m := &agentapi.ProcessIO{}
		if err := proto.Unmarshal(b, m); err != nil {
			return fmt.Errorf("decoding output: %w", err)
		}
		if m.GetType() != agentapi.ProcessIO_DATA {
			continue
		}
		switch m.GetData().GetType() {
		case agentapi.ProcessIO_Data_STDOUT:
			_, err = stdout.Write(m.GetData().GetData())
		case agentapi.ProcessIO_Data_STDERR:
			_, err = stderr.Write(m.GetData().GetData())
		}
		if err != nil {
			return err
		}
	}
}

// sendInput streams stdin (and, with a terminal, its window size) to the
// container id as ATTACH_CONTAINER_INPUT until stdin ends (then EOF) or
// ctx does. detach, when set, ends the input at Ctrl-P Ctrl-Q without EOF.
func sendInput(ctx context.Context, client *http.Client, url string, id *mesos.ContainerID, stdin io.Reader, term *os.File, detach bool) error {
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, pr)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", mediaRecordIO)
	req.Header.Set("Message-Content-Type", codec.MediaProtobuf)
	answered := make(chan error, 1)
	go func() {
		resp, err := client.Do(req)
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("ATTACH_CONTAINER_INPUT: %s: %s", resp.Status, strings.TrimSpace(string(b)))
			}
		}
		pr.CloseWithError(errors.New("answered"))
		answered <- err
	}()
	w := recordio.NewWriter(pw)
	send := func(aci *agentapi.Call_AttachContainerInput) error {
		b, err := proto.Marshal(&agentapi.Call{Type: agentapi.Call_ATTACH_CONTAINER_INPUT.Enum(), AttachContainerInput: aci})
		if err != nil {
			return err
		}
		return w.WriteRecord(b)
	}
	pio := func(m *agentapi.ProcessIO) *agentapi.Call_AttachContainerInput {
		return &agentapi.Call_AttachContainerInput{Type: agentapi.Call_AttachContainerInput_PROCESS_IO.Enum(), ProcessIo: m}
	}
	data := func(b []byte) *agentapi.Call_AttachContainerInput {
		return pio(&agentapi.ProcessIO{Type: agentapi.ProcessIO_DATA.Enum(),
			Data: &agentapi.ProcessIO_Data{Type: agentapi.ProcessIO_Data_STDIN.Enum(), Data: b}})
	}
	if err := send(&agentapi.Call_AttachContainerInput{Type: agentapi.Call_AttachContainerInput_CONTAINER_ID.Enum(), ContainerId: id}); err != nil {
		return <-answered
	}
	var winch chan os.Signal
	if term != nil {
		winch = make(chan os.Signal, 1)
		winch <- syscall.SIGWINCH // the size now
		signal.Notify(winch, syscall.SIGWINCH)
		defer signal.Stop(winch)
	}
	chunks := make(chan []byte)
	go func() {
		defer close(chunks)
		for {
			buf := make([]byte, 4096)
			n, err := stdin.Read(buf)
			if n > 0 {
				select {
				case chunks <- buf[:n]:
				case <-ctx.Done():
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	var last byte
	for {
		select {
		case <-ctx.Done():
			pw.CloseWithError(ctx.Err())
			return <-answered
		case err := <-answered:
			return err
		case <-winch:
			if rows, cols, err := pty.GetSize(term.Fd()); err == nil {
				_ = send(pio(&agentapi.ProcessIO{Type: agentapi.ProcessIO_CONTROL.Enum(), Control: &agentapi.ProcessIO_Control{
					Type:    agentapi.ProcessIO_Control_TTY_INFO.Enum(),
					TtyInfo: &mesos.TTYInfo{WindowSize: &mesos.TTYInfo_WindowSize{Rows: proto.Uint32(uint32(rows)), Columns: proto.Uint32(uint32(cols))}},
				}}))
			}
		case b, ok := <-chunks:
			if !ok {
				_ = send(data(nil)) // EOF
				pw.Close()
				return <-answered
			}
			if detach && (bytes.Contains(b, []byte{0x10, 0x11}) || (last == 0x10 && b[0] == 0x11)) {
				pw.Close()
				return <-answered
			}
			last = b[len(b)-1]
			if err := send(data(b)); err != nil {
				return <-answered
			}
		}
	}
}

// rawTerminal puts stdin's terminal in raw mode when it is one; the
// returned file is the terminal (nil when stdin is not one).
func rawTerminal(stdin io.Reader) (*os.File, func(), error) {
	f, ok := stdin.(*os.File)
	if !ok || !pty.IsTerminal(f.Fd()) {
		return nil, func() {}, nil
	}
	restore, err := pty.MakeRaw(f.Fd())
	if err != nil {
		return nil, nil, err
	}
	return f, func() { _ = restore() }, nil
}

func execTask(ctx context.Context, c *opClient, prefix string, cmd []string, tty bool, stdin io.Reader) error {
	_, url, parent, err := taskContainer(ctx, c, prefix)
	if err != nil {
		return err
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	id := &mesos.ContainerID{Value: proto.String("exec-" + hex.EncodeToString(rnd[:])), Parent: &mesos.ContainerID{Value: parent.Value}}
	launch := &agentapi.Call_LaunchNestedContainerSession{
		ContainerId: id,
		Command:     &mesos.CommandInfo{Shell: proto.Bool(false), Value: proto.String(cmd[0]), Arguments: cmd},
	}
	var term *os.File
	if tty {
		var restore func()
		term, restore, err = rawTerminal(stdin)
		if err != nil {
			return err
		}
		defer restore()
		ti := &mesos.TTYInfo{}
		if term != nil {
			if rows, cols, err := pty.GetSize(term.Fd()); err == nil {
				ti.WindowSize = &mesos.TTYInfo_WindowSize{Rows: proto.Uint32(uint32(rows)), Columns: proto.Uint32(uint32(cols))}
			}
			if t := os.Getenv("TERM"); t != "" {
				launch.Command.Environment = &mesos.Environment{Variables: []*mesos.Environment_Variable{
					{Name: proto.String("TERM"), Value: proto.String(t)}}}
			}
		}
		launch.Container = &mesos.ContainerInfo{Type: mesos.ContainerInfo_MESOS.Enum(), TtyInfo: ti}
	}
	resp, err := postStream(ctx, c.stream, url, &agentapi.Call{Type: agentapi.Call_LAUNCH_NESTED_CONTAINER_SESSION.Enum(), LaunchNestedContainerSession: launch})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	inCtx, stopInput := context.WithCancel(ctx)
	defer stopInput()
	go func() { _ = sendInput(inCtx, c.stream, url, id, stdin, term, false) }()
	if err := copyOutput(resp.Body, c.stdout, c.stderr); err != nil && ctx.Err() == nil {
		return fmt.Errorf("session output: %w", err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	stopInput()
	// The command's exit status.
	body, _ := codec.Protobuf.Marshal(&agentapi.Call{Type: agentapi.Call_WAIT_NESTED_CONTAINER.Enum(),
		WaitNestedContainer: &agentapi.Call_WaitNestedContainer{ContainerId: id}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", codec.MediaProtobuf)
	req.Header.Set("Accept", codec.MediaProtobuf)
	wr, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("WAIT_NESTED_CONTAINER: %w", err)
	}
	defer wr.Body.Close()
	b, _ := io.ReadAll(wr.Body)
	if wr.StatusCode != http.StatusOK {
		return fmt.Errorf("WAIT_NESTED_CONTAINER: %s: %s", wr.Status, strings.TrimSpace(string(b)))
	}
	out := &agentapi.Response{}
	if err := proto.Unmarshal(b, out); err != nil {
		return fmt.Errorf("WAIT_NESTED_CONTAINER: %w", err)
	}
	ws := syscall.WaitStatus(out.GetWaitNestedContainer().GetExitStatus())
	switch {
	case ws.Signaled():
		return exitStatus(128 + int(ws.Signal()))
	case ws.ExitStatus() != 0:
		return exitStatus(ws.ExitStatus())
	}
	return nil
}

func attachTask(ctx context.Context, c *opClient, prefix string, stdin io.Reader) error {
	t, url, cid, err := taskContainer(ctx, c, prefix)
	if err != nil {
		return err
	}
	resp, err := postStream(ctx, c.stream, url, &agentapi.Call{Type: agentapi.Call_ATTACH_CONTAINER_OUTPUT.Enum(),
		AttachContainerOutput: &agentapi.Call_AttachContainerOutput{ContainerId: cid}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if t.GetContainer().GetTtyInfo() != nil {
		term, restore, err := rawTerminal(stdin)
		if err != nil {
			return err
		}
		defer restore()
		go func() {
			_ = sendInput(ctx, c.stream, url, cid, stdin, term, true)
			cancel() // detached (Ctrl-P Ctrl-Q) or input ended
			resp.Body.Close()
		}()
	}
	err = copyOutput(resp.Body, c.stdout, c.stderr)
	if ctx.Err() != nil {
		return nil
	}
	return err
}
