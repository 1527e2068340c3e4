package master

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/internal/auth"
	"github.com/agora-dev/agora/internal/authz"
	"google.golang.org/protobuf/proto"
)

// Authorization at the master (docs/mesos-security.md §8, §9): the
// framework actions (register_frameworks, run_tasks), the operator's
// (teardown_frameworks, view_flags, get_endpoints, mark_agents_gone,
// register_agents) and the view_* filters of /state and the operator API.

// frameworkSubject is the ACL subject of a framework's actions: its
// FrameworkInfo.principal (the authenticated one when authentication is
// on), none when it has no principal.
func frameworkSubject(info *mesos.FrameworkInfo) *auth.Subject {
	if info.GetPrincipal() == "" {
		return nil
	}
	return &auth.Subject{Value: info.GetPrincipal()}
}

// allowed asks the master's authorizer.
func (m *Master) allowed(action authz.Action, subject *auth.Subject, object *string) bool {
	return m.authz.Allowed(authz.Request{Action: action, Subject: subject, Object: object})
}

// frameworkRolesDenied is the refusal of a framework whose principal may
// not register with one of its roles, "" when every role is allowed.
func (m *Master) frameworkRolesDenied(info *mesos.FrameworkInfo) string {
	if !m.authz.Enabled() {
		return ""
	}
	roles := frameworkInfoRoles(info)
	for _, role := range roles {
		if !m.allowed(authz.RegisterFrameworks, frameworkSubject(info), authz.Object(role)) {
			sorted := slices.Sorted(slices.Values(roles))
			return fmt.Sprintf("Not authorized to register framework %s with roles { %s }",
				info.GetId().GetValue(), strings.Join(sorted, ", "))
		}
	}
	return ""
}

// frameworkInfoRoles are the roles a FrameworkInfo asks for.
func frameworkInfoRoles(info *mesos.FrameworkInfo) []string {
	if len(info.GetRoles()) > 0 {
		return info.GetRoles()
	}
	return []string{legacyRole(info)}
}

// launchDenied is the TASK_ERROR message of a task its framework may not
// run as its user, "" when it may.
func (m *Master) launchDenied(f *framework, ti *mesos.TaskInfo) string {
	if !m.authz.Enabled() {
		return ""
	}
	user := authz.TaskUser(ti, f.info)
	if m.allowed(authz.RunTasks, frameworkSubject(f.info), authz.Object(user)) {
		return ""
	}
	return fmt.Sprintf("Principal '%s' is not authorized to launch task %s of framework %s under user '%s'",
		f.info.GetPrincipal(), ti.GetTaskId().GetValue(), f.id, user)
}

// groupDenied is launchDenied for a task group: every task of it must be
// allowed (a task without a user of its own runs as the executor's).
func (m *Master) groupDenied(f *framework, lg *mesos.Offer_Operation_LaunchGroup) string {
	if !m.authz.Enabled() {
		return ""
	}
	for _, t := range lg.GetTaskGroup().GetTasks() {
		t = proto.Clone(t).(*mesos.TaskInfo)
		if t.Executor == nil {
			t.Executor = lg.GetExecutor()
		}
		if msg := m.launchDenied(f, t); msg != "" {
			return "Task group refused: " + msg
		}
	}
	return ""
}

// viewer is one reader of state (authz.Viewer); nil sees everything.
type viewer = authz.Viewer

// viewerOf is the viewer of a request, nil without an authorizer.
func (m *Master) viewerOf(r *http.Request) *viewer {
	return m.authz.Viewer(auth.RequestSubject(r))
}

// endpointDenied answers 403 when the request's subject may not GET an
// authorizable endpoint (get_endpoints), and says whether it did.
func (m *Master) endpointDenied(w http.ResponseWriter, r *http.Request, path string) bool {
	if m.allowed(authz.GetEndpoints, auth.RequestSubject(r), authz.Object(path)) {
		return false
	}
	textError(w, http.StatusForbidden, "403 Forbidden.")
	return true
}

// principalObject is a framework's principal as an ACL object (any
// object when it has none).
func principalObject(info *mesos.FrameworkInfo) *string {
	if info.GetPrincipal() == "" {
		return nil
	}
	return authz.Object(info.GetPrincipal())
}

// crossOrigin reports a browser request sent by a page of another origin
// than the master's own (its Origin header names another host).
func crossOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return false
	}
	u, err := url.Parse(o)
	return err != nil || u.Host != r.Host
}
