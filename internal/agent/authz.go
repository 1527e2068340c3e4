package agent

import (
	"fmt"
	"net/http"
	"path"
	"sync"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	agentapi "github.com/agora-dev/agora/api/mesos/v1/agent"
	"github.com/agora-dev/agora/internal/auth"
	"github.com/agora-dev/agora/internal/authz"
	"github.com/agora-dev/agora/internal/httpapi"
)

// Authorization at the agent (docs/mesos-security.md §8.4): the view_*
// filters of /state and GET_*, view_flags, get_endpoints, access_sandboxes
// on /files, and the nested-container actions of the operator API, with
// the implicit rights of an executor's token on its own container.

func (a *Agent) viewerOf(r *http.Request) *authz.Viewer {
	return a.authz.Viewer(auth.RequestSubject(r))
}

func (a *Agent) allowed(r *http.Request, action authz.Action, object *string) bool {
	return a.authz.Allowed(authz.Request{Action: action, Subject: auth.RequestSubject(r), Object: object})
}

// endpointDenied answers 403 when the request may not GET an
// authorizable endpoint (get_endpoints), and says whether it did.
func (a *Agent) endpointDenied(w http.ResponseWriter, r *http.Request, p string) bool {
	if a.allowed(r, authz.GetEndpoints, authz.Object(p)) {
		return false
	}
	httpapi.TextError(w, http.StatusForbidden, "403 Forbidden.")
	return true
}

// sandboxOwners maps the paths sandboxes are attached under in /files to
// the user access_sandboxes is asked about: the executor's command user,
// else its framework's.
type sandboxOwners struct {
	mu sync.Mutex
	// +checklocks:mu
	users map[string]string
}

func (o *sandboxOwners) set(p, user string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.users == nil {
		o.users = make(map[string]string)
	}
	o.users[p] = user
}

func (o *sandboxOwners) remove(p string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.users, p)
}

// owner is the user of the sandbox holding p, false when p is in none.
func (o *sandboxOwners) owner(p string) (string, bool) {
	p = path.Clean("/" + p)
	o.mu.Lock()
	defer o.mu.Unlock()
	for q := p; ; q = path.Dir(q) {
		if u, ok := o.users[q]; ok {
			return u, true
		}
		if q == "/" || q == "." {
			return "", false
		}
	}
}

// guardFiles checks access_sandboxes (and get_endpoints for /files/debug)
// before the /files service answers.
func (a *Agent) guardFiles(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.authz.Enabled() {
			if r.URL.Path == "/files/debug" && a.endpointDenied(w, r, "/files/debug") {
				return
			}
			if user, ok := a.owners.owner(r.URL.Query().Get("path")); ok && !a.allowed(r, authz.AccessSandboxes, authz.Object(user)) {
				httpapi.TextError(w, http.StatusForbidden, "403 Forbidden.")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// implicitExecutorCalls are what an executor's token may do on the
// operator API, on containers under its own: Mesos's list, of the calls
// Agora implements (its deprecated LAUNCH/KILL/REMOVE_NESTED_CONTAINER
// are not).
var implicitExecutorCalls = map[agentapi.Call_Type]bool{
	agentapi.Call_WAIT_NESTED_CONTAINER:           true,
	agentapi.Call_LAUNCH_NESTED_CONTAINER_SESSION: true,
	agentapi.Call_ATTACH_CONTAINER_OUTPUT:         true,
}

// callContainer is the container an operator call acts on (of the calls
// Agora implements).
func callContainer(c *agentapi.Call) *mesos.ContainerID {
	switch c.GetType() {
	case agentapi.Call_LAUNCH_NESTED_CONTAINER_SESSION:
		return c.GetLaunchNestedContainerSession().GetContainerId()
	case agentapi.Call_ATTACH_CONTAINER_OUTPUT:
		return c.GetAttachContainerOutput().GetContainerId()
	case agentapi.Call_ATTACH_CONTAINER_INPUT:
		return c.GetAttachContainerInput().GetContainerId()
	case agentapi.Call_WAIT_NESTED_CONTAINER:
		return c.GetWaitNestedContainer().GetContainerId()
	}
	return nil
}

func rootContainer(id *mesos.ContainerID) string {
	for id.GetParent() != nil {
		id = id.GetParent()
	}
	return id.GetValue()
}

// authorizeCall checks an operator call against the ACLs and answers 403
// when it is refused. GET_* calls are filtered instead (viewerOf).
func (a *Agent) authorizeCall(w http.ResponseWriter, r *http.Request, c *agentapi.Call) bool {
	if !a.authz.Enabled() {
		return true
	}
	target := callContainer(c)
	if s := auth.RequestSubject(r); s != nil && s.Value == "" && len(s.Claims) > 0 {
		// An executor's token: only its implicit calls, under its own
		// container.
		if implicitExecutorCalls[c.GetType()] && target != nil && rootContainer(target) == s.Claims["cid"] {
			return true
		}
		httpapi.TextError(w, http.StatusForbidden, "403 Forbidden.")
		return false
	}
	if target == nil {
		return true
	}
	var actions []authz.Action
	switch c.GetType() {
	case agentapi.Call_LAUNCH_NESTED_CONTAINER_SESSION:
		actions = []authz.Action{authz.LaunchNestedContainerSessionsUnderParentUser, authz.LaunchNestedContainerSessionsAsUser}
	case agentapi.Call_ATTACH_CONTAINER_OUTPUT:
		actions = []authz.Action{authz.AttachContainersOutput}
	case agentapi.Call_ATTACH_CONTAINER_INPUT:
		actions = []authz.Action{authz.AttachContainersInput}
	case agentapi.Call_WAIT_NESTED_CONTAINER:
		actions = []authz.Action{authz.WaitNestedContainers}
	}
	root := rootContainer(target)
	var user string
	found := false
	a.do(r.Context(), func() {
		if e := a.st.executorByContainer(root); e != nil {
			user, found = authz.ExecutorUser(e.info, e.fw.info), true
		}
	})
	if !found {
		return true // the handler answers 404 for an unknown container
	}
	for _, action := range actions {
		object := user
		if action == authz.LaunchNestedContainerSessionsAsUser {
			if u := c.GetLaunchNestedContainerSession().GetCommand().GetUser(); u != "" {
				object = u
			}
		}
		if !a.allowed(r, action, authz.Object(object)) {
			httpapi.TextError(w, http.StatusForbidden, fmt.Sprintf("403 Forbidden: %s on container %s (user '%s') refused by the ACLs", action, target.GetValue(), object))
			return false
		}
	}
	return true
}
