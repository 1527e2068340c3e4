package agent

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"

	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	agentapi "github.com/agora-dev/agora/api/mesos/v1/agent"
	"github.com/agora-dev/agora/api/recordio"
	cmdexec "github.com/agora-dev/agora/internal/executor"
	"github.com/agora-dev/agora/internal/httpapi"
	"github.com/agora-dev/agora/internal/isolation"
	"github.com/agora-dev/agora/internal/proc"
	"github.com/agora-dev/agora/internal/pty"
	"google.golang.org/protobuf/proto"
)

// Interactive sessions: Mesos's IO switchboard, the agent operator calls
// LAUNCH_NESTED_CONTAINER_SESSION, ATTACH_CONTAINER_INPUT,
// ATTACH_CONTAINER_OUTPUT and WAIT_NESTED_CONTAINER.
//
// A container with a switchboard is either the container of a command
// task launched with ContainerInfo.tty_info (the task's stdio is a pty
// whose master the agent holds) or a nested container session: a process
// started by the agent in its parent container's cgroups, in the parent's
// sandbox and environment, with pipes or (tty_info) a pty for its stdio.
// Agora's nested containers have no namespaces or cgroups of their own.

const mediaRecordIO = "application/recordio"

// ioSwitch is the switchboard of one container: its output is fanned out
// to the attached outputs, its input taken from one attached input.
type ioSwitch struct {
	tty   *os.File // pty master; nil with pipes
	inMu  sync.Mutex
	stdin *os.File // write end of the stdin pipe (inMu); nil with a tty
	hold  *os.File // pty slave the agent keeps open while the container runs
	log   *os.File // the sandbox's stdout, where tty output is copied; may be nil

	mu      sync.Mutex
	outs    map[chan *agentapi.ProcessIO]chan struct{} // subscriber → its gone channel
	inputOn bool
	ended   bool
	done    chan struct{} // closed when the output has ended
	pumps   sync.WaitGroup
}

func newIOSwitch() *ioSwitch {
	return &ioSwitch{outs: make(map[chan *agentapi.ProcessIO]chan struct{}), done: make(chan struct{})}
}

// pump reads r until it fails and publishes what it read as t records.
func (sw *ioSwitch) pump(r io.Reader, t agentapi.ProcessIO_Data_Type) {
	sw.pumps.Add(1)
	go func() {
		defer sw.pumps.Done()
		buf := make([]byte, 32<<10)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				data := append([]byte(nil), buf[:n]...)
				if sw.log != nil {
					_, _ = sw.log.Write(data)
				}
				sw.publish(&agentapi.ProcessIO{
					Type: agentapi.ProcessIO_DATA.Enum(),
					Data: &agentapi.ProcessIO_Data{Type: t.Enum(), Data: data},
				})
			}
			if err != nil {
				return
			}
		}
	}()
}

// start ends the switch once every pump has ended.
func (sw *ioSwitch) start() {
	go func() {
		sw.pumps.Wait()
		sw.mu.Lock()
		sw.ended = true
		for ch := range sw.outs {
			close(ch)
		}
		sw.outs = nil
		sw.mu.Unlock()
		if sw.tty != nil {
			sw.tty.Close()
		}
		if sw.log != nil {
			sw.log.Close()
		}
		close(sw.done)
	}()
}

// publish hands m to every subscriber, waiting for the slow ones unless
// they leave.
func (sw *ioSwitch) publish(m *agentapi.ProcessIO) {
	sw.mu.Lock()
	type sub struct {
		ch   chan *agentapi.ProcessIO
		gone chan struct{}
	}
	subs := make([]sub, 0, len(sw.outs))
	for ch, gone := range sw.outs {
		subs = append(subs, sub{ch, gone})
	}
	sw.mu.Unlock()
	for _, s := range subs {
		select {
		case s.ch <- m:
		case <-s.gone:
		}
	}
}

// subscribe returns a channel of the output, closed when it ends, and a
// function to leave early. ok is false when the output has ended.
func (sw *ioSwitch) subscribe() (ch chan *agentapi.ProcessIO, leave func(), ok bool) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.ended {
		return nil, nil, false
	}
	ch = make(chan *agentapi.ProcessIO, 16)
	gone := make(chan struct{})
	sw.outs[ch] = gone
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			close(gone)
			sw.mu.Lock()
			delete(sw.outs, ch)
			sw.mu.Unlock()
		})
	}, true
}

// release lets the output of a tty container end: the agent's own copy of
// the slave closes, so reading the master fails once every process of the
// container has closed it too.
func (sw *ioSwitch) release() {
	sw.mu.Lock()
	h := sw.hold
	sw.hold = nil
	sw.mu.Unlock()
	if h != nil {
		h.Close()
	}
}

// write sends input data to the container; empty data is EOF.
func (sw *ioSwitch) write(data []byte) error {
	if sw.tty != nil {
		if len(data) == 0 {
			data = []byte{4} // VEOF
		}
		_, err := sw.tty.Write(data)
		return err
	}
	sw.inMu.Lock()
	defer sw.inMu.Unlock()
	if sw.stdin == nil {
		return errors.New("the container's stdin is closed")
	}
	if len(data) == 0 {
		err := sw.stdin.Close()
		sw.stdin = nil
		return err
	}
	_, err := sw.stdin.Write(data)
	return err
}

// closeStdin closes the stdin pipe, if still open.
func (sw *ioSwitch) closeStdin() {
	sw.inMu.Lock()
	defer sw.inMu.Unlock()
	if sw.stdin != nil {
		sw.stdin.Close()
		sw.stdin = nil
	}
}

// session is a nested container session's process and how it ended.
type session struct {
	p    *proc.Process
	exit chan struct{} // closed once status is set
	// status is the wait(2) status of the process.
	status int32
}

// switchKey names a container: its value, below its parent's.
func switchKey(id *mesos.ContainerID) string {
	var parts []string
	for c := id; c != nil; c = c.GetParent() {
		parts = append([]string{c.GetValue()}, parts...)
	}
	return strings.Join(parts, ".")
}

func (a *Agent) switchFor(key string) *ioSwitch {
	a.iosMu.Lock()
	defer a.iosMu.Unlock()
	return a.ios[key]
}

func (a *Agent) addSwitch(key string, sw *ioSwitch) bool {
	a.iosMu.Lock()
	defer a.iosMu.Unlock()
	if a.ios == nil {
		a.ios = make(map[string]*ioSwitch)
		a.sessions = make(map[string]*session)
	}
	if a.ios[key] != nil || a.sessions[key] != nil {
		return false
	}
	a.ios[key] = sw
	return true
}

func (a *Agent) removeSwitch(key string) {
	a.iosMu.Lock()
	defer a.iosMu.Unlock()
	delete(a.ios, key)
}

// maxSessionExits bounds how many ended sessions WAIT_NESTED_CONTAINER
// remembers.
const maxSessionExits = 1000

func (a *Agent) addSession(key string, s *session) {
	a.iosMu.Lock()
	defer a.iosMu.Unlock()
	a.sessions[key] = s
	a.sessionOrder = append(a.sessionOrder, key)
	for len(a.sessionOrder) > maxSessionExits {
		old := a.sessionOrder[0]
		a.sessionOrder = a.sessionOrder[1:]
		if ss := a.sessions[old]; ss != nil {
			select {
			case <-ss.exit:
				delete(a.sessions, old)
			default:
				a.sessionOrder = append(a.sessionOrder, old) // still running
			}
		}
	}
}

func (a *Agent) sessionFor(key string) *session {
	a.iosMu.Lock()
	defer a.iosMu.Unlock()
	return a.sessions[key]
}

// openTaskTTY gives a command task's container a pty: the executor's
// environment names the slave (cmdexec.TaskTTYEnv), the agent holds the
// master as the container's switchboard.
func (a *Agent) openTaskTTY(spec *launchSpec) error {
	m, name, err := pty.Open()
	if err != nil {
		return err
	}
	hold, err := os.OpenFile(name, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		return fmt.Errorf("pty: open %s: %w", name, err)
	}
	if ws := spec.tty.GetWindowSize(); ws != nil {
		_ = pty.SetSize(m, uint16(ws.GetRows()), uint16(ws.GetColumns()))
	}
	sw := newIOSwitch()
	sw.tty, sw.hold = m, hold
	if f, err := os.OpenFile(spec.proc.Stdout, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
		sw.log = f
	}
	key := switchKey(&mesos.ContainerID{Value: proto.String(spec.containerID)})
	if !a.addSwitch(key, sw) {
		m.Close()
		hold.Close()
		return errors.New("container already has a tty")
	}
	sw.pump(m, agentapi.ProcessIO_Data_STDOUT)
	sw.start()
	go func() {
		<-sw.done
		a.removeSwitch(key)
	}()
	spec.proc.Env = append(spec.proc.Env, cmdexec.TaskTTYEnv+"="+name)
	return nil
}

// releaseTaskTTY ends the switchboard of an executor's container, once its
// executor has exited.
func (a *Agent) releaseTaskTTY(containerID string) {
	if sw := a.switchFor(containerID); sw != nil {
		sw.release()
	}
}

// endSessionsOf kills the nested container sessions of an executor's
// container once the executor has exited: nested containers end with
// their parent, as in Mesos (with cgroups the container's destruction has
// already killed them; with posix isolation nothing else would).
func (a *Agent) endSessionsOf(containerID string) {
	a.iosMu.Lock()
	var live []*session
	for key, s := range a.sessions {
		select {
		case <-s.exit:
		default:
			if strings.HasPrefix(key, containerID+".") {
				live = append(live, s)
			}
		}
	}
	a.iosMu.Unlock()
	for _, s := range live {
		s.p.Kill(0)
	}
}

// streamCodec is the codec of a streaming response's records: Accept
// allowing application/recordio takes Message-Accept (JSON when absent),
// else Accept itself.
func streamCodec(r *http.Request) (codec.Codec, bool) {
	for _, v := range r.Header.Values("Accept") {
		if strings.Contains(v, mediaRecordIO) {
			if len(r.Header.Values("Message-Accept")) == 0 {
				return codec.JSON, true
			}
			return codec.ForAccept(r.Header.Values("Message-Accept"))
		}
	}
	return codec.ForAccept(r.Header.Values("Accept"))
}

// streamOutput writes the records of ch as a RecordIO response until ch
// closes or the client leaves.
func streamOutput(w http.ResponseWriter, r *http.Request, c codec.Codec, ch <-chan *agentapi.ProcessIO) {
	w.Header().Set("Content-Type", mediaRecordIO)
	w.Header().Set("Message-Content-Type", c.MediaType())
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	if fl != nil {
		fl.Flush()
	}
	rw := recordio.NewWriter(w)
	for {
		select {
		case <-r.Context().Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			b, err := c.Marshal(m)
			if err != nil {
				return
			}
			if rw.WriteRecord(b) != nil {
				return
			}
			if fl != nil && len(ch) == 0 {
				fl.Flush()
			}
		}
	}
}

// handleAttachOutput answers ATTACH_CONTAINER_OUTPUT.
func (a *Agent) handleAttachOutput(w http.ResponseWriter, r *http.Request, call *agentapi.Call) {
	out, ok := streamCodec(r)
	if !ok {
		httpapi.TextError(w, http.StatusNotAcceptable, "Expecting 'Accept' to allow application/recordio, application/json or application/x-protobuf")
		return
	}
	id := call.GetAttachContainerOutput().GetContainerId()
	sw := a.switchFor(switchKey(id))
	if sw == nil {
		a.noSwitch(w, r, id)
		return
	}
	ch, leave, ok := sw.subscribe()
	if !ok {
		httpapi.TextError(w, http.StatusNotFound, "Container "+switchKey(id)+" has terminated")
		return
	}
	defer leave()
	streamOutput(w, r, out, ch)
}

// executorByContainer is the executor whose top-level container is id, nil
// when no live framework has it.
func (s *state) executorByContainer(id string) *executor {
	for _, f := range s.frameworks {
		for _, e := range f.executors {
			if e.containerID == id {
				return e
			}
		}
	}
	return nil
}

// noSwitch answers an attach to a container without a switchboard: 404
// for an unknown container, 400 for one launched without a tty.
func (a *Agent) noSwitch(w http.ResponseWriter, r *http.Request, id *mesos.ContainerID) {
	known := false
	a.do(r.Context(), func() { known = id.GetParent() == nil && a.st.executorByContainer(id.GetValue()) != nil })
	if known {
		httpapi.TextError(w, http.StatusBadRequest, "Container "+switchKey(id)+
			" was not launched with a TTY (ContainerInfo.tty_info) and has no IO switchboard to attach to")
		return
	}
	httpapi.TextError(w, http.StatusNotFound, "Container "+switchKey(id)+" cannot be found")
}

// handleAttachInput answers a streaming ATTACH_CONTAINER_INPUT request
// whose first record, already decoded, is first.
func (a *Agent) handleAttachInput(w http.ResponseWriter, r *http.Request, c codec.Codec, rd *recordio.Reader, first *agentapi.Call) {
	aci := first.GetAttachContainerInput()
	if aci.GetType() != agentapi.Call_AttachContainerInput_CONTAINER_ID || aci.GetContainerId() == nil {
		httpapi.TextError(w, http.StatusBadRequest, "Expecting the first message of ATTACH_CONTAINER_INPUT to be of type CONTAINER_ID")
		return
	}
	id := aci.GetContainerId()
	sw := a.switchFor(switchKey(id))
	if sw == nil {
		a.noSwitch(w, r, id)
		return
	}
	sw.mu.Lock()
	busy := sw.inputOn
	sw.inputOn = true
	sw.mu.Unlock()
	if busy {
		httpapi.TextError(w, http.StatusConflict, "Another connection is already attached to the input of container "+switchKey(id))
		return
	}
	defer func() {
		sw.mu.Lock()
		sw.inputOn = false
		sw.mu.Unlock()
	}()
	for {
		b, err := rd.ReadRecord()
		if err == io.EOF {
			break
		}
		if err != nil {
			httpapi.TextError(w, http.StatusBadRequest, "Failed to read the input stream: "+err.Error())
			return
		}
		call := &agentapi.Call{}
		if err := c.Unmarshal(b, call); err != nil {
			httpapi.TextError(w, http.StatusBadRequest, "Failed to parse a record of the input stream: "+err.Error())
			return
		}
		pio := call.GetAttachContainerInput().GetProcessIo()
		if call.GetType() != agentapi.Call_ATTACH_CONTAINER_INPUT || call.GetAttachContainerInput().GetType() != agentapi.Call_AttachContainerInput_PROCESS_IO || pio == nil {
			httpapi.TextError(w, http.StatusBadRequest, "Expecting the messages after the first of ATTACH_CONTAINER_INPUT to be of type PROCESS_IO")
			return
		}
		switch pio.GetType() {
		case agentapi.ProcessIO_DATA:
			if pio.GetData().GetType() != agentapi.ProcessIO_Data_STDIN {
				httpapi.TextError(w, http.StatusBadRequest, "Expecting input data to be of type STDIN")
				return
			}
			if err := sw.write(pio.GetData().GetData()); err != nil {
				select {
				case <-sw.done: // the container has ended: the input with it
					w.WriteHeader(http.StatusOK)
				default:
					httpapi.TextError(w, http.StatusInternalServerError, "Failed to write to the container's stdin: "+err.Error())
				}
				return
			}
		case agentapi.ProcessIO_CONTROL:
			ctl := pio.GetControl()
			if ctl.GetType() == agentapi.ProcessIO_Control_TTY_INFO && sw.tty != nil {
				if ws := ctl.GetTtyInfo().GetWindowSize(); ws != nil {
					_ = pty.SetSize(sw.tty, uint16(ws.GetRows()), uint16(ws.GetColumns()))
				}
			} // HEARTBEAT: nothing to do
		}
	}
	w.WriteHeader(http.StatusOK)
}

// handleLaunchSession answers LAUNCH_NESTED_CONTAINER_SESSION.
func (a *Agent) handleLaunchSession(w http.ResponseWriter, r *http.Request, call *agentapi.Call) {
	out, ok := streamCodec(r)
	if !ok {
		httpapi.TextError(w, http.StatusNotAcceptable, "Expecting 'Accept' to allow application/recordio, application/json or application/x-protobuf")
		return
	}
	lc := call.GetLaunchNestedContainerSession()
	id := lc.GetContainerId()
	switch {
	case id.GetParent() == nil:
		httpapi.TextError(w, http.StatusBadRequest, "Expecting 'container_id.parent' to be present")
		return
	case id.GetParent().GetParent() != nil:
		httpapi.TextError(w, http.StatusBadRequest, "Agora nests containers one level deep: the parent must be an executor's container")
		return
	case lc.GetCommand() == nil:
		httpapi.TextError(w, http.StatusBadRequest, "Expecting 'command' to be present")
		return
	}
	var (
		found bool
		c     isolation.Container
		dir   string
		env   []string
		runAs string
	)
	if !a.do(r.Context(), func() {
		e := a.st.executorByContainer(id.GetParent().GetValue())
		found = e != nil
		if found && e.proc != nil && e.state < execTerminating && e.container != nil {
			c, dir, env, runAs = e.container, e.directory, a.st.executorEnv(e), e.runAs
		}
	}) {
		httpapi.TextError(w, http.StatusServiceUnavailable, "Agent is shutting down")
		return
	}
	if !found {
		httpapi.TextError(w, http.StatusNotFound, "Parent container "+id.GetParent().GetValue()+" cannot be found")
		return
	}
	if c == nil {
		httpapi.TextError(w, http.StatusConflict, "Parent container "+id.GetParent().GetValue()+" is not running")
		return
	}
	spec, err := cmdexec.TaskSpec(lc.GetCommand(), env, dir, a.log)
	if err != nil {
		httpapi.TextError(w, http.StatusBadRequest, err.Error())
		return
	}
	// A nested container runs as its command's user, else as the task's.
	if u := lc.GetCommand().GetUser(); u != "" && a.cfg.SwitchUser {
		runAs = u
	}
	if spec.Credential, err = switchCredential(runAs); err != nil {
		httpapi.TextError(w, http.StatusBadRequest, err.Error())
		return
	}
	key := switchKey(id)
	sw := newIOSwitch()
	var childEnds []*os.File
	tty := lc.GetContainer().GetTtyInfo()
	if tty != nil {
		m, s, err := pty.OpenPair()
		if err != nil {
			httpapi.TextError(w, http.StatusInternalServerError, err.Error())
			return
		}
		if ws := tty.GetWindowSize(); ws != nil {
			_ = pty.SetSize(m, uint16(ws.GetRows()), uint16(ws.GetColumns()))
		}
		sw.tty = m
		spec.Stdio = [3]*os.File{s, s, s}
		spec.TTY = true
		childEnds = []*os.File{s}
	} else {
		var ends [3][2]*os.File // [i][0] read end, [i][1] write end
		for i := range ends {
			rp, wp, err := os.Pipe()
			if err != nil {
				for _, e := range ends[:i] {
					e[0].Close()
					e[1].Close()
				}
				httpapi.TextError(w, http.StatusInternalServerError, err.Error())
				return
			}
			ends[i] = [2]*os.File{rp, wp}
		}
		sw.stdin = ends[0][1]
		spec.Stdio = [3]*os.File{ends[0][0], ends[1][1], ends[2][1]}
		childEnds = []*os.File{ends[0][0], ends[1][1], ends[2][1]}
		defer func() { ends[1][0].Close(); ends[2][0].Close() }()
		sw.pump(ends[1][0], agentapi.ProcessIO_Data_STDOUT)
		sw.pump(ends[2][0], agentapi.ProcessIO_Data_STDERR)
	}
	closeChildEnds := func() {
		for _, f := range childEnds {
			f.Close()
		}
	}
	if !a.addSwitch(key, sw) {
		closeChildEnds()
		if sw.tty != nil {
			sw.tty.Close()
		}
		sw.closeStdin()
		httpapi.TextError(w, http.StatusConflict, "Container "+key+" already exists")
		return
	}
	defer a.removeSwitch(key)
	ch, leave, _ := sw.subscribe()
	defer leave()
	p, err := isolation.Launch(c, spec)
	if _, ok := errors.AsType[*isolation.LimitsError](err); ok && p != nil {
		err = nil
	}
	closeChildEnds()
	if err != nil {
		sw.closeStdin()
		if sw.tty != nil {
			sw.tty.Close()
		}
		httpapi.TextError(w, http.StatusInternalServerError, "Failed to launch the nested container: "+err.Error())
		return
	}
	if sw.tty != nil {
		sw.pump(sw.tty, agentapi.ProcessIO_Data_STDOUT)
	}
	sw.start()
	sess := &session{p: p, exit: make(chan struct{})}
	a.addSession(key, sess)
	a.log.Info("nested container session started", "container_id", key, "pid", p.Pid())
	go func() {
		<-p.Done()
		ex := p.Exit()
		sess.status = int32(ex.Status)
		close(sess.exit)
		// What the session's process left in its group ends with it, as
		// Mesos destroys the nested container.
		_ = p.Signal(syscall.SIGKILL)
		a.log.Info("nested container session ended", "container_id", key, "status", ex.String())
	}()
	go func() {
		// The session's life is the connection's.
		select {
		case <-r.Context().Done():
			p.Kill(0)
		case <-sess.exit:
		}
	}()
	streamOutput(w, r, out, ch)
	<-sess.exit
	sw.closeStdin()
}

// handleWaitNested answers WAIT_NESTED_CONTAINER for session containers.
func (a *Agent) handleWaitNested(w http.ResponseWriter, r *http.Request, out codec.Codec, call *agentapi.Call) {
	id := call.GetWaitNestedContainer().GetContainerId()
	s := a.sessionFor(switchKey(id))
	if s == nil {
		httpapi.TextError(w, http.StatusNotFound, "Container "+switchKey(id)+" cannot be found")
		return
	}
	select {
	case <-s.exit:
	case <-r.Context().Done():
		return
	}
	resp := &agentapi.Response{
		Type:                agentapi.Response_WAIT_NESTED_CONTAINER.Enum(),
		WaitNestedContainer: &agentapi.Response_WaitNestedContainer{ExitStatus: proto.Int32(s.status)},
	}
	b, err := out.Marshal(resp)
	if err != nil {
		httpapi.TextError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", out.MediaType())
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}
