package cli

import "net/http"

// authTransport adds the CLI's Authorization to every request it
// carries: agents' realms (sandbox files, exec and attach) take the
// same credentials as the master's.
type authTransport struct {
	header string
	base   http.RoundTripper
}

func (t authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	if t.header == "" || r.Header.Get("Authorization") != "" {
		return base.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", t.header)
	return base.RoundTrip(r)
}
