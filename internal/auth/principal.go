// Package auth is Agora's authentication: Mesos's credentials files, the
// HTTP Basic authenticator and its realms, agent credentials and executor
// tokens. Handlers learn who called them from the request's context.
package auth

import "context"

type principalKey struct{}

// WithPrincipal returns ctx carrying the authenticated principal.
func WithPrincipal(ctx context.Context, principal string) context.Context {
	return context.WithValue(ctx, principalKey{}, principal)
}

// Principal returns the principal a request authenticated as, and false
// when it did not authenticate (its realm has no authenticator): Mesos's
// "no principal", which authorization treats as ANY.
func Principal(ctx context.Context) (string, bool) {
	p, ok := ctx.Value(principalKey{}).(string)
	return p, ok
}
