package authz

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/agora-dev/agora/internal/auth"
)

// Authorizer decides. The nil *Authorizer (no --acls) allows everything,
// as Mesos does without an authorizer.
type Authorizer struct {
	acls *ACLs
}

// New returns the local authorizer of acls; nil acls give the nil
// Authorizer.
func New(acls *ACLs) *Authorizer {
	if acls == nil {
		return nil
	}
	return &Authorizer{acls: acls}
}

// Local is the authorizer of a daemon's flags: --acls (inline JSON, a
// path or file://) with --authorizers (--authorizer on the agent), whose
// only value is Mesos's "local"; nil without --acls.
func Local(acls, authorizer, flag string, log *slog.Logger) (*Authorizer, error) {
	if authorizer != "" && authorizer != "local" {
		return nil, fmt.Errorf("Authorizer '%s' not found: Agora has only the 'local' authorizer (--%s)", authorizer, flag)
	}
	if acls == "" {
		return nil, nil
	}
	a, err := Load(acls, log)
	if err != nil {
		return nil, err
	}
	return New(a), nil
}

// Enabled reports whether there is an authorizer at all (filters can
// skip their work when there is none).
func (z *Authorizer) Enabled() bool { return z != nil }

// Request is one question: may Subject perform Action on Object?
type Request struct {
	Action Action
	// Subject is who asks; nil (or a request that did not authenticate)
	// is Mesos's "no principal", matched only by ANY and NONE entries.
	Subject *auth.Subject
	// Object is the value compared with the entry's object; nil asks
	// about any object (ANY).
	Object *string
}

// Object returns a request object for v.
func Object(v string) *string { return &v }

// Allowed answers the request.
func (z *Authorizer) Allowed(r Request) bool {
	if z == nil {
		return true
	}
	subject := Entity{Type: Any}
	if r.Subject != nil {
		if r.Subject.Value == "" && len(r.Subject.Claims) > 0 {
			return false // a subject of claims only (an executor's token)
		}
		subject = Entity{Type: Some, Values: []string{r.Subject.Value}}
	}
	object := Entity{Type: Any}
	if r.Object != nil {
		object = Entity{Type: Some, Values: []string{*r.Object}}
	}
	hierarchical := actions[r.Action].kind == roles
	for _, rule := range z.acls.rules[r.Action] {
		if matches(rule.principals, subject, false) && matches(rule.object, object, hierarchical) {
			return allows(rule.principals, subject, false) && allows(rule.object, object, hierarchical)
		}
	}
	return z.acls.permissive
}

// AllowedFor is Allowed for the subject a request's context carries.
func (z *Authorizer) AllowedFor(s auth.Subject, authenticated bool, action Action, object *string) bool {
	var subj *auth.Subject
	if authenticated {
		subj = &s
	}
	return z.Allowed(Request{Action: action, Subject: subj, Object: object})
}

// matches is Mesos's matches(): an entry of ANY or NONE matches any
// request; an entry of SOME matches a SOME request whose values it all
// holds.
func matches(entry, req Entity, hierarchical bool) bool {
	if entry.Type != Some {
		return true
	}
	if req.Type != Some {
		return false
	}
	for _, v := range req.Values {
		if !holds(entry.Values, v, hierarchical) {
			return false
		}
	}
	return true
}

// allows is Mesos's allows(): ANY allows, NONE denies, SOME allows the
// requests it matches.
func allows(entry, req Entity, hierarchical bool) bool {
	switch entry.Type {
	case Any:
		return true
	case None:
		return false
	}
	return matches(entry, req, hierarchical)
}

// holds says whether an entry's values cover v: exactly, or, for roles,
// through a value "a/b/%" that covers every strict descendant of a/b.
func holds(values []string, v string, hierarchical bool) bool {
	if slices.Contains(values, v) {
		return true
	}
	if !hierarchical {
		return false
	}
	for _, e := range values {
		if parent, ok := strings.CutSuffix(e, "/%"); ok && strings.HasPrefix(v, parent+"/") {
			return true
		}
	}
	return false
}
