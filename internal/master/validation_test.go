package master

import (
	"math"
	"strings"
	"testing"
	"time"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	schedpb "github.com/agora-dev/agora/api/mesos/v1/scheduler"
	"google.golang.org/protobuf/proto"
)

func TestValidateID(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"task-1", true},
		{"a.b_c-d", true},
		{"", false},
		{".", false},
		{"..", false},
		{"a/b", false},
		{`a\b`, false},
		{"a\x01b", false},
		{"a\x7fb", false},
		{strings.Repeat("x", 255), true},
		{strings.Repeat("x", 256), false},
	} {
		err := validateID("task id", tc.id)
		if (err == nil) != tc.ok {
			t.Errorf("validateID(%q) = %v, want ok=%v", tc.id, err, tc.ok)
		}
	}
}

func TestRefuseDuration(t *testing.T) {
	for _, tc := range []struct {
		f    *mesos.Filters
		want time.Duration
	}{
		{nil, 5 * time.Second},
		{&mesos.Filters{}, 5 * time.Second},
		{&mesos.Filters{RefuseSeconds: proto.Float64(0)}, 0},
		{&mesos.Filters{RefuseSeconds: proto.Float64(2.5)}, 2500 * time.Millisecond},
		{&mesos.Filters{RefuseSeconds: proto.Float64(-1)}, 5 * time.Second},
		{&mesos.Filters{RefuseSeconds: proto.Float64(math.NaN())}, 5 * time.Second},
		{&mesos.Filters{RefuseSeconds: proto.Float64(1e12)}, 365 * 24 * time.Hour},
	} {
		if got := refuseDuration(tc.f); got != tc.want {
			t.Errorf("refuseDuration(%v) = %v, want %v", tc.f, got, tc.want)
		}
	}
}

func TestValidateSchedulerCall(t *testing.T) {
	fid := &mesos.FrameworkID{Value: proto.String("f1")}
	info := func(id *mesos.FrameworkID) *mesos.FrameworkInfo {
		return &mesos.FrameworkInfo{User: proto.String("u"), Name: proto.String("n"), Id: id}
	}
	for _, tc := range []struct {
		name    string
		call    *schedpb.Call
		wantErr string
	}{
		{"subscribe ok", &schedpb.Call{Type: schedpb.Call_SUBSCRIBE.Enum(),
			Subscribe: &schedpb.Call_Subscribe{FrameworkInfo: info(nil)}}, ""},
		{"subscribe missing", &schedpb.Call{Type: schedpb.Call_SUBSCRIBE.Enum()}, "Expecting 'subscribe'"},
		{"subscribe id mismatch", &schedpb.Call{Type: schedpb.Call_SUBSCRIBE.Enum(), FrameworkId: fid,
			Subscribe: &schedpb.Call_Subscribe{FrameworkInfo: info(nil)}}, "differs"},
		{"resubscribe ok", &schedpb.Call{Type: schedpb.Call_SUBSCRIBE.Enum(), FrameworkId: fid,
			Subscribe: &schedpb.Call_Subscribe{FrameworkInfo: info(fid)}}, ""},
		{"no framework id", &schedpb.Call{Type: schedpb.Call_TEARDOWN.Enum()}, "Expecting 'framework_id'"},
		{"accept missing", &schedpb.Call{Type: schedpb.Call_ACCEPT.Enum(), FrameworkId: fid}, "Expecting 'accept'"},
		{"ack bad uuid", &schedpb.Call{Type: schedpb.Call_ACKNOWLEDGE.Enum(), FrameworkId: fid,
			Acknowledge: &schedpb.Call_Acknowledge{AgentId: &mesos.AgentID{Value: proto.String("a")},
				TaskId: &mesos.TaskID{Value: proto.String("t")}, Uuid: []byte("short")}}, "Not a valid UUID"},
		{"ack ok", &schedpb.Call{Type: schedpb.Call_ACKNOWLEDGE.Enum(), FrameworkId: fid,
			Acknowledge: &schedpb.Call_Acknowledge{AgentId: &mesos.AgentID{Value: proto.String("a")},
				TaskId: &mesos.TaskID{Value: proto.String("t")}, Uuid: newUUID()}}, ""},
		{"revive without message", &schedpb.Call{Type: schedpb.Call_REVIVE.Enum(), FrameworkId: fid}, ""},
	} {
		err := validateSchedulerCall(tc.call)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tc.name, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.wantErr)
		}
	}
}

func TestValidateFrameworkInfo(t *testing.T) {
	multi := []*mesos.FrameworkInfo_Capability{{Type: mesos.FrameworkInfo_Capability_MULTI_ROLE.Enum()}}
	for _, tc := range []struct {
		name       string
		info       *mesos.FrameworkInfo
		suppressed []string
		ok         bool
	}{
		{"default role", &mesos.FrameworkInfo{}, nil, true},
		{"roles without MULTI_ROLE", &mesos.FrameworkInfo{Roles: []string{"a"}}, nil, false},
		{"multi role", &mesos.FrameworkInfo{Roles: []string{"a", "b"}, Capabilities: multi}, []string{"b"}, true},
		{"multi role with role", &mesos.FrameworkInfo{Role: proto.String("a"), Capabilities: multi}, nil, false},
		{"duplicate roles", &mesos.FrameworkInfo{Roles: []string{"a", "a"}, Capabilities: multi}, nil, false},
		{"suppressed not subscribed", &mesos.FrameworkInfo{Roles: []string{"a"}, Capabilities: multi}, []string{"b"}, false},
		{"negative failover", &mesos.FrameworkInfo{FailoverTimeout: proto.Float64(-1)}, nil, false},
		{"infinite failover", &mesos.FrameworkInfo{FailoverTimeout: proto.Float64(math.Inf(1))}, nil, false},
	} {
		if err := validateFrameworkInfo(tc.info, tc.suppressed); (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
