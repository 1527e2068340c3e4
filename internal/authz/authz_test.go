package authz

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agora-dev/agora/internal/auth"
)

// exampleACLs is the example of docs/mesos-security.md §8.5.
const exampleACLs = `{
  "permissive": false,
  "register_frameworks": [
    { "principals": { "values": ["marathon"] }, "roles": { "values": ["prod", "prod/%"] } },
    { "principals": { "type": "ANY" },          "roles": { "values": ["dev"] } }
  ],
  "run_tasks": [
    { "principals": { "type": "NONE" }, "users": { "values": ["root"] } },
    { "principals": { "type": "ANY" },  "users": { "type": "ANY" } }
  ],
  "teardown_frameworks": [
    { "principals": { "values": ["ops"] }, "framework_principals": { "type": "ANY" } }
  ],
  "view_frameworks": [ { "principals": { "type": "ANY" }, "users": { "type": "ANY" } } ],
  "view_flags":      [ { "principals": { "values": ["ops"] }, "flags": { "type": "ANY" } } ],
  "access_sandboxes":[ { "principals": { "values": ["ops"] }, "users": { "type": "ANY" } } ],
  "get_endpoints": [
    { "principals": { "values": ["ops", "prometheus"] }, "paths": { "values": ["/metrics/snapshot"] } }
  ]
}`

func TestDecisions(t *testing.T) {
	acls, err := Parse([]byte(exampleACLs), nil)
	if err != nil {
		t.Fatal(err)
	}
	z := New(acls)
	p := func(v string) *auth.Subject { return &auth.Subject{Value: v} }
	for _, tc := range []struct {
		action  Action
		subject *auth.Subject
		object  *string
		want    bool
	}{
		{RegisterFrameworks, p("marathon"), Object("prod"), true},
		{RegisterFrameworks, p("marathon"), Object("prod/web/a"), true},
		{RegisterFrameworks, p("marathon"), Object("production"), false}, // not a descendant
		{RegisterFrameworks, p("marathon"), Object("dev"), true},         // second entry, ANY principal
		{RegisterFrameworks, p("alice"), Object("prod"), false},          // no match: permissive false
		{RegisterFrameworks, nil, Object("dev"), true},                   // anonymous: ANY entry
		{RegisterFrameworks, nil, Object("prod"), false},                 // SOME entry never matches anonymous
		{RunTasks, p("marathon"), Object("root"), false},                 // NONE principals match everyone and deny
		{RunTasks, nil, Object("root"), false},
		{RunTasks, p("marathon"), Object("nobody"), true},
		{TeardownFrameworks, p("ops"), Object("marathon"), true},
		{TeardownFrameworks, p("dev"), Object("marathon"), false},
		{TeardownFrameworks, p("ops"), nil, true},
		{ViewFlags, p("ops"), nil, true},
		{ViewFlags, nil, nil, false},
		{ViewFrameworks, nil, Object("anyone"), true},
		{ViewTasks, p("ops"), Object("u"), false}, // no entries at all: permissive false
		{GetEndpoints, p("prometheus"), Object("/metrics/snapshot"), true},
		{GetEndpoints, p("eve"), Object("/metrics/snapshot"), false},
		{AccessSandboxes, &auth.Subject{Claims: map[string]string{"fid": "f"}}, Object("u"), false}, // claims only
	} {
		if got := z.Allowed(Request{Action: tc.action, Subject: tc.subject, Object: tc.object}); got != tc.want {
			s, o := "<none>", "<any>"
			if tc.subject != nil {
				s = tc.subject.String()
			}
			if tc.object != nil {
				o = *tc.object
			}
			t.Errorf("%s by %s on %s: %v, want %v", tc.action, s, o, got, tc.want)
		}
	}
	var none *Authorizer
	if !none.Allowed(Request{Action: RunTasks, Object: Object("root")}) || none.Enabled() {
		t.Error("no authorizer must allow everything")
	}
	// permissive defaults to true.
	acls, err = Parse([]byte(`{"run_tasks":[{"principals":{"type":"NONE"},"users":{"values":["root"]}}]}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if z := New(acls); !z.Allowed(Request{Action: RunTasks, Subject: p("x"), Object: Object("nobody")}) ||
		z.Allowed(Request{Action: RunTasks, Subject: p("x"), Object: Object("root")}) {
		t.Error("permissive default")
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ json, want string }{
		{`[]`, "Failed to parse the ACLs"},
		{`{"permissive":"no"}`, "'permissive' must be true or false"},
		{`{"run_tasks":{}}`, "'run_tasks' must be a list"},
		{`{"run_tasks":[{"principals":{"type":"ANY"}}]}`, "run_tasks[0] lacks 'users'"},
		{`{"run_tasks":[{"principals":{"type":"admin"},"users":{"type":"ANY"}}]}`, "has type 'admin'; expected SOME, ANY or NONE"},
		{`{"run_tasks":[{"principals":{"type":"ANY"},"roles":{"type":"ANY"}}]}`, "has field 'roles'"},
		{`{"run_tasks":[{"principals":{"value":["a"]},"users":{"type":"ANY"}}]}`, `unknown field "value"`},
		{`{"view_flags":[{"principals":{"type":"ANY"},"flags":{"values":["x"]}}]}`, "ACL.ViewFlags type must be either NONE or ANY"},
		{`{"get_endpoints":[{"principals":{"type":"ANY"},"paths":{"values":["/flags"]}}]}`, "Path: '/flags' is not an authorizable path"},
	} {
		if _, err := Parse([]byte(tc.json), nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.json, err, tc.want)
		}
	}
	// An unknown action is warned about, not fatal.
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	if _, err := Parse([]byte(`{"shutdown_frameworks":[],"run_task":[]}`), log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "action=run_task") || !strings.Contains(buf.String(), "action=shutdown_frameworks") {
		t.Errorf("warnings: %s", buf.String())
	}
	// Load takes inline JSON, a path or file://.
	p := filepath.Join(t.TempDir(), "acls.json")
	if err := os.WriteFile(p, []byte(exampleACLs), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{exampleACLs, p, "file://" + p} {
		if a, err := Load(v, nil); err != nil || a.permissive {
			t.Errorf("Load(%.20q): %v", v, err)
		}
	}
	if _, err := Load("/nonexistent/acls.json", nil); err == nil || !strings.Contains(err.Error(), "Failed to read the ACLs file '/nonexistent/acls.json'") {
		t.Errorf("missing file: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(exampleACLs))
	f.Add([]byte(`{"permissive":false,"view_roles":[{"principals":{"type":"ANY"},"roles":{"values":["a/%"]}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := Parse(data, nil)
		if err != nil {
			return
		}
		z := New(a)
		for action := range a.rules {
			_ = z.Allowed(Request{Action: action, Subject: &auth.Subject{Value: "p"}, Object: Object("a/b")})
			_ = z.Allowed(Request{Action: action})
		}
	})
}
