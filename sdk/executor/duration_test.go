package executor

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"5secs", 5 * time.Second},
		{"15mins", 15 * time.Minute},
		{"1.5secs", 1500 * time.Millisecond},
		{"2secs", 2 * time.Second},
		{"250ms", 250 * time.Millisecond},
		{"10us", 10 * time.Microsecond},
		{"7ns", 7},
		{"3hrs", 3 * time.Hour},
		{"2days", 48 * time.Hour},
		{"1weeks", 7 * 24 * time.Hour},
		{"0ns", 0},
		{" 5secs ", 5 * time.Second},
	} {
		got, err := ParseDuration(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseDurationErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"5s", "unknown duration unit"},
		{"5", "missing unit"},
		{"secs", "missing number"},
		{"", "missing number"},
		{"1.2.3secs", "bad number"},
		{"-5secs", "missing number"},
		{"99999999weeks", "out of range"},
	} {
		_, err := ParseDuration(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseDuration(%q) error = %v; want %q", tc.in, err, tc.want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{0, "0ns"},
		{7, "7ns"},
		{1500, "1500ns"},
		{10 * time.Microsecond, "10us"},
		{250 * time.Millisecond, "250ms"},
		{1500 * time.Microsecond, "1500us"},
		{5 * time.Second, "5secs"},
		{1500 * time.Millisecond, "1500ms"},
		{1234567891 * time.Nanosecond, "1.234567891secs"},
		{15 * time.Minute, "15mins"},
		{90 * time.Second, "90secs"},
		{2 * time.Hour, "2hrs"},
		{36 * time.Hour, "36hrs"},
		{3 * 24 * time.Hour, "3days"},
		{14 * 24 * time.Hour, "2weeks"},
		{10 * 24 * time.Hour, "10days"},
		{-5 * time.Second, "-5secs"},
	} {
		if got := FormatDuration(tc.in); got != tc.want {
			t.Errorf("FormatDuration(%v) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

func TestFormatParseRoundTrip(t *testing.T) {
	for _, d := range []time.Duration{0, 1, 999, time.Microsecond, 1500 * time.Millisecond,
		5 * time.Second, 15 * time.Minute, 2 * time.Second, 123456789 * time.Microsecond, 3 * 7 * 24 * time.Hour} {
		got, err := ParseDuration(FormatDuration(d))
		if err != nil || got != d {
			t.Errorf("ParseDuration(FormatDuration(%v) = %q) = %v, %v", d, FormatDuration(d), got, err)
		}
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{
		"MESOS_FRAMEWORK_ID":                   "fw",
		"MESOS_EXECUTOR_ID":                    "ex",
		"MESOS_AGENT_ENDPOINT":                 "127.0.0.1:5051",
		"MESOS_DIRECTORY":                      "/dir",
		"MESOS_CHECKPOINT":                     "1",
		"MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD": "3secs",
		"MESOS_SUBSCRIPTION_BACKOFF_MAX":       "500ms",
		"MESOS_RECOVERY_TIMEOUT":               "1mins",
	}
	c, err := ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.FrameworkID != "fw" || c.ExecutorID != "ex" || c.AgentURL != "http://127.0.0.1:5051/api/v1/executor" ||
		c.Directory != "/dir" || c.Sandbox != "/dir" || !c.Checkpoint || c.ShutdownGracePeriod != 3*time.Second ||
		c.SubscriptionBackoffMax != 500*time.Millisecond || c.RecoveryTimeout != time.Minute {
		t.Errorf("config = %+v", c)
	}

	_, err = ConfigFromEnv(func(k string) string {
		if k == "MESOS_EXECUTOR_ID" || k == "MESOS_AGENT_ENDPOINT" {
			return ""
		}
		if k == "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD" {
			return "5s"
		}
		return env[k]
	})
	for _, want := range []string{"MESOS_EXECUTOR_ID", "MESOS_AGENT_ENDPOINT", "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "MESOS_FRAMEWORK_ID") {
		t.Errorf("error %v names a variable that is set", err)
	}
}

func TestAgentURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"10.0.0.1:5051", "http://10.0.0.1:5051/api/v1/executor"},
		{"http://h:1", "http://h:1/api/v1/executor"},
		{"https://h:1/x/api/v1/executor", "https://h:1/x/api/v1/executor"},
	} {
		if got, err := agentURL(tc.in); err != nil || got != tc.want {
			t.Errorf("agentURL(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := agentURL("nohost"); err == nil {
		t.Error("agentURL(nohost) succeeded")
	}
}
