package master

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/agora-dev/agora/internal/auth"
	"github.com/agora-dev/agora/internal/ratelimit"
	"github.com/agora-dev/agora/internal/registry"
)

// The master's HTTP realms (docs/mesos-security.md §4.4).
const (
	RealmReadonly  = "mesos-master-readonly"
	RealmReadwrite = "mesos-master-readwrite"
	RealmScheduler = "mesos-master-scheduler"
	RealmAgents    = "agora-master-agent"
)

// AuthConfig is the master's authentication (Mesos's flags of the same
// names) and Agora's per-principal limits.
type AuthConfig struct {
	AuthenticateHTTPFrameworks  bool   // --authenticate_http_frameworks
	HTTPFrameworkAuthenticators string // --http_framework_authenticators
	AuthenticateHTTPReadonly    bool   // --authenticate_http_readonly
	AuthenticateHTTPReadwrite   bool   // --authenticate_http_readwrite
	HTTPAuthenticators          string // --http_authenticators (default basic)
	// AuthenticateAgents makes agents authenticate (HTTP Basic on the
	// agent protocol) with a principal of Credentials.
	AuthenticateAgents bool   // --authenticate_agents
	Credentials        string // --credentials: path or file:// of Mesos's JSON
	// RateLimits is Mesos's --rate_limits JSON (inline or a path), applied
	// to scheduler calls per principal; MaxStreamsPerPrincipal caps the
	// SUBSCRIBE streams of one principal (0: no cap).
	RateLimits             string
	MaxStreamsPerPrincipal int
	// RaftSecretFile is the path of the group's shared secret
	// (--raft_secret_file): masters prove they know it on every Raft
	// connection, and refuse connections that do not.
	RaftSecretFile string
}

// authn is the master's built authentication.
type authn struct {
	readonly, readwrite, scheduler, agents *auth.Realm
	limiter                                *ratelimit.Limiter
	streams                                *ratelimit.Streams
	raftKey                                []byte // nil: Raft connections are not authenticated
}

func newAuthn(c AuthConfig, log *slog.Logger) (*authn, error) {
	a := &authn{streams: ratelimit.NewStreams(c.MaxStreamsPerPrincipal)}
	if c.RaftSecretFile != "" {
		key, err := auth.LoadKey(c.RaftSecretFile, "raft_secret_file", log)
		if err != nil {
			return nil, err
		}
		a.raftKey = key
	}
	if c.RateLimits != "" {
		rl, err := ratelimit.Parse(c.RateLimits)
		if err != nil {
			return nil, err
		}
		a.limiter = ratelimit.New(rl, nil)
	}
	if c.AuthenticateHTTPFrameworks && c.HTTPFrameworkAuthenticators == "" {
		return nil, errors.New("Missing `--http_framework_authenticators` flag. This must be used in conjunction with `--authenticate_http_frameworks`")
	}
	if c.HTTPFrameworkAuthenticators != "" {
		if _, err := auth.Authenticators(c.HTTPFrameworkAuthenticators); err != nil {
			return nil, err
		}
	}
	if c.HTTPAuthenticators == "" {
		c.HTTPAuthenticators = "basic"
	}
	if _, err := auth.Authenticators(c.HTTPAuthenticators); err != nil {
		return nil, err
	}
	if !c.AuthenticateHTTPFrameworks && !c.AuthenticateHTTPReadonly && !c.AuthenticateHTTPReadwrite && !c.AuthenticateAgents {
		return a, nil
	}
	if c.Credentials == "" {
		realm := RealmReadwrite
		switch {
		case c.AuthenticateHTTPFrameworks:
			realm = RealmScheduler
		case c.AuthenticateHTTPReadonly:
			realm = RealmReadonly
		case c.AuthenticateAgents:
			realm = RealmAgents
		}
		return nil, fmt.Errorf("No credentials provided for the default 'basic' HTTP authenticator for realm '%s': pass --credentials", realm)
	}
	creds, err := auth.LoadCredentials(c.Credentials, "credentials", log)
	if err != nil {
		return nil, err
	}
	realm := func(on bool, name string) *auth.Realm {
		if !on {
			return nil
		}
		return &auth.Realm{Name: name, Creds: creds}
	}
	a.readonly = realm(c.AuthenticateHTTPReadonly, RealmReadonly)
	a.readwrite = realm(c.AuthenticateHTTPReadwrite, RealmReadwrite)
	a.scheduler = realm(c.AuthenticateHTTPFrameworks, RealmScheduler)
	a.agents = realm(c.AuthenticateAgents, RealmAgents)
	return a, nil
}

// readonlyPaths are the endpoints of realm mesos-master-readonly that
// Agora has (Mesos's list, §4.4, with Agora's /metrics and read-only
// /agora/v1 paths).
var readonlyPaths = map[string]bool{
	"/state": true, "/master/state": true, "/state.json": true, "/master/state.json": true,
	"/state-summary": true, "/master/state-summary": true,
	"/frameworks": true, "/master/frameworks": true, "/tasks": true, "/master/tasks": true,
	"/slaves": true, "/master/slaves": true, "/roles": true, "/master/roles": true,
	"/flags": true, "/master/flags": true, "/maintenance/status": true, "/master/maintenance/status": true,
	"/metrics/snapshot": true, "/metrics": true, "/registrar(1)/registry": true,
	"/agora/v1/tasks": true,
}

// realmOf is the realm a path belongs to, nil when it is open (or its
// realm's flag is off). Never authenticated: /health, /redirect,
// /version, the console's files, /agora/v1/leader and the Raft path
// (masters of the group).
func (m *Master) realmOf(path string) *auth.Realm {
	a := m.authn
	switch {
	case path == "/api/v1/scheduler" || path == "/master/api/v1/scheduler":
		return a.scheduler
	case path == agentAPIPath:
		return a.agents
	case path == "/api/v1" || path == "/master/api/v1" || path == "/teardown" || path == "/master/teardown" ||
		path == "/agora/v1/tasks/kill" || path == "/logging/toggle":
		return a.readwrite
	case readonlyPaths[path] || strings.HasPrefix(path, "/files/") || strings.HasPrefix(path, "/agora/v1/sandbox/"):
		return a.readonly
	}
	return nil
}

// principalMismatch checks a scheduler call's authenticated principal
// against the framework's (§5): "" when they agree or nothing was
// authenticated.
func principalMismatch(r *http.Request, frameworkPrincipal string) string {
	p, ok := auth.Principal(r.Context())
	if !ok || frameworkPrincipal == p {
		return ""
	}
	return fmt.Sprintf("Authenticated principal '%s' does not match principal '%s' set in `FrameworkInfo`", p, frameworkPrincipal)
}

// rateLimited answers 429 with Retry-After to a call of a principal over
// its --rate_limits rate.
func rateLimited(w http.ResponseWriter, principal string, wait time.Duration) {
	w.Header().Set("Retry-After", ratelimit.RetryAfter(wait))
	textError(w, http.StatusTooManyRequests, fmt.Sprintf("Rate limit of principal '%s' exceeded (see --rate_limits)", principal))
}

// openWarning is the warning of a master reachable beyond loopback that
// accepts anyone, "" when it is not.
func (m *Master) openWarning() string {
	if a := m.authn; a.readonly != nil || a.readwrite != nil || a.scheduler != nil || a.agents != nil {
		return ""
	}
	if ip := net.ParseIP(m.cfg.IP); ip != nil && ip.IsLoopback() {
		return ""
	}
	return "this master listens on a non-loopback address with no authentication: anyone who reaches " +
		m.ln.Addr().String() + " can register frameworks, run commands on every agent and tear down frameworks. " +
		"Turn on --authenticate_http_frameworks, --authenticate_http_readwrite, --authenticate_http_readonly and --authenticate_agents with --credentials (docs/security.md)"
}

// warnIfOpen says loudly, in the log, that a master is open (the console
// says it too: /agora/v1/leader), or that its group's Raft connections
// are while the rest is closed.
func (m *Master) warnIfOpen() {
	if w := m.openWarning(); w != "" {
		m.log.Warn("SECURITY: " + w)
		return
	}
	if len(m.cfg.Masters) > 1 && m.authn.raftKey == nil && !(m.cfg.TLS.On() && m.cfg.TLS.RequireClientCert) {
		m.log.Warn("SECURITY: the group's Raft connections (" + registry.RaftPath + ") are not authenticated: anyone who reaches a master's port " +
			"can join its registry's consensus. Give every master the same --raft_secret_file, or require client certificates (LIBPROCESS_SSL_REQUIRE_CLIENT_CERT)")
	}
}
