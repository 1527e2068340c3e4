package agent

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// fileScheme marks a --master value naming a file that holds the list.
const fileScheme = "file://"

// ParseMasters reads a --master value: a comma-separated list of
// host:port addresses ("A,B,C"), or file:///path naming a file whose
// content is such a list (commas or white space between the entries), as
// Mesos allows. An entry may carry an http:// (or https://) prefix, which is
// dropped: the agent speaks plain HTTP to its masters. It
// names the first bad entry in its error.
func ParseMasters(value string) ([]string, error) {
	value = strings.TrimSpace(value)
	if path, ok := strings.CutPrefix(value, fileScheme); ok {
		if path == "" {
			return nil, fmt.Errorf("master %q: no file path after file://", value)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("master list %s: %w", value, err)
		}
		list, err := parseMasterList(string(b))
		if err != nil {
			return nil, fmt.Errorf("master list %s: %w", value, err)
		}
		return list, nil
	}
	return parseMasterList(value)
}

func parseMasterList(s string) ([]string, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
	})
	if len(fields) == 0 {
		return nil, fmt.Errorf("no master address in %q", s)
	}
	var out []string
	seen := make(map[string]bool)
	for _, f := range fields {
		addr := strings.TrimPrefix(strings.TrimPrefix(f, "http://"), "https://")
		if err := checkMasterAddr(addr); err != nil {
			return nil, fmt.Errorf("master %q: %w", f, err)
		}
		if !seen[addr] {
			seen[addr] = true
			out = append(out, addr)
		}
	}
	return out, nil
}

// checkMasterAddr accepts host:port with a non-empty host and a port in
// 1..65535.
func checkMasterAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("not host:port: %w", err)
	}
	if host == "" {
		return fmt.Errorf("no host")
	}
	if strings.ContainsAny(host, "/?#@") {
		return fmt.Errorf("host %q is not a host name or IP address", host)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q is not a number in 1..65535", port)
	}
	return nil
}

// RedirectHost is the master a 307's Location names ("//host:port/path",
// as Mesos sends it, or an absolute URL), checked like a --master entry.
func RedirectHost(location string) (string, error) { return redirectHost(location) }
