// Package schedtest provides a fake Mesos master for unit tests of
// frameworks built on sdk/scheduler: an httptest server that speaks enough
// of the v1 scheduler API (POST /api/v1/scheduler) in protobuf and JSON —
// SUBSCRIBE answered with a real RecordIO event stream and a
// Mesos-Stream-Id, other calls checked for the stream id and framework id
// and answered 202 — and lets a test script events, redirects, refusals,
// dropped streams and silent heartbeats.
//
// It is a fake for unit tests of scheduler logic; end-to-end tests belong
// against a real master.
package schedtest

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	schedpb "github.com/agora-dev/agora/api/mesos/v1/scheduler"
	"github.com/agora-dev/agora/api/recordio"
)

// WaitTimeout bounds every Wait* helper.
var WaitTimeout = 10 * time.Second

// Master is a fake master. Its zero value is not usable; call NewMaster.
type Master struct {
	// Server is the underlying test server, on 127.0.0.1.
	Server *httptest.Server

	mu         sync.Mutex
	changed    chan struct{} // closed and replaced on every change
	calls      []*schedpb.Call
	subscribes []*schedpb.Call
	cur        *stream
	nextFW     int
	nextStream int
	heartbeat  time.Duration
	silent     bool
	redirect   string
	refuse     string
	removed    map[string]bool
	onCall     func(*schedpb.Call)
	failCode   int
	failLoc    string
	down       string // non-empty: answer every request 503 with it
	leaderJSON string // the answer to GET /agora/v1/leader; "" is 404
	mux        *http.ServeMux
}

type stream struct {
	id     string
	fid    string
	events chan *schedpb.Event
	closed chan struct{}
	once   sync.Once
}

func (s *stream) close() { s.once.Do(func() { close(s.closed) }) }

// NewMaster starts a fake master that tb closes at cleanup. It advertises a
// heartbeat interval of 15 seconds and sends no heartbeats until
// SetHeartbeat.
func NewMaster(tb testing.TB) *Master {
	m := Start()
	tb.Cleanup(m.Close)
	return m
}

// Start starts a fake master, for use outside tests (examples); Close
// stops it.
func Start() *Master {
	m := &Master{
		changed:   make(chan struct{}),
		heartbeat: 15 * time.Second,
		silent:    true,
		removed:   map[string]bool{},
	}
	mux := http.NewServeMux()
	m.mux = mux
	mux.HandleFunc("/api/v1/scheduler", m.serve)
	mux.HandleFunc("GET /agora/v1/leader", func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		body := m.leaderJSON
		m.mu.Unlock()
		if body == "" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	})
	m.Server = httptest.NewServer(mux)
	return m
}

// Handle serves more of a master's API, such as the operator API
// ("POST /api/v1") a client asks besides the scheduler API; pattern is an
// http.ServeMux pattern.
func (m *Master) Handle(pattern string, h http.Handler) { m.mux.Handle(pattern, h) }

// Close drops the stream and stops the server.
func (m *Master) Close() {
	m.DropStream()
	m.Server.Close()
}

// Addr is the master's host:port.
func (m *Master) Addr() string { return strings.TrimPrefix(m.Server.URL, "http://") }

// SetHeartbeat sets the heartbeat interval advertised by the next
// SUBSCRIBED and makes every stream send HEARTBEAT events that often.
func (m *Master) SetHeartbeat(interval time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.heartbeat = interval
	m.silent = false
}

// SilenceHeartbeats stops (true) or resumes (false) heartbeats on every
// stream, while still advertising the interval.
func (m *Master) SilenceHeartbeats(silent bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.silent = silent
}

// RedirectSubscribe makes SUBSCRIBE answer 307 with the given Location
// (e.g. "//127.0.0.1:1234/api/v1/scheduler"); "" ends it.
func (m *Master) RedirectSubscribe(location string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.redirect = location
}

// RefuseSubscribe makes SUBSCRIBE answer 200 with a single ERROR event
// carrying message, then close the stream; "" ends it.
func (m *Master) RefuseSubscribe(message string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.refuse = message
}

// SetLeader makes GET /agora/v1/leader answer as an Agora master of a
// group does: leader is the leader's host:port ("" for none), elected
// whether this master is it.
func (m *Master) SetLeader(leader string, elected bool, term uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.leaderJSON = fmt.Sprintf(`{"leader":%q,"self":%q,"elected":%t,"term":%d}`, leader, m.Addr(), elected, term)
}

// Unavailable makes every request answer 503 with message (such as "No
// leader elected", as a master of a group without a leader); "" ends it.
func (m *Master) Unavailable(message string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.down = message
}

// OnCall installs a hook run for every call other than SUBSCRIBE after it
// has been validated and recorded, before the 202 is written. It may call
// Send.
func (m *Master) OnCall(f func(*schedpb.Call)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.onCall = f
}

// FailCalls makes every call other than SUBSCRIBE answer with code (and,
// for 307, a Location header) instead of 202; code 0 ends it. Failed calls
// are not recorded.
func (m *Master) FailCalls(code int, location string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failCode, m.failLoc = code, location
}

// Send queues an event on the current stream; false if there is none.
func (m *Master) Send(ev *schedpb.Event) bool {
	m.mu.Lock()
	s := m.cur
	m.mu.Unlock()
	if s == nil {
		return false
	}
	select {
	case s.events <- ev:
		return true
	case <-s.closed:
		return false
	}
}

// SendOffers sends an OFFERS event, filling in each offer's framework_id.
func (m *Master) SendOffers(offers ...*mesos.Offer) bool {
	fid := m.FrameworkID()
	for _, o := range offers {
		if o.FrameworkId == nil {
			o.FrameworkId = &mesos.FrameworkID{Value: proto.String(fid)}
		}
	}
	return m.Send(&schedpb.Event{
		Type:   schedpb.Event_OFFERS.Enum(),
		Offers: &schedpb.Event_Offers{Offers: offers},
	})
}

// SendUpdate sends an UPDATE event for status.
func (m *Master) SendUpdate(status *mesos.TaskStatus) bool {
	return m.Send(&schedpb.Event{
		Type:   schedpb.Event_UPDATE.Enum(),
		Update: &schedpb.Event_Update{Status: status},
	})
}

// DropStream closes the current event stream from the master's side, as a
// crashed master or a broken connection would.
func (m *Master) DropStream() {
	m.mu.Lock()
	s := m.cur
	m.cur = nil
	m.notifyLocked()
	m.mu.Unlock()
	if s != nil {
		s.close()
	}
}

// Connected reports whether a framework holds a stream.
func (m *Master) Connected() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cur != nil
}

// StreamID is the current stream's Mesos-Stream-Id, "" if none.
func (m *Master) StreamID() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cur == nil {
		return ""
	}
	return m.cur.id
}

// FrameworkID is the framework id of the current stream, "" if none.
func (m *Master) FrameworkID() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cur == nil {
		return ""
	}
	return m.cur.fid
}

// Calls returns every call other than SUBSCRIBE received so far.
func (m *Master) Calls() []*schedpb.Call {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*schedpb.Call(nil), m.calls...)
}

// Subscribes returns every SUBSCRIBE call received so far, including
// redirected and refused ones.
func (m *Master) Subscribes() []*schedpb.Call {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*schedpb.Call(nil), m.subscribes...)
}

// CallsOf returns the received calls of one type.
func (m *Master) CallsOf(typ schedpb.Call_Type) []*schedpb.Call {
	var out []*schedpb.Call
	for _, c := range m.Calls() {
		if c.GetType() == typ {
			out = append(out, c)
		}
	}
	return out
}

// Wait blocks until cond holds, failing tb after WaitTimeout.
func (m *Master) Wait(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	if !m.Await(cond) {
		tb.Fatalf("schedtest: timed out after %v waiting for %s", WaitTimeout, what)
	}
}

// Await blocks until cond holds and reports whether it did within
// WaitTimeout. cond is re-evaluated whenever the master's state changes
// and every 50ms.
func (m *Master) Await(cond func() bool) bool {
	deadline := time.Now().Add(WaitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		m.mu.Lock()
		ch := m.changed
		m.mu.Unlock()
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ch:
		case <-t.C:
		}
		t.Stop()
	}
	return true
}

// WaitCall waits until n calls of the type have arrived and returns the
// n-th (n counts from 1).
func (m *Master) WaitCall(tb testing.TB, typ schedpb.Call_Type, n int) *schedpb.Call {
	tb.Helper()
	m.Wait(tb, fmt.Sprintf("%d %v call(s)", n, typ), func() bool { return len(m.CallsOf(typ)) >= n })
	return m.CallsOf(typ)[n-1]
}

// WaitSubscribed waits until the n-th subscription (counting from 1) holds
// the stream, and returns its SUBSCRIBE call.
func (m *Master) WaitSubscribed(tb testing.TB, n int) *schedpb.Call {
	tb.Helper()
	m.Wait(tb, fmt.Sprintf("subscription #%d", n), func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.cur != nil && m.nextStream >= n
	})
	subs := m.Subscribes()
	return subs[len(subs)-1]
}

func (m *Master) notifyLocked() {
	close(m.changed)
	m.changed = make(chan struct{})
}

func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func (m *Master) serve(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	down := m.down
	m.mu.Unlock()
	if down != "" {
		http.Error(w, down, http.StatusServiceUnavailable)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "405 Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	in, err := codec.ForContentType(r.Header.Get("Content-Type"))
	if err != nil {
		code := http.StatusUnsupportedMediaType
		if err == codec.ErrNoContentType {
			code = http.StatusBadRequest
		}
		http.Error(w, err.Error(), code)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	call := &schedpb.Call{}
	if err := in.Unmarshal(body, call); err != nil {
		http.Error(w, "Failed to parse body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if call.GetType() == schedpb.Call_SUBSCRIBE {
		m.subscribe(w, r, call)
		return
	}
	m.call(w, r, call)
}

func (m *Master) call(w http.ResponseWriter, r *http.Request, call *schedpb.Call) {
	sid := r.Header.Get("Mesos-Stream-Id")
	if sid == "" {
		http.Error(w, "All non-subscribe calls should include the 'Mesos-Stream-Id' header", http.StatusBadRequest)
		return
	}
	if call.GetFrameworkId().GetValue() == "" {
		http.Error(w, "Expecting 'framework_id' to be present", http.StatusBadRequest)
		return
	}
	if call.GetType() == schedpb.Call_ACKNOWLEDGE && len(call.GetAcknowledge().GetUuid()) != 16 {
		http.Error(w, "Failed to validate scheduler::Call: Not a valid UUID", http.StatusBadRequest)
		return
	}
	m.mu.Lock()
	if code, loc := m.failCode, m.failLoc; code != 0 {
		m.mu.Unlock()
		if loc != "" {
			w.Header().Set("Location", loc)
		}
		http.Error(w, "call refused by schedtest", code)
		return
	}
	s := m.cur
	switch {
	case s == nil:
		m.mu.Unlock()
		http.Error(w, "Framework is not subscribed", http.StatusForbidden)
		return
	case s.fid != call.GetFrameworkId().GetValue():
		m.mu.Unlock()
		http.Error(w, "Framework cannot be found", http.StatusBadRequest)
		return
	case s.id != sid:
		m.mu.Unlock()
		http.Error(w, fmt.Sprintf("The stream ID '%s' included in this request didn't match the stream ID currently associated with framework ID %s", sid, s.fid), http.StatusBadRequest)
		return
	}
	m.calls = append(m.calls, call)
	hook := m.onCall
	if call.GetType() == schedpb.Call_TEARDOWN {
		m.removed[s.fid] = true
		m.cur = nil
	}
	m.notifyLocked()
	m.mu.Unlock()
	if call.GetType() == schedpb.Call_TEARDOWN {
		s.close()
	}
	if hook != nil {
		hook(call)
	}
	w.WriteHeader(http.StatusAccepted)
}

func (m *Master) subscribe(w http.ResponseWriter, r *http.Request, call *schedpb.Call) {
	out, ok := codec.ForAccept(r.Header.Values("Accept"))
	if !ok {
		http.Error(w, "Not acceptable", http.StatusNotAcceptable)
		return
	}
	m.mu.Lock()
	m.subscribes = append(m.subscribes, call)
	m.notifyLocked()
	if r.Header.Get("Mesos-Stream-Id") != "" {
		m.mu.Unlock()
		http.Error(w, "Subscribe calls should not include the 'Mesos-Stream-Id' header", http.StatusBadRequest)
		return
	}
	info := call.GetSubscribe().GetFrameworkInfo()
	if info == nil || call.GetFrameworkId().GetValue() != info.GetId().GetValue() {
		m.mu.Unlock()
		http.Error(w, "Failed to validate scheduler::Call: 'framework_id' differs from 'subscribe.framework_info.id'", http.StatusBadRequest)
		return
	}
	if m.redirect != "" {
		loc := m.redirect
		m.mu.Unlock()
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusTemporaryRedirect)
		return
	}
	refuse := m.refuse
	fid := info.GetId().GetValue()
	if refuse == "" && fid != "" && m.removed[fid] {
		refuse = "Framework has been removed"
	}
	if fid == "" {
		fid = fmt.Sprintf("fake-master-%04d", m.nextFW)
		m.nextFW++
	}
	var old *stream
	s := &stream{id: uuid(), fid: fid, events: make(chan *schedpb.Event, 256), closed: make(chan struct{})}
	if refuse == "" {
		old = m.cur
		m.cur = s
		m.nextStream++
	}
	hb := m.heartbeat
	m.notifyLocked()
	m.mu.Unlock()

	w.Header().Set("Content-Type", out.MediaType())
	w.Header().Set("Mesos-Stream-Id", s.id)
	w.WriteHeader(http.StatusOK)
	rw := recordio.NewWriter(w)
	write := func(ev *schedpb.Event) error {
		b, err := out.Marshal(ev)
		if err != nil {
			panic(fmt.Sprintf("schedtest: encoding %v event: %v", ev.GetType(), err))
		}
		return rw.WriteRecord(b)
	}
	if refuse != "" {
		_ = write(&schedpb.Event{Type: schedpb.Event_ERROR.Enum(), Error: &schedpb.Event_Error{Message: proto.String(refuse)}})
		return
	}
	if old != nil {
		select {
		case old.events <- &schedpb.Event{Type: schedpb.Event_ERROR.Enum(), Error: &schedpb.Event_Error{Message: proto.String("Framework failed over")}}:
		default:
		}
		old.close()
	}
	defer func() {
		s.close()
		m.mu.Lock()
		if m.cur == s || m.cur == nil {
			m.cur = nil
			// As in Mesos, a framework without failover_timeout is
			// removed as soon as its stream breaks.
			if info.GetFailoverTimeout() <= 0 {
				m.removed[s.fid] = true
			}
			m.notifyLocked()
		}
		m.mu.Unlock()
	}()
	err := write(&schedpb.Event{
		Type: schedpb.Event_SUBSCRIBED.Enum(),
		Subscribed: &schedpb.Event_Subscribed{
			FrameworkId:              &mesos.FrameworkID{Value: proto.String(fid)},
			HeartbeatIntervalSeconds: proto.Float64(hb.Seconds()),
			MasterInfo: &mesos.MasterInfo{
				Id: proto.String("fake-master"), Ip: proto.Uint32(0x0100007f), Port: proto.Uint32(5050),
				Hostname: proto.String("localhost"), Version: proto.String("1.12.0"),
			},
		},
	})
	if err != nil {
		return
	}
	tick := time.NewTicker(hb)
	defer tick.Stop()
	for {
		select {
		case ev := <-s.events:
			if write(ev) != nil {
				return
			}
		case <-tick.C:
			m.mu.Lock()
			silent := m.silent
			m.mu.Unlock()
			if !silent && write(&schedpb.Event{Type: schedpb.Event_HEARTBEAT.Enum()}) != nil {
				return
			}
		case <-s.closed:
			// Flush whatever was queued (e.g. a failover ERROR) first.
			for {
				select {
				case ev := <-s.events:
					if write(ev) != nil {
						return
					}
				default:
					return
				}
			}
		case <-r.Context().Done():
			return
		}
	}
}

// Offer builds an offer from an agent at agentAddr ("ip:port", may be "")
// with the given resources; SendOffers fills in the framework id.
func Offer(id, agentID, hostname, agentAddr string, resources ...*mesos.Resource) *mesos.Offer {
	o := &mesos.Offer{
		Id:        &mesos.OfferID{Value: proto.String(id)},
		AgentId:   &mesos.AgentID{Value: proto.String(agentID)},
		Hostname:  proto.String(hostname),
		Resources: resources,
	}
	if agentAddr != "" {
		host, port, _ := strings.Cut(agentAddr, ":")
		var p int32
		_, _ = fmt.Sscan(port, &p)
		o.Url = &mesos.URL{
			Scheme:  proto.String("http"),
			Address: &mesos.Address{Hostname: proto.String(hostname), Ip: proto.String(host), Port: proto.Int32(p)},
			Path:    proto.String("/slave(1)"),
		}
	}
	return o
}

// Status builds a task status as an agent reports it, with a fresh uuid.
func Status(taskID, agentID string, state mesos.TaskState, message string) *mesos.TaskStatus {
	var u [16]byte
	_, _ = rand.Read(u[:])
	st := &mesos.TaskStatus{
		TaskId:     &mesos.TaskID{Value: proto.String(taskID)},
		State:      state.Enum(),
		AgentId:    &mesos.AgentID{Value: proto.String(agentID)},
		ExecutorId: &mesos.ExecutorID{Value: proto.String(taskID)},
		Source:     mesos.TaskStatus_SOURCE_EXECUTOR.Enum(),
		Timestamp:  proto.Float64(float64(time.Now().UnixNano()) / 1e9),
		Uuid:       bytes.Clone(u[:]),
	}
	if message != "" {
		st.Message = proto.String(message)
	}
	return st
}
