package master

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	masterpb "github.com/agora-dev/agora/api/mesos/v1/master"
	schedpb "github.com/agora-dev/agora/api/mesos/v1/scheduler"
	"google.golang.org/protobuf/proto"
)

const testACLs = `{
  "permissive": false,
  "register_frameworks": [
    {"principals": {"values": ["good"]}, "roles": {"values": ["prod", "prod/%"]}},
    {"principals": {"type": "ANY"}, "roles": {"values": ["*"]}}
  ],
  "run_tasks": [
    {"principals": {"type": "NONE"}, "users": {"values": ["root"]}},
    {"principals": {"type": "ANY"}, "users": {"type": "ANY"}}
  ],
  "view_frameworks": [{"principals": {"type": "ANY"}, "users": {"values": ["tester"]}}],
  "view_tasks": [{"principals": {"type": "ANY"}, "users": {"values": ["tester"]}}],
  "view_executors": [{"principals": {"type": "ANY"}, "users": {"type": "ANY"}}],
  "teardown_frameworks": [{"principals": {"type": "NONE"}, "framework_principals": {"type": "ANY"}}],
  "register_agents": [{"principals": {"type": "ANY"}, "agents": {"type": "ANY"}}],
  "get_endpoints": [{"principals": {"type": "NONE"}, "paths": {"values": ["/metrics/snapshot"]}}]
}`

// TestACLs checks each effect a denial has at the master, in both codecs
// where a codec is involved: an ERROR event for register_frameworks,
// TASK_ERROR for run_tasks, 403 for teardown, flags and endpoints, and
// frameworks filtered out of /master/state and GET_FRAMEWORKS with 200.
func TestACLs(t *testing.T) {
	_, base := startMaster(t, func(c *Config) { c.ACLs = testACLs })
	agent := startAgent(t, base)
	url := base + "/api/v1/scheduler"

	for _, c := range []codec.Codec{codec.JSON, codec.Protobuf} {
		info := frameworkInfo("bad")
		info.Principal, info.Roles = proto.String("bad"), []string{"prod"}
		info.Capabilities = append(info.Capabilities, &mesos.FrameworkInfo_Capability{Type: mesos.FrameworkInfo_Capability_MULTI_ROLE.Enum()})
		call := &schedpb.Call{Type: schedpb.Call_SUBSCRIBE.Enum(), Subscribe: &schedpb.Call_Subscribe{FrameworkInfo: info}}
		s := openStream(t, url, c, call, nil, func() *schedpb.Event { return &schedpb.Event{} })
		ev := s.next("ERROR", func(e *schedpb.Event) bool { return e.GetType() == schedpb.Event_ERROR })
		if want := "Not authorized to register framework  with roles { prod }"; ev.GetError().GetMessage() != want {
			t.Errorf("%s: ERROR %q, want %q", c.MediaType(), ev.GetError().GetMessage(), want)
		}
	}

	good := frameworkInfo("good")
	good.Principal, good.Roles = proto.String("good"), []string{"prod/web"}
	good.Capabilities = append(good.Capabilities, &mesos.FrameworkInfo_Capability{Type: mesos.FrameworkInfo_Capability_MULTI_ROLE.Enum()})
	s := startScheduler(t, base, codec.JSON, good)

	// A task as root: TASK_ERROR, REASON_TASK_UNAUTHORIZED, nothing sent to the agent.
	var offer *mesos.Offer
	s.next("an offer", func(e *schedpb.Event) bool {
		if len(e.GetOffers().GetOffers()) > 0 {
			offer = e.GetOffers().GetOffers()[0]
			return true
		}
		return false
	})
	task := func(id, user string) *mesos.TaskInfo {
		return &mesos.TaskInfo{Name: proto.String(id), TaskId: &mesos.TaskID{Value: proto.String(id)}, AgentId: offer.AgentId,
			Resources: []*mesos.Resource{{Name: proto.String("cpus"), Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(0.1)}}},
			Command:   &mesos.CommandInfo{Value: proto.String("sleep 100"), User: proto.String(user)}}
	}
	s.call(&schedpb.Call{Type: schedpb.Call_ACCEPT.Enum(), Accept: &schedpb.Call_Accept{
		OfferIds: []*mesos.OfferID{offer.GetId()},
		Operations: []*mesos.Offer_Operation{{Type: mesos.Offer_Operation_LAUNCH.Enum(),
			Launch: &mesos.Offer_Operation_Launch{TaskInfos: []*mesos.TaskInfo{task("as-root", "root"), task("as-tester", "tester")}}}},
	}})
	st := s.update("as-root", mesos.TaskState_TASK_ERROR)
	if st.GetReason() != mesos.TaskStatus_REASON_TASK_UNAUTHORIZED || st.GetSource() != mesos.TaskStatus_SOURCE_MASTER ||
		!strings.Contains(st.GetMessage(), "Principal 'good' is not authorized to launch task as-root") {
		t.Errorf("root task: %v", st)
	}
	if rt := agent.runTask(); rt.GetTask().GetTaskId().GetValue() != "as-tester" {
		t.Errorf("the agent got %s", rt.GetTask().GetTaskId().GetValue())
	}

	// A framework of another user is invisible (200, filtered out).
	hidden := frameworkInfo("hidden")
	hidden.User = proto.String("secret-user")
	h := startScheduler(t, base, codec.JSON, hidden)
	resp, err := http.Get(base + "/master/state")
	if err != nil {
		t.Fatal(err)
	}
	var state map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&state)
	resp.Body.Close()
	names := []string{}
	for _, f := range state["frameworks"].([]any) {
		names = append(names, f.(map[string]any)["name"].(string))
	}
	if resp.StatusCode != 200 || strings.Join(names, ",") != "good" {
		t.Errorf("/master/state: %d, frameworks %v, want only good", resp.StatusCode, names)
	}
	if _, ok := state["flags"]; ok {
		t.Error("/master/state shows flags without view_flags")
	}
	for _, c := range []codec.Codec{codec.JSON, codec.Protobuf} {
		resp := postRaw(t, base+"/api/v1", c.MediaType(), mustMarshal(t, c, &masterpb.Call{Type: masterpb.Call_GET_FRAMEWORKS.Enum()}),
			map[string]string{"Accept": c.MediaType()})
		var out masterpb.Response
		b := readAll(t, resp)
		if err := c.Unmarshal(b, &out); err != nil || len(out.GetGetFrameworks().GetFrameworks()) != 1 ||
			out.GetGetFrameworks().GetFrameworks()[0].GetFrameworkInfo().GetName() != "good" {
			t.Errorf("%s GET_FRAMEWORKS: %v %v", c.MediaType(), err, out.GetGetFrameworks())
		}
		for _, call := range []*masterpb.Call{
			{Type: masterpb.Call_GET_FLAGS.Enum()},
			{Type: masterpb.Call_TEARDOWN.Enum(), Teardown: &masterpb.Call_Teardown{FrameworkId: frameworkIDProto(h.id)}},
		} {
			resp := postRaw(t, base+"/api/v1", c.MediaType(), mustMarshal(t, c, call), map[string]string{"Accept": c.MediaType()})
			resp.Body.Close()
			if resp.StatusCode != 403 {
				t.Errorf("%s %s: %d, want 403", c.MediaType(), call.GetType(), resp.StatusCode)
			}
		}
	}
	if resp, _ := http.Get(base + "/metrics/snapshot"); resp.StatusCode != 403 {
		t.Errorf("/metrics/snapshot: %d, want 403", resp.StatusCode)
	}
	// The console's kill takes JSON only, from its own origin.
	for _, tc := range []struct {
		ct, origin string
		code       int
	}{
		{"application/x-www-form-urlencoded", "", 415},
		{"text/plain", "", 415},
		{"application/json", "http://evil.example", 403},
	} {
		hdr := map[string]string{}
		if tc.origin != "" {
			hdr["Origin"] = tc.origin
		}
		resp := postRaw(t, base+"/agora/v1/tasks/kill", tc.ct, []byte(`{"task_id":"as-tester"}`), hdr)
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("kill with %s from %q: %d, want %d", tc.ct, tc.origin, resp.StatusCode, tc.code)
		}
	}
	// teardown_frameworks denies everyone here: the operator's kill too.
	resp = postRaw(t, base+"/agora/v1/tasks/kill", "application/json", []byte(`{"task_id":"as-tester"}`), nil)
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("kill without teardown_frameworks: %d, want 403", resp.StatusCode)
	}
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
