package cli

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	masterpb "github.com/agora-dev/agora/api/mesos/v1/master"
	schedpb "github.com/agora-dev/agora/api/mesos/v1/scheduler"
	"github.com/agora-dev/agora/sdk/scheduler/schedtest"
)

// opMaster is a fake master of a group for the operator commands: the
// leader answers GET_STATE with one agent and records the bodies it got;
// a standby answers 307 to //leader/path; a master without a leader 503.
type opMaster struct {
	srv *httptest.Server

	mu     sync.Mutex
	leader *opMaster // nil: this one leads
	down   string    // non-empty: 503 with this body
	bodies []string  // "METHOD path body" of what the leader served
}

func newOpMaster(t *testing.T) *opMaster {
	m := &opMaster{}
	m.srv = httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(m.srv.Close)
	return m
}

func (m *opMaster) addr() string { return strings.TrimPrefix(m.srv.URL, "http://") }

func (m *opMaster) serve(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	leader, down := m.leader, m.down
	m.mu.Unlock()
	switch {
	case down != "":
		http.Error(w, down, http.StatusServiceUnavailable)
		return
	case leader != nil:
		loc := "//" + leader.addr() + r.URL.Path
		if r.URL.RawQuery != "" {
			loc += "?" + r.URL.RawQuery
		}
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusTemporaryRedirect)
		return
	}
	body, _ := io.ReadAll(r.Body)
	m.mu.Lock()
	m.bodies = append(m.bodies, r.Method+" "+r.URL.Path+" "+string(body))
	m.mu.Unlock()
	switch r.URL.Path {
	case "/api/v1":
		call := &masterpb.Call{}
		if err := proto.Unmarshal(body, call); err != nil || call.GetType() != masterpb.Call_GET_STATE {
			http.Error(w, "want GET_STATE", http.StatusBadRequest)
			return
		}
		b, _ := proto.Marshal(&masterpb.Response{
			Type: masterpb.Response_GET_STATE.Enum(),
			GetState: &masterpb.Response_GetState{GetAgents: &masterpb.Response_GetAgents{
				Agents: []*masterpb.Response_GetAgents_Agent{{
					AgentInfo: &mesos.AgentInfo{Id: &mesos.AgentID{Value: proto.String("a1")}, Hostname: proto.String("leader-agent")},
					Active:    proto.Bool(true), Version: proto.String("1.12.0"),
				}},
			}},
		})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(b)
	case "/agora/v1/tasks/kill":
		if !strings.Contains(string(body), `"task_id":"t1"`) {
			http.Error(w, "no body", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	default:
		http.NotFound(w, r)
	}
}

func deadMaster(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Operator commands given a list skip a refused connection and a 503, and
// follow a standby's 307 to the leader with the POST body.
func TestOperatorFindsLeader(t *testing.T) {
	leader, standby, nobody := newOpMaster(t), newOpMaster(t), newOpMaster(t)
	standby.leader = leader
	nobody.down = "Master has not finished recovery"
	list := deadMaster(t) + "," + nobody.addr() + ",http://" + standby.addr()

	var out, errOut bytes.Buffer
	if code := Agents(context.Background(), []string{"--master=" + list}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "leader-agent") {
		t.Fatalf("agora agents: exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
	c := &opClient{master: list}
	if err := c.killTask(context.Background(), "fw", "t1"); err != nil {
		t.Fatalf("kill through the standby: %v", err)
	}
	leader.mu.Lock()
	defer leader.mu.Unlock()
	if len(leader.bodies) != 2 || !strings.HasPrefix(leader.bodies[1], "POST /agora/v1/tasks/kill {") {
		t.Errorf("leader served %q", leader.bodies)
	}
}

// $AGORA_MASTER takes the same list; with no leader the 503 is reported.
func TestOperatorNoLeader(t *testing.T) {
	a, b := newOpMaster(t), newOpMaster(t)
	a.down, b.down = "No leader elected", "No leader elected"
	t.Setenv("AGORA_MASTER", a.addr()+","+b.addr())
	var out, errOut bytes.Buffer
	code := Agents(context.Background(), nil, &out, &errOut)
	if code != exitFailure || !strings.Contains(errOut.String(), "503 Service Unavailable No leader elected") {
		t.Errorf("exit %d, stderr %q", code, errOut.String())
	}
	b.mu.Lock()
	b.down = ""
	b.mu.Unlock()
	out.Reset()
	if code := Agents(context.Background(), []string{"--json"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "leader-agent") {
		t.Errorf("after an election: exit %d, stdout %q", code, out.String())
	}
	if code := Agents(context.Background(), []string{"--master=a:1,ftp://b"}, &out, &errOut); code != exitUsage {
		t.Errorf("bad list: exit %d", code)
	}
}

// agora run keeps following its task when the leader fails over: it
// resubscribes to the next master with its framework id and sees the task
// finish there.
func TestRunFollowsLeaderFailover(t *testing.T) {
	m1, m2 := schedtest.NewMaster(t), schedtest.NewMaster(t)
	agent := newFakeAgent(t)
	res := startRun(t, context.Background(), "--master="+m1.Addr()+","+m2.Addr(), "--", "sleep", "10")
	m1.WaitSubscribed(t, 1)
	m1.SendOffers(bigOffer(agent))
	task := launchedTask(t, m1)
	fid, tid := m1.FrameworkID(), task.GetTaskId().GetValue()
	agent.launch(fid, tid)
	m1.SendUpdate(schedtest.Status(tid, "a1", mesos.TaskState_TASK_RUNNING, ""))
	m1.Wait(t, "TASK_RUNNING acknowledged", func() bool { return len(m1.CallsOf(schedpb.Call_ACKNOWLEDGE)) == 1 })

	m1.Unavailable("No leader elected")
	m1.DropStream()
	sub := m2.WaitSubscribed(t, 1)
	if sub.GetFrameworkId().GetValue() != fid {
		t.Fatalf("resubscribed to the new leader with id %v, want %s", sub.GetFrameworkId(), fid)
	}
	m2.SendUpdate(schedtest.Status(tid, "a1", mesos.TaskState_TASK_FINISHED, "Command exited with status 0"))
	if code := res.wait(t); code != 0 {
		t.Errorf("exit status %d, want 0; stderr:\n%s", code, res.stderr)
	}
	if n := len(m2.CallsOf(schedpb.Call_TEARDOWN)); n != 1 {
		t.Errorf("%d TEARDOWN calls to the new leader, want 1", n)
	}
}
