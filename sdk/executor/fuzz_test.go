package executor

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzConfigFromEnv: ConfigFromEnv, the parser of the MESOS_* environment
// every executor (the command executor included) starts from, never panics
// on any environment; what it accepts has every required value, an agent URL
// that parses as http(s) with a host, and durations that are not negative (the backoff positive).
//
// The input is an environment, one NAME=value per line.
func FuzzConfigFromEnv(f *testing.F) {
	full := strings.Join([]string{
		EnvFrameworkID + "=fw-1", EnvExecutorID + "=ex-1", EnvAgentEndpoint + "=127.0.0.1:5051",
		EnvDirectory + "=/tmp/agora/agent/slaves/S0/frameworks/fw-1/executors/ex-1/runs/c1",
		EnvCheckpoint + "=true", EnvShutdownGracePeriod + "=5secs", EnvSubscriptionBackoffMax + "=2secs",
		EnvRecoveryTimeout + "=15mins", EnvAuthenticationToken + "=tok",
	}, "\n")
	f.Add(full)
	f.Add(strings.ReplaceAll(full, "127.0.0.1:5051", "https://agent.example:5051/"))
	f.Add(strings.ReplaceAll(full, "127.0.0.1:5051", "http://[::1]:5051/custom/path"))
	f.Add(strings.ReplaceAll(full, "5secs", "0ns"))
	f.Add(strings.ReplaceAll(full, "5secs", "1.5weeks"))
	f.Add(strings.ReplaceAll(full, "2secs", "0secs"))
	f.Add(strings.ReplaceAll(full, "15mins", "99999999999999weeks"))
	f.Add(strings.ReplaceAll(full, "true", "yes"))
	f.Add(EnvAgentEndpoint + "=://")
	f.Add(EnvAgentEndpoint + "=host")
	f.Add("")

	f.Fuzz(func(t *testing.T, env string) {
		vars := map[string]string{}
		for _, line := range strings.Split(env, "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				vars[k] = v
			}
		}
		c, err := ConfigFromEnv(func(k string) string { return vars[k] })
		if err != nil {
			return
		}
		if c.FrameworkID == "" || c.ExecutorID == "" || c.Directory == "" || c.Sandbox == "" {
			t.Fatalf("accepted %q without a required value: %+v", env, c)
		}
		u, err := url.Parse(c.AgentURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			t.Fatalf("accepted %q with agent URL %q (%v)", env, c.AgentURL, err)
		}
		// A grace period of 0 is Mesos's "kill at once"; the driver applies its default.
		if c.ShutdownGracePeriod < 0 || c.SubscriptionBackoffMax <= 0 || c.RecoveryTimeout < 0 {
			t.Fatalf("accepted %q with durations grace %v backoff %v recovery %v", env,
				c.ShutdownGracePeriod, c.SubscriptionBackoffMax, c.RecoveryTimeout)
		}
	})
}
