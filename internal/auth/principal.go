// Package auth is Agora's authentication: Mesos's credentials files, the
// HTTP Basic authenticator and its realms, agent credentials and executor
// tokens. Handlers learn who called them from the request's context.
package auth

import (
	"context"
	"encoding/json"
	"net/http"
)

// Subject is who a request authenticated as: a principal value (Basic),
// claims (an executor's JWT), or both in principle. Mesos calls it the
// Principal.
type Subject struct {
	Value  string
	Claims map[string]string
}

// String prints the subject as Mesos does: a value-only subject as the
// bare value, anything else as JSON {"value":…,"claims":{…}}.
func (s Subject) String() string {
	if len(s.Claims) == 0 {
		return s.Value
	}
	v := struct {
		Value  string            `json:"value,omitempty"`
		Claims map[string]string `json:"claims"`
	}{s.Value, s.Claims}
	b, _ := json.Marshal(v)
	return string(b)
}

type subjectKey struct{}

// WithPrincipal returns ctx carrying the authenticated principal.
func WithPrincipal(ctx context.Context, principal string) context.Context {
	return WithSubject(ctx, Subject{Value: principal})
}

// WithSubject returns ctx carrying the authenticated subject.
func WithSubject(ctx context.Context, s Subject) context.Context {
	return context.WithValue(ctx, subjectKey{}, s)
}

// SubjectOf returns the subject a request authenticated as, and false
// when it did not authenticate.
func SubjectOf(ctx context.Context) (Subject, bool) {
	s, ok := ctx.Value(subjectKey{}).(Subject)
	return s, ok
}

// RequestSubject is the subject a request authenticated as, nil when it
// did not (the ACLs' "no principal").
func RequestSubject(r *http.Request) *Subject {
	if s, ok := SubjectOf(r.Context()); ok {
		return &s
	}
	return nil
}

// Principal returns the principal value a request authenticated as, and
// false when it did not authenticate (its realm has no authenticator):
// Mesos's "no principal", which authorization treats as ANY. A subject of
// claims only has the empty value.
func Principal(ctx context.Context) (string, bool) {
	s, ok := SubjectOf(ctx)
	return s.Value, ok
}
