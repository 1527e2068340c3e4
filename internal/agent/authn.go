package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"

	"github.com/agora-dev/agora/internal/auth"
)

// The agent's HTTP realms (docs/mesos-security.md §4.4).
const (
	RealmReadonly  = "mesos-agent-readonly"
	RealmReadwrite = "mesos-agent-readwrite"
	RealmExecutor  = "mesos-agent-executor"
)

// AuthConfig is the agent's HTTP authentication, Mesos's flags of the
// same names.
type AuthConfig struct {
	AuthenticateHTTPReadonly  bool   // --authenticate_http_readonly
	AuthenticateHTTPReadwrite bool   // --authenticate_http_readwrite
	AuthenticateHTTPExecutors bool   // --authenticate_http_executors
	HTTPAuthenticators        string // --http_authenticators: basic, jwt; default basic (basic,jwt with executor authentication)
	HTTPCredentials           string // --http_credentials: Mesos's credentials JSON
	// JWTSecretKey is the path of the HMAC key (--jwt_secret_key); when
	// set every executor gets a token in MESOS_EXECUTOR_AUTHENTICATION_TOKEN.
	JWTSecretKey string
}

// authn is the agent's built authentication.
type authn struct {
	readonly, readwrite, executor *auth.Realm
	key                           []byte // signs executor tokens; nil: none are given
}

func newAuthn(c AuthConfig, log *slog.Logger) (*authn, error) {
	a := &authn{}
	if c.AuthenticateHTTPExecutors && c.JWTSecretKey == "" {
		return nil, errors.New("--jwt_secret_key must be specified when --authenticate_http_executors is set to true")
	}
	if c.JWTSecretKey != "" {
		key, err := auth.LoadKey(c.JWTSecretKey, "jwt_secret_key", log)
		if err != nil {
			return nil, err
		}
		a.key = key
	}
	if c.HTTPAuthenticators == "" {
		c.HTTPAuthenticators = "basic"
		if c.AuthenticateHTTPExecutors {
			c.HTTPAuthenticators = "basic,jwt"
		}
	}
	names, err := auth.Authenticators(c.HTTPAuthenticators, "basic", "jwt")
	if err != nil {
		return nil, err
	}
	if names["jwt"] && a.key == nil && (c.AuthenticateHTTPReadonly || c.AuthenticateHTTPReadwrite || c.AuthenticateHTTPExecutors) {
		return nil, errors.New("--jwt_secret_key must be specified when the 'jwt' HTTP authenticator is used")
	}
	var creds *auth.Credentials
	if c.HTTPCredentials != "" {
		if creds, err = auth.LoadCredentials(c.HTTPCredentials, "http_credentials", log); err != nil {
			return nil, err
		}
	}
	realm := func(on bool, name string) (*auth.Realm, error) {
		if !on {
			return nil, nil
		}
		rl := &auth.Realm{Name: name}
		if names["basic"] {
			// Unlike Mesos, the executor realm does not demand Basic
			// credentials: executors authenticate with their tokens.
			if creds == nil && name != RealmExecutor {
				return nil, fmt.Errorf("No credentials provided for the default 'basic' HTTP authenticator for realm '%s': pass --http_credentials", name)
			}
			rl.Creds = creds
		}
		if names["jwt"] {
			rl.JWTKey = a.key
		}
		if rl.Creds == nil && rl.JWTKey == nil {
			return nil, fmt.Errorf("No HTTP authenticator for realm '%s' (see --http_authenticators)", name)
		}
		return rl, nil
	}
	if a.readonly, err = realm(c.AuthenticateHTTPReadonly, RealmReadonly); err != nil {
		return nil, err
	}
	if a.readwrite, err = realm(c.AuthenticateHTTPReadwrite, RealmReadwrite); err != nil {
		return nil, err
	}
	if a.executor, err = realm(c.AuthenticateHTTPExecutors, RealmExecutor); err != nil {
		return nil, err
	}
	return a, nil
}

// agentReadonlyPaths are the endpoints of realm mesos-agent-readonly
// (Mesos's list, §4.4, with Agora's /metrics).
var agentReadonlyPaths = map[string]bool{
	"/state": true, "/state.json": true, "/slave(1)/state": true, "/slave(1)/state.json": true,
	"/flags": true, "/slave(1)/flags": true, "/metrics/snapshot": true, "/metrics": true,
	"/monitor/statistics": true, "/monitor/statistics.json": true, "/containers": true,
}

// realmOf is the realm of a path, nil when it is open: /health and
// /version always are.
func (a *Agent) realmOf(path string) *auth.Realm {
	switch {
	case path == "/api/v1/executor" || path == "/slave(1)/api/v1/executor":
		return a.authn.executor
	case path == "/api/v1" || path == "/slave(1)/api/v1":
		return a.authn.readwrite
	case agentReadonlyPaths[path] || strings.HasPrefix(path, "/files/"):
		return a.authn.readonly
	}
	return nil
}

// executorToken is the token of an executor, "" when the agent has no
// --jwt_secret_key.
func (a *Agent) executorToken(frameworkID, executorID, containerID string) string {
	if a.authn.key == nil {
		return ""
	}
	return auth.SignExecutorToken(a.authn.key, auth.ExecutorClaims{
		FrameworkID: frameworkID, ExecutorID: executorID, ContainerID: containerID})
}

// claimsMismatch is Mesos's check of an executor call against the
// subject's claims (§7): "" when they match or the call did not
// authenticate. The container ID is checked later, on the loop.
func claimsMismatch(s auth.Subject, frameworkID, executorID string) string {
	if s.Claims["fid"] != frameworkID {
		return fmt.Sprintf("Authenticated principal '%s' does not contain an 'fid' claim with the framework ID %s, which is set in the call", s, frameworkID)
	}
	if s.Claims["eid"] != executorID {
		return fmt.Sprintf("Authenticated principal '%s' does not contain an 'eid' claim with the executor ID %s, which is set in the call", s, executorID)
	}
	return ""
}

// warnIfOpen says loudly that an agent reachable beyond loopback lets
// anyone read its sandboxes and call its operator API.
func (a *Agent) warnIfOpen() {
	if a.authn.readonly != nil || a.authn.readwrite != nil {
		return
	}
	if ip := net.ParseIP(a.cfg.IP); ip != nil && ip.IsLoopback() {
		return
	}
	a.log.Warn("SECURITY: this agent listens on a non-loopback address with no HTTP authentication: anyone who reaches " +
		a.addr + " can read every sandbox and attach to containers. " +
		"Turn on --authenticate_http_readonly and --authenticate_http_readwrite with --http_credentials (docs/security.md)")
}
