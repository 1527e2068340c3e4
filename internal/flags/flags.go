// Package flags holds the flag types Agora's commands share, with Mesos's
// spellings: durations as Go writes them ("1m30s") or as Mesos does
// ("15secs", "10mins", "2weeks"), percentages ("100%"), and lists of
// host:port that may also be read from a file:// URL.
package flags

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/agora-dev/agora/sdk/executor"
)

// ParseDuration reads Go's syntax or Mesos's.
func ParseDuration(s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	d, err := executor.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: expecting e.g. 500ms, 15secs, 10mins, 2hrs, 1weeks or 1m30s", s)
	}
	return d, nil
}

type duration struct{ p *time.Duration }

func (d duration) String() string {
	if d.p == nil {
		return ""
	}
	return d.p.String()
}

func (d duration) Set(s string) error {
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d.p = v
	return nil
}

// DurationVar is flag.DurationVar with Mesos's syntax too.
func DurationVar(fs *flag.FlagSet, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	fs.Var(duration{p}, name, usage)
}

type percent struct{ p *float64 }

func (v percent) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.FormatFloat(*v.p*100, 'f', -1, 64) + "%"
}

func (v percent) Set(s string) error {
	n, ok := strings.CutSuffix(strings.TrimSpace(s), "%")
	f, err := strconv.ParseFloat(n, 64)
	if !ok || err != nil || f < 0 || f > 100 {
		return fmt.Errorf("invalid percentage %q: expecting a value in [0%%, 100%%], e.g. 50%%", s)
	}
	*v.p = f / 100
	return nil
}

// PercentVar reads "N%" into a fraction (0–1).
func PercentVar(fs *flag.FlagSet, p *float64, name string, value float64, usage string) {
	*p = value
	fs.Var(percent{p}, name, usage)
}

// Addresses parses a comma-separated list of host:port, or file:///path
// holding such a list (commas or new lines), as Mesos's --master takes.
// An http:// prefix on an entry is dropped.
func Addresses(s string) ([]string, error) {
	if path, ok := strings.CutPrefix(s, "file://"); ok {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read the address list: %w", err)
		}
		s = strings.NewReplacer("\n", ",", "\r", ",", " ", ",", "\t", ",").Replace(string(b))
	}
	var out []string
	for _, a := range strings.Split(s, ",") {
		a = strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(a), "http://"), "https://")
		a = strings.TrimSuffix(a, "/")
		if a == "" {
			continue
		}
		host, port, err := splitHostPort(a)
		if err != nil || host == "" || port == "" {
			return nil, fmt.Errorf("invalid address %q in %q: expecting host:port", a, s)
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no address in %q", s)
	}
	return out, nil
}

func splitHostPort(a string) (string, string, error) {
	i := strings.LastIndexByte(a, ':')
	if i < 0 {
		return "", "", fmt.Errorf("missing port")
	}
	host, port := strings.Trim(a[:i], "[]"), a[i+1:]
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", "", err
	}
	return host, port, nil
}
