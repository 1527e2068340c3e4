package auth

import (
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"time"
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
	raw, err := base64.StdEncoding.Strict().DecodeString(parts[1])
	// Only the canonical encoding: Go's decoder skips \r and \n.
	if err != nil || base64.StdEncoding.EncodeToString(raw) != parts[1] {
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

// Realm is an HTTP authentication realm with its authenticators: Basic
// against Creds when Creds is set, HS256 bearer tokens (executors') under
// JWTKey when JWTKey is set.
type Realm struct {
	Name   string
	Creds  *Credentials
	JWTKey []byte
}

// Unauthorized answers Mesos's 401 for a Basic realm.
func Unauthorized(w http.ResponseWriter, realm string) {
	(&Realm{Name: realm, Creds: &Credentials{}}).unauthorized(w, "")
}

// unauthorized answers 401 with one challenge per authenticator of the
// realm; bearerError, when set, is the JWT authenticator's
// error_description.
func (rl *Realm) unauthorized(w http.ResponseWriter, bearerError string) {
	if rl.Creds != nil {
		w.Header().Add("WWW-Authenticate", `Basic realm="`+rl.Name+`"`)
	}
	if rl.JWTKey != nil {
		c := `Bearer realm="` + rl.Name + `"`
		if bearerError != "" {
			c += `, error="invalid_token", error_description="` + strings.ReplaceAll(bearerError, `"`, `'`) + `"`
		}
		w.Header().Add("WWW-Authenticate", c)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write([]byte("401 Unauthorized."))
}

// Authenticate checks r's credentials against the realm. On success it
// returns r carrying the subject; otherwise it has answered 401.
func (rl *Realm) Authenticate(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		rl.unauthorized(w, "")
		return nil, false
	}
	if rl.JWTKey != nil && (strings.HasPrefix(h, "Bearer ") || rl.Creds == nil) {
		claims, why := rl.bearer(h, time.Now())
		if why != "" {
			rl.unauthorized(w, why)
			return nil, false
		}
		return r.WithContext(WithSubject(r.Context(), Subject{Claims: claims})), true
	}
	p, s, ok := ParseBasic(h)
	if rl.Creds == nil || !ok || !rl.Creds.Check(p, s) {
		rl.unauthorized(w, "")
		return nil, false
	}
	return r.WithContext(WithPrincipal(r.Context(), p)), true
}

// bearer is Mesos's JWT authenticator: the claims of a valid token, or
// the reason it is refused.
func (rl *Realm) bearer(h string, now time.Time) (map[string]string, string) {
	parts := strings.Split(h, " ")
	if len(parts) != 2 {
		return nil, "Malformed 'Authorization' header"
	}
	if parts[0] != "Bearer" {
		return nil, "Scheme '" + parts[0] + "' unsupported"
	}
	claims, err := VerifyJWT(rl.JWTKey, parts[1], now)
	if err != nil {
		return nil, "Invalid JWT: " + err.Error()
	}
	if len(claims) == 0 {
		return nil, "JWT claims missing"
	}
	return claims, ""
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

// Authenticators checks an --http_authenticators value against the
// authenticators a daemon has (Mesos's built-in "basic" on the master;
// "basic" and "jwt" on the agent) and returns the names listed.
func Authenticators(value string, known ...string) (map[string]bool, error) {
	if len(known) == 0 {
		known = []string{"basic"}
	}
	names := map[string]bool{}
	for _, name := range strings.Split(value, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(known, name) {
			return nil, &unknownAuthenticator{name}
		}
		names[name] = true
	}
	return names, nil
}

type unknownAuthenticator struct{ name string }

func (e *unknownAuthenticator) Error() string {
	return "HTTP authenticator '" + e.name + "' not found. Check the spelling (compare to 'basic') or verify that the authenticator was loaded successfully (see --modules)"
}
