package executor

import (
	"errors"
	"fmt"
	"github.com/agora-dev/agora/internal/tlsconf"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/agora-dev/agora/api/codec"
)

// Defaults used when a Config field is zero or a variable is unset.
const (
	DefaultShutdownGracePeriod    = 5 * time.Second
	DefaultSubscriptionBackoffMax = 2 * time.Second
	DefaultRecoveryTimeout        = 15 * time.Minute
	DefaultRegistrationTimeout    = time.Minute
	DefaultCallTimeout            = 10 * time.Second
)

// Names of the environment variables the agent sets for an executor.
const (
	EnvFrameworkID            = "MESOS_FRAMEWORK_ID"
	EnvExecutorID             = "MESOS_EXECUTOR_ID"
	EnvAgentEndpoint          = "MESOS_AGENT_ENDPOINT"
	EnvDirectory              = "MESOS_DIRECTORY"
	EnvSandbox                = "MESOS_SANDBOX"
	EnvCheckpoint             = "MESOS_CHECKPOINT"
	EnvShutdownGracePeriod    = "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"
	EnvSubscriptionBackoffMax = "MESOS_SUBSCRIPTION_BACKOFF_MAX"
	EnvRecoveryTimeout        = "MESOS_RECOVERY_TIMEOUT"
	EnvAuthenticationToken    = "MESOS_EXECUTOR_AUTHENTICATION_TOKEN"
)

// Config is what a Driver needs to talk to its agent. ConfigFromEnv fills
// it from the environment the agent gives an executor.
type Config struct {
	FrameworkID string
	ExecutorID  string
	// AgentURL is the full URL of the agent's executor API,
	// e.g. http://127.0.0.1:5051/api/v1/executor.
	AgentURL string
	// Directory is the sandbox path on the host; Sandbox is the same
	// directory as the executor sees it.
	Directory, Sandbox string
	// Checkpoint tells whether the framework checkpoints; only then does
	// the driver try to resubscribe after losing its agent.
	Checkpoint bool
	// ShutdownGracePeriod is how long the agent waits after SHUTDOWN
	// before it kills the executor.
	ShutdownGracePeriod time.Duration
	// SubscriptionBackoffMax bounds the wait between SUBSCRIBE attempts.
	SubscriptionBackoffMax time.Duration
	// RecoveryTimeout is how long a checkpointing executor keeps trying to
	// resubscribe after a disconnection.
	RecoveryTimeout time.Duration
	// RegistrationTimeout is how long Run keeps trying the first
	// SUBSCRIBE when the agent is not reachable or answers 5xx.
	RegistrationTimeout time.Duration
	// AuthToken, when set, is sent as "Authorization: Bearer <token>".
	AuthToken string

	// Codec is the media type of calls and events; nil means protobuf.
	Codec codec.Codec
	// Client makes the HTTP requests; nil means a client of its own.
	Client *http.Client
	// CallTimeout bounds each UPDATE and MESSAGE call.
	CallTimeout time.Duration
	// Logger receives the driver's few log lines; nil discards them.
	Logger *slog.Logger
}

// ConfigFromEnv builds a Config from the MESOS_* variables the agent sets,
// read through getenv (os.Getenv in an executor's main). MESOS_FRAMEWORK_ID,
// MESOS_EXECUTOR_ID, MESOS_AGENT_ENDPOINT and MESOS_DIRECTORY are required;
// MESOS_SANDBOX defaults to MESOS_DIRECTORY; durations default to Mesos's
// defaults when unset. The error names every missing or malformed variable.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	var errs []error
	required := func(name string) string {
		v := getenv(name)
		if v == "" {
			errs = append(errs, fmt.Errorf("%w %s", errMissing, name))
		}
		return v
	}
	duration := func(name string, def time.Duration) time.Duration {
		v := getenv(name)
		if v == "" {
			return def
		}
		d, err := ParseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			return def
		}
		return d
	}
	c := Config{
		FrameworkID:            required(EnvFrameworkID),
		ExecutorID:             required(EnvExecutorID),
		Directory:              required(EnvDirectory),
		Sandbox:                getenv(EnvSandbox),
		ShutdownGracePeriod:    duration(EnvShutdownGracePeriod, DefaultShutdownGracePeriod),
		SubscriptionBackoffMax: duration(EnvSubscriptionBackoffMax, DefaultSubscriptionBackoffMax),
		RecoveryTimeout:        duration(EnvRecoveryTimeout, DefaultRecoveryTimeout),
		AuthToken:              getenv(EnvAuthenticationToken),
	}
	if c.Sandbox == "" {
		c.Sandbox = c.Directory
	}
	// The agent's TLS reaches its executors as LIBPROCESS_SSL_*, as
	// Mesos's executor library reads it: https, and the CA to verify with.
	tc, _, err := tlsconf.FromGetenv(getenv)
	if err != nil {
		errs = append(errs, err)
	} else if tc.On() {
		rt, err := tc.Transport(&http.Transport{})
		if err != nil {
			errs = append(errs, err)
		} else {
			c.Client = &http.Client{Transport: rt}
		}
	}
	if ep := required(EnvAgentEndpoint); ep != "" {
		if tc.On() && !strings.Contains(ep, "://") {
			ep = "https://" + ep
		}
		u, err := agentURL(ep)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", EnvAgentEndpoint, err))
		}
		c.AgentURL = u
	}
	if v := getenv(EnvCheckpoint); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: invalid boolean %q", EnvCheckpoint, v))
		}
		c.Checkpoint = b
	}
	if c.SubscriptionBackoffMax <= 0 && getenv(EnvSubscriptionBackoffMax) != "" {
		errs = append(errs, fmt.Errorf("%s: must be positive", EnvSubscriptionBackoffMax))
	}
	return c, errors.Join(errs...)
}

// agentURL turns MESOS_AGENT_ENDPOINT (host:port, or a URL) into the URL
// of the executor API.
func agentURL(ep string) (string, error) {
	if strings.Contains(ep, "://") {
		u, err := url.Parse(ep)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", fmt.Errorf("invalid endpoint %q: want host:port or an http(s) URL", ep)
		}
		ep = strings.TrimSuffix(ep, "/")
		if u.Path == "" || u.Path == "/" { // scheme://host:port, no path
			ep += "/api/v1/executor"
		}
		return ep, nil
	}
	host, port, err := net.SplitHostPort(ep)
	if n, perr := strconv.ParseUint(port, 10, 16); err != nil || perr != nil || n == 0 || host == "" || strings.ContainsAny(ep, "/ ") {
		return "", fmt.Errorf("invalid endpoint %q: want host:port", ep)
	}
	out := "http://" + ep + "/api/v1/executor"
	if u, err := url.Parse(out); err != nil || u.Host != ep {
		return "", fmt.Errorf("invalid endpoint %q: want host:port", ep)
	}
	return out, nil
}

func (c *Config) withDefaults() {
	if c.Codec == nil {
		c.Codec = codec.Protobuf
	}
	if c.ShutdownGracePeriod <= 0 {
		c.ShutdownGracePeriod = DefaultShutdownGracePeriod
	}
	if c.SubscriptionBackoffMax <= 0 {
		c.SubscriptionBackoffMax = DefaultSubscriptionBackoffMax
	}
	if c.RecoveryTimeout <= 0 {
		c.RecoveryTimeout = DefaultRecoveryTimeout
	}
	if c.RegistrationTimeout <= 0 {
		c.RegistrationTimeout = DefaultRegistrationTimeout
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}
