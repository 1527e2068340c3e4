package auth

import (
	"encoding/base64"
	"net/http"
	"strings"
)

// ParseBasic parses an Authorization header as Mesos's Basic
// authenticator does: exactly two space-separated parts, the first
// exactly "Basic"; the base64 of exactly "principal:secret" (so a secret
// holding ':' never authenticates, as in Mesos).
func ParseBasic(header string) (principal, secret string, ok bool) {
	parts := strings.Split(header, " ")
	if len(parts) != 2 || parts[0] != "Basic" {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(parts[1])
	if err != nil {
		return "", "", false
	}
	pair := strings.Split(string(raw), ":")
	if len(pair) != 2 {
		return "", "", false
	}
	return pair[0], pair[1], true
}

// BasicHeader is the Authorization value for principal and secret.
func BasicHeader(principal, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(principal+":"+secret))
}

// Realm is an HTTP authentication realm with its authenticator.
type Realm struct {
	Name  string
	Creds *Credentials
}

// Unauthorized answers Mesos's 401 for realm.
func Unauthorized(w http.ResponseWriter, realm string) {
	w.Header().Set("WWW-Authenticate", `Basic realm="`+realm+`"`)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write([]byte("401 Unauthorized."))
}

// Authenticate checks r's Basic credentials against the realm. On success
// it returns r carrying the principal; otherwise it has answered 401.
func (rl *Realm) Authenticate(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	p, s, ok := ParseBasic(r.Header.Get("Authorization"))
	if !ok || !rl.Creds.Check(p, s) {
		Unauthorized(w, rl.Name)
		return nil, false
	}
	return r.WithContext(WithPrincipal(r.Context(), p)), true
}

// Router picks the realm of each request path; nil means the path is
// never authenticated.
type Router func(path string) *Realm

// Middleware authenticates every request whose path has a realm, before
// next (so before any leader redirect) runs.
func Middleware(route Router, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rl := route(r.URL.Path); rl != nil {
			var ok bool
			if r, ok = rl.Authenticate(w, r); !ok {
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// Authenticators checks an --http_authenticators value: Agora has only
// Mesos's built-in "basic".
func Authenticators(value string) error {
	for _, name := range strings.Split(value, ",") {
		if name = strings.TrimSpace(name); name != "basic" {
			return &unknownAuthenticator{name}
		}
	}
	return nil
}

type unknownAuthenticator struct{ name string }

func (e *unknownAuthenticator) Error() string {
	return "HTTP authenticator '" + e.name + "' not found. Check the spelling (compare to 'basic') or verify that the authenticator was loaded successfully (see --modules)"
}
