package agent

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	agentapi "github.com/agora-dev/agora/api/mesos/v1/agent"
	"github.com/agora-dev/agora/api/recordio"
	"google.golang.org/protobuf/proto"
)

// outputStream is a streaming ProcessIO response being read.
type outputStream struct {
	resp *http.Response
	recs chan *agentapi.ProcessIO // closed at the end of the stream
	buf  bytes.Buffer             // what has arrived, STDOUT and STDERR
}

// streamCall POSTs a call whose answer is a ProcessIO stream (c encodes
// the call and the records) and starts reading it.
func streamCall(t *testing.T, ctx context.Context, ta *testAgent, c codec.Codec, call *agentapi.Call) *outputStream {
	t.Helper()
	body, err := c.Marshal(call)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ta.url("/api/v1"), bytes.NewReader(body))
	req.Header.Set("Content-Type", c.MediaType())
	req.Header.Set("Accept", mediaRecordIO)
	req.Header.Set("Message-Accept", c.MediaType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("%s: %s: %s", call.GetType(), resp.Status, b)
	}
	if ct, mct := resp.Header.Get("Content-Type"), resp.Header.Get("Message-Content-Type"); ct != mediaRecordIO || mct != c.MediaType() {
		t.Fatalf("%s: Content-Type %q, Message-Content-Type %q", call.GetType(), ct, mct)
	}
	s := &outputStream{resp: resp, recs: make(chan *agentapi.ProcessIO, 100)}
	go func() {
		defer close(s.recs)
		defer resp.Body.Close()
		rd := recordio.NewReader(resp.Body)
		for {
			b, err := rd.ReadRecord()
			if err != nil {
				return
			}
			m := &agentapi.ProcessIO{}
			if err := c.Unmarshal(b, m); err != nil {
				t.Errorf("decoding a ProcessIO record: %v", err)
				return
			}
			s.recs <- m
		}
	}()
	return s
}

// until reads records until the output contains want; false if the
// stream ended first.
func (s *outputStream) until(t *testing.T, want string) bool {
	t.Helper()
	for !strings.Contains(s.buf.String(), want) {
		m, ok := <-s.recs
		if !ok {
			return false
		}
		s.add(m)
	}
	return true
}

func (s *outputStream) add(m *agentapi.ProcessIO) {
	if m.GetType() == agentapi.ProcessIO_DATA {
		s.buf.Write(m.GetData().GetData())
	}
}

// drain reads the stream to its end.
func (s *outputStream) drain() string {
	for m := range s.recs {
		s.add(m)
	}
	return s.buf.String()
}

// inputStream is a streaming ATTACH_CONTAINER_INPUT request.
type inputStream struct {
	t    *testing.T
	c    codec.Codec
	w    *io.PipeWriter
	rw   *recordio.Writer
	done chan *http.Response
}

func attachInput(t *testing.T, ctx context.Context, ta *testAgent, c codec.Codec, id *mesos.ContainerID) *inputStream {
	t.Helper()
	pr, pw := io.Pipe()
	in := &inputStream{t: t, c: c, w: pw, rw: recordio.NewWriter(pw), done: make(chan *http.Response, 1)}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ta.url("/api/v1"), pr)
	req.Header.Set("Content-Type", mediaRecordIO)
	req.Header.Set("Message-Content-Type", c.MediaType())
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("ATTACH_CONTAINER_INPUT: %v", err)
			in.done <- nil
			return
		}
		resp.Body.Close()
		in.done <- resp
	}()
	in.send(&agentapi.Call_AttachContainerInput{
		Type:        agentapi.Call_AttachContainerInput_CONTAINER_ID.Enum(),
		ContainerId: id,
	})
	return in
}

func (in *inputStream) send(aci *agentapi.Call_AttachContainerInput) {
	in.t.Helper()
	b, err := in.c.Marshal(&agentapi.Call{Type: agentapi.Call_ATTACH_CONTAINER_INPUT.Enum(), AttachContainerInput: aci})
	if err != nil {
		in.t.Fatal(err)
	}
	if err := in.rw.WriteRecord(b); err != nil {
		in.t.Fatalf("writing input: %v", err)
	}
}

func (in *inputStream) data(s string) {
	in.t.Helper()
	in.send(&agentapi.Call_AttachContainerInput{
		Type: agentapi.Call_AttachContainerInput_PROCESS_IO.Enum(),
		ProcessIo: &agentapi.ProcessIO{
			Type: agentapi.ProcessIO_DATA.Enum(),
			Data: &agentapi.ProcessIO_Data{Type: agentapi.ProcessIO_Data_STDIN.Enum(), Data: []byte(s)},
		},
	})
}

// end closes the request body and returns the status of the answer.
func (in *inputStream) end() int {
	in.w.Close()
	resp := <-in.done
	if resp == nil {
		return 0
	}
	return resp.StatusCode
}

func runningContainer(t *testing.T, m *fakeMaster, taskID string) *mesos.ContainerID {
	t.Helper()
	u := m.waitState(t, taskID, mesos.TaskState_TASK_RUNNING)
	cid := u.GetStatus().GetContainerStatus().GetContainerId()
	if cid.GetValue() == "" {
		t.Fatalf("TASK_RUNNING of %s carries no container id", taskID)
	}
	return cid
}

func nestedID(parent *mesos.ContainerID, v string) *mesos.ContainerID {
	return &mesos.ContainerID{Value: proto.String(v), Parent: &mesos.ContainerID{Value: parent.Value}}
}

// TestNestedSessionCat runs cat as a nested container session of a
// running command task, fed by ATTACH_CONTAINER_INPUT, in both codecs.
func TestNestedSessionCat(t *testing.T) {
	t.Parallel()
	m := newFakeMaster(t)
	a := startAgent(t, m, nil)
	m.send(runTaskEvent("fw1", commandTask("t1", "sleep 60")))
	parent := runningContainer(t, m, "t1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	for i, c := range []codec.Codec{codec.JSON, codec.Protobuf} {
		id := nestedID(parent, "cat"+string(rune('0'+i)))
		out := streamCall(t, ctx, a, c, &agentapi.Call{
			Type: agentapi.Call_LAUNCH_NESTED_CONTAINER_SESSION.Enum(),
			LaunchNestedContainerSession: &agentapi.Call_LaunchNestedContainerSession{
				ContainerId: id,
				Command:     &mesos.CommandInfo{Shell: proto.Bool(false), Value: proto.String("cat")},
			},
		})
		in := attachInput(t, ctx, a, c, id)
		in.data("hello from stdin\n")
		if !out.until(t, "hello from stdin\n") {
			t.Fatalf("%s: session ended before cat echoed its input: %q", c.MediaType(), out.buf.String())
		}
		in.data("") // EOF: cat exits
		if code := in.end(); code != http.StatusOK {
			t.Fatalf("%s: ATTACH_CONTAINER_INPUT answered %d", c.MediaType(), code)
		}
		if got := out.drain(); got != "hello from stdin\n" {
			t.Fatalf("%s: session output %q", c.MediaType(), got)
		}
		resp := mustOp(t, a, c, &agentapi.Call{
			Type:                agentapi.Call_WAIT_NESTED_CONTAINER.Enum(),
			WaitNestedContainer: &agentapi.Call_WaitNestedContainer{ContainerId: id},
		}, agentapi.Response_WAIT_NESTED_CONTAINER)
		if st := resp.GetWaitNestedContainer().ExitStatus; st == nil || *st != 0 {
			t.Fatalf("%s: WAIT_NESTED_CONTAINER exit_status %v, want 0", c.MediaType(), st)
		}
	}

	// A session's exit status is its command's; stderr is its own stream.
	id := nestedID(parent, "fail")
	out := streamCall(t, ctx, a, codec.JSON, &agentapi.Call{
		Type: agentapi.Call_LAUNCH_NESTED_CONTAINER_SESSION.Enum(),
		LaunchNestedContainerSession: &agentapi.Call_LaunchNestedContainerSession{
			ContainerId: id,
			Command:     &mesos.CommandInfo{Value: proto.String("echo oops >&2; exit 3")},
		},
	})
	var stderr string
	for rec := range out.recs {
		if rec.GetData().GetType() == agentapi.ProcessIO_Data_STDERR {
			stderr += string(rec.GetData().GetData())
		}
	}
	if stderr != "oops\n" {
		t.Errorf("stderr records %q, want \"oops\\n\"", stderr)
	}
	resp := mustOp(t, a, codec.JSON, &agentapi.Call{
		Type:                agentapi.Call_WAIT_NESTED_CONTAINER.Enum(),
		WaitNestedContainer: &agentapi.Call_WaitNestedContainer{ContainerId: id},
	}, agentapi.Response_WAIT_NESTED_CONTAINER)
	if st := resp.GetWaitNestedContainer().GetExitStatus(); st != 3<<8 {
		t.Errorf("exit_status %d, want the wait status of exit 3 (%d)", st, 3<<8)
	}

	// Unknown parents and containers.
	for _, call := range []*agentapi.Call{
		{Type: agentapi.Call_LAUNCH_NESTED_CONTAINER_SESSION.Enum(), LaunchNestedContainerSession: &agentapi.Call_LaunchNestedContainerSession{
			ContainerId: nestedID(&mesos.ContainerID{Value: proto.String("nope")}, "x"), Command: &mesos.CommandInfo{Value: proto.String("true")}}},
		{Type: agentapi.Call_ATTACH_CONTAINER_OUTPUT.Enum(), AttachContainerOutput: &agentapi.Call_AttachContainerOutput{
			ContainerId: &mesos.ContainerID{Value: proto.String("nope")}}},
	} {
		body, _ := codec.JSON.Marshal(call)
		r, b := doRequest(t, http.MethodPost, a.url("/api/v1"), codec.MediaJSON, body,
			map[string]string{"Accept": mediaRecordIO, "Message-Accept": codec.MediaJSON})
		if r.StatusCode != http.StatusNotFound {
			t.Errorf("%s of an unknown container: %s: %s", call.GetType(), r.Status, b)
		}
	}
	// The task's container has no tty: nothing to attach to.
	body, _ := codec.JSON.Marshal(&agentapi.Call{Type: agentapi.Call_ATTACH_CONTAINER_OUTPUT.Enum(),
		AttachContainerOutput: &agentapi.Call_AttachContainerOutput{ContainerId: parent}})
	if r, b := doRequest(t, http.MethodPost, a.url("/api/v1"), codec.MediaJSON, body,
		map[string]string{"Accept": mediaRecordIO}); r.StatusCode != http.StatusBadRequest {
		t.Errorf("ATTACH_CONTAINER_OUTPUT of a container without a tty: %s: %s", r.Status, b)
	}
}

// TestNestedSessionTTY runs a session with tty_info: its output comes
// from a pty of the asked size, which is its controlling terminal.
func TestNestedSessionTTY(t *testing.T) {
	t.Parallel()
	m := newFakeMaster(t)
	a := startAgent(t, m, nil)
	m.send(runTaskEvent("fw1", commandTask("t1", "sleep 60")))
	parent := runningContainer(t, m, "t1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := streamCall(t, ctx, a, codec.Protobuf, &agentapi.Call{
		Type: agentapi.Call_LAUNCH_NESTED_CONTAINER_SESSION.Enum(),
		LaunchNestedContainerSession: &agentapi.Call_LaunchNestedContainerSession{
			ContainerId: nestedID(parent, "tty"),
			Command:     &mesos.CommandInfo{Value: proto.String("tty; stty size; test -t 0 && echo stdin-is-a-tty")},
			Container: &mesos.ContainerInfo{Type: mesos.ContainerInfo_MESOS.Enum(), TtyInfo: &mesos.TTYInfo{
				WindowSize: &mesos.TTYInfo_WindowSize{Rows: proto.Uint32(33), Columns: proto.Uint32(101)}}},
		},
	})
	got := out.drain()
	for _, want := range []string{"/dev/pts/", "33 101", "stdin-is-a-tty"} {
		if !strings.Contains(got, want) {
			t.Errorf("tty session output lacks %q: %q", want, got)
		}
	}
}

// TestAttachTTYTask launches a command task with ContainerInfo.tty_info,
// as msh -interactive does, and talks to it with ATTACH_CONTAINER_OUTPUT
// and ATTACH_CONTAINER_INPUT.
func TestAttachTTYTask(t *testing.T) {
	t.Parallel()
	m := newFakeMaster(t)
	a := startAgent(t, m, nil)
	ti := commandTask("t1", "test -t 0 && read x && echo got-$x")
	ti.Container = &mesos.ContainerInfo{Type: mesos.ContainerInfo_MESOS.Enum(), TtyInfo: &mesos.TTYInfo{}}
	m.send(runTaskEvent("fw1", ti))
	cid := runningContainer(t, m, "t1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := streamCall(t, ctx, a, codec.Protobuf, &agentapi.Call{
		Type:                  agentapi.Call_ATTACH_CONTAINER_OUTPUT.Enum(),
		AttachContainerOutput: &agentapi.Call_AttachContainerOutput{ContainerId: cid},
	})
	in := attachInput(t, ctx, a, codec.Protobuf, cid)
	in.send(&agentapi.Call_AttachContainerInput{
		Type: agentapi.Call_AttachContainerInput_PROCESS_IO.Enum(),
		ProcessIo: &agentapi.ProcessIO{Type: agentapi.ProcessIO_CONTROL.Enum(), Control: &agentapi.ProcessIO_Control{
			Type:    agentapi.ProcessIO_Control_TTY_INFO.Enum(),
			TtyInfo: &mesos.TTYInfo{WindowSize: &mesos.TTYInfo_WindowSize{Rows: proto.Uint32(40), Columns: proto.Uint32(120)}},
		}},
	})
	in.data("abc\n")
	if !out.until(t, "got-abc") {
		t.Fatalf("output ended without got-abc: %q", out.buf.String())
	}
	in.end()
	out.drain() // ends with the container
	m.waitState(t, "t1", mesos.TaskState_TASK_FINISHED)
}

// TestNestedSessionEndsWithParent kills a task while a session runs in its
// container: the session ends with it.
func TestNestedSessionEndsWithParent(t *testing.T) {
	t.Parallel()
	m := newFakeMaster(t)
	a := startAgent(t, m, nil)
	m.send(runTaskEvent("fw1", commandTask("t1", "sleep 60")))
	parent := runningContainer(t, m, "t1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := nestedID(parent, "long")
	out := streamCall(t, ctx, a, codec.JSON, &agentapi.Call{
		Type: agentapi.Call_LAUNCH_NESTED_CONTAINER_SESSION.Enum(),
		LaunchNestedContainerSession: &agentapi.Call_LaunchNestedContainerSession{
			ContainerId: id,
			Command:     &mesos.CommandInfo{Value: proto.String("echo started; exec sleep 600")},
		},
	})
	if !out.until(t, "started\n") {
		t.Fatalf("session ended early: %q", out.buf.String())
	}
	m.send(&agentpb.Event{Type: agentpb.Event_KILL_TASK.Enum(), KillTask: &agentpb.Event_KillTask{
		FrameworkId: &mesos.FrameworkID{Value: proto.String("fw1")}, TaskId: &mesos.TaskID{Value: proto.String("t1")},
	}})
	m.waitState(t, "t1", mesos.TaskState_TASK_KILLED)
	out.drain() // ends: the session died with its parent
	resp := mustOp(t, a, codec.JSON, &agentapi.Call{
		Type:                agentapi.Call_WAIT_NESTED_CONTAINER.Enum(),
		WaitNestedContainer: &agentapi.Call_WaitNestedContainer{ContainerId: id},
	}, agentapi.Response_WAIT_NESTED_CONTAINER)
	if st := syscall.WaitStatus(resp.GetWaitNestedContainer().GetExitStatus()); !st.Signaled() {
		t.Errorf("session exit status %v, want killed by a signal", st)
	}
}
