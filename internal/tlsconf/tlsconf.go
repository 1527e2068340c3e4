// Package tlsconf is Agora's TLS: Mesos's LIBPROCESS_SSL_* variables (and
// the equivalent --tls_* flags) turned into the server and client
// settings of every listener and client of master, agent, executors, CLI
// and SDK (docs/mesos-security.md §11, docs/security.md).
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Config is one process's TLS settings. The zero Config is plaintext.
type Config struct {
	Enabled           bool
	CertFile, KeyFile string
	CAFile, CADir     string
	// VerifyServerCert makes clients verify the server's chain and name
	// (Mesos's default is false: encrypted, not authenticated).
	VerifyServerCert bool
	// RequireClientCert makes servers demand and verify a client
	// certificate; it implies VerifyServerCert, as in Mesos.
	RequireClientCert bool
	// SupportDowngrade lets servers take plaintext on the same port and
	// clients retry in plaintext after a failed handshake.
	SupportDowngrade bool
	// Ciphers is LIBPROCESS_SSL_CIPHERS (OpenSSL names); "" keeps Go's
	// modern defaults.
	Ciphers string
	// MinVersion and MaxVersion bound the protocol; zero: TLS 1.2 and 1.3.
	MinVersion, MaxVersion uint16
}

// Scheme is "https" with TLS on, else "http".
func (c *Config) Scheme() string {
	if c != nil && c.Enabled {
		return "https"
	}
	return "http"
}

// On reports whether TLS is on.
func (c *Config) On() bool { return c != nil && c.Enabled }

// The variables, by their suffix after LIBPROCESS_SSL_ (or the legacy
// SSL_), lower case; aliases name the legacy spellings.
var known = map[string]string{
	"enabled": "enabled", "cert_file": "cert_file", "key_file": "key_file",
	"ca_file": "ca_file", "ca_dir": "ca_dir",
	"verify_server_cert": "verify_server_cert", "verify_cert": "verify_server_cert",
	"require_client_cert": "require_client_cert", "require_cert": "require_client_cert",
	"support_downgrade": "support_downgrade", "verify_ipadd": "verify_ipadd",
	"hostname_validation_scheme": "hostname_validation_scheme", "verification_depth": "verification_depth",
	"ciphers": "ciphers", "ecdh_curves": "ecdh_curves",
	"enable_ssl_v3": "enable_ssl_v3", "enable_tls_v1_0": "enable_tls_v1_0", "enable_tls_v1_1": "enable_tls_v1_1",
	"enable_tls_v1_2": "enable_tls_v1_2", "enable_tls_v1_3": "enable_tls_v1_3",
}

// FromEnv reads LIBPROCESS_SSL_* (and the legacy SSL_*) from environ
// ("NAME=value" entries). Unlike Mesos, an unknown LIBPROCESS_SSL_ name
// is not ignored in silence: it is returned among the warnings.
func FromEnv(environ []string) (Config, []string, error) {
	vals := map[string]string{}
	var warnings []string
	// Legacy SSL_ first, so that LIBPROCESS_SSL_ wins.
	for _, pass := range []string{"SSL_", "LIBPROCESS_SSL_"} {
		for _, kv := range environ {
			name, value, ok := strings.Cut(kv, "=")
			if !ok || !strings.HasPrefix(strings.ToUpper(name), pass) || (pass == "SSL_" && strings.HasPrefix(strings.ToUpper(name), "SSL_CERT_")) {
				continue
			}
			suffix := strings.ToLower(name[len(pass):])
			key, ok := known[suffix]
			if !ok {
				if pass == "LIBPROCESS_SSL_" {
					warnings = append(warnings, fmt.Sprintf("unknown TLS variable %s ignored (known: %s)", name, knownNames()))
				}
				continue
			}
			if old, dup := vals[key]; dup && old != value {
				warnings = append(warnings, fmt.Sprintf("%s=%q overrides an earlier value %q", name, value, old))
			}
			vals[key] = value
		}
	}
	var c Config
	boolean := func(key string, dst *bool) error {
		v, ok := vals[key]
		if !ok {
			return nil
		}
		switch strings.ToLower(v) {
		case "true", "1":
			*dst = true
		case "false", "0":
			*dst = false
		default:
			return fmt.Errorf("LIBPROCESS_SSL_%s=%q: expected true, false, 1 or 0", strings.ToUpper(key), v)
		}
		return nil
	}
	for key, dst := range map[string]*bool{"enabled": &c.Enabled, "verify_server_cert": &c.VerifyServerCert,
		"require_client_cert": &c.RequireClientCert, "support_downgrade": &c.SupportDowngrade} {
		if err := boolean(key, dst); err != nil {
			return Config{}, warnings, err
		}
	}
	c.CertFile, c.KeyFile, c.CAFile, c.CADir, c.Ciphers = vals["cert_file"], vals["key_file"], vals["ca_file"], vals["ca_dir"], vals["ciphers"]
	for _, k := range []string{"ecdh_curves", "verification_depth", "verify_ipadd"} {
		if _, ok := vals[k]; ok {
			warnings = append(warnings, fmt.Sprintf("LIBPROCESS_SSL_%s is accepted but has no effect: Agora uses Go's curves, chain depth and IP SAN checks", strings.ToUpper(k)))
		}
	}
	if s, ok := vals["hostname_validation_scheme"]; ok && s != "legacy" && s != "openssl" {
		return Config{}, warnings, fmt.Errorf("LIBPROCESS_SSL_HOSTNAME_VALIDATION_SCHEME=%q: expected legacy or openssl", s)
	}
	versions := map[string]bool{"enable_tls_v1_2": true, "enable_tls_v1_3": true}
	for _, k := range []string{"enable_ssl_v3", "enable_tls_v1_0", "enable_tls_v1_1", "enable_tls_v1_2", "enable_tls_v1_3"} {
		on := versions[k]
		if err := boolean(k, &on); err != nil {
			return Config{}, warnings, err
		}
		versions[k] = on
	}
	if versions["enable_ssl_v3"] {
		warnings = append(warnings, "LIBPROCESS_SSL_ENABLE_SSL_V3 ignored: SSLv3 is never offered")
	}
	order := []struct {
		key string
		v   uint16
	}{{"enable_tls_v1_0", tls.VersionTLS10}, {"enable_tls_v1_1", tls.VersionTLS11}, {"enable_tls_v1_2", tls.VersionTLS12}, {"enable_tls_v1_3", tls.VersionTLS13}}
	for _, o := range order {
		if versions[o.key] {
			if c.MinVersion == 0 {
				c.MinVersion = o.v
			}
			c.MaxVersion = o.v
		}
	}
	if c.MinVersion == 0 {
		return Config{}, warnings, errors.New("every TLS version is disabled (LIBPROCESS_SSL_ENABLE_TLS_V1_*)")
	}
	if c.MinVersion < tls.VersionTLS12 {
		warnings = append(warnings, "TLS versions before 1.2 are enabled (LIBPROCESS_SSL_ENABLE_TLS_V1_0/1_1): they are weak")
	}
	return c, warnings, nil
}

// FromGetenv is FromEnv for a process that reads its environment through
// getenv (executors): it looks up each known name under both prefixes.
func FromGetenv(getenv func(string) string) (Config, []string, error) {
	var environ []string
	for suffix := range known {
		for _, prefix := range []string{"SSL_", "LIBPROCESS_SSL_"} {
			name := prefix + strings.ToUpper(suffix)
			if v := getenv(name); v != "" && name != "SSL_CERT_FILE" {
				environ = append(environ, name+"="+v)
			}
		}
	}
	sort.Strings(environ)
	return FromEnv(environ)
}

func knownNames() string {
	names := make([]string, 0, len(known))
	for k, v := range known {
		if k == v {
			names = append(names, strings.ToUpper(k))
		}
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// Env is the LIBPROCESS_SSL_* environment that gives an executor this
// configuration (so that it reaches its agent over TLS).
func (c *Config) Env() []string {
	if !c.On() {
		return nil
	}
	b := func(v bool) string {
		if v {
			return "true"
		}
		return "false"
	}
	env := []string{"LIBPROCESS_SSL_ENABLED=true",
		"LIBPROCESS_SSL_VERIFY_SERVER_CERT=" + b(c.VerifyServerCert || c.RequireClientCert),
		"LIBPROCESS_SSL_SUPPORT_DOWNGRADE=" + b(c.SupportDowngrade)}
	for k, v := range map[string]string{"CERT_FILE": c.CertFile, "KEY_FILE": c.KeyFile, "CA_FILE": c.CAFile, "CA_DIR": c.CADir, "CIPHERS": c.Ciphers} {
		if v != "" {
			env = append(env, "LIBPROCESS_SSL_"+k+"="+v)
		}
	}
	sort.Strings(env)
	return env
}

// Validate checks what a server needs: a certificate and its key.
func (c *Config) Validate() error {
	if !c.On() {
		return nil
	}
	if c.KeyFile == "" {
		return errors.New("SSL requires key! NOTE: Set path with LIBPROCESS_SSL_KEY_FILE (or --tls_key_file)")
	}
	if c.CertFile == "" {
		return errors.New("SSL requires certificate! NOTE: Set path with LIBPROCESS_SSL_CERT_FILE (or --tls_cert_file)")
	}
	return nil
}

func (c *Config) base() (*tls.Config, error) {
	t := &tls.Config{MinVersion: c.MinVersion, MaxVersion: c.MaxVersion}
	if t.MinVersion == 0 {
		t.MinVersion = tls.VersionTLS12
	}
	if c.Ciphers != "" {
		suites, unknown := cipherSuites(c.Ciphers)
		if len(suites) == 0 {
			return nil, fmt.Errorf("LIBPROCESS_SSL_CIPHERS=%q names no cipher suite Agora supports (%s); use ECDHE suites such as ECDHE-RSA-AES128-GCM-SHA256", c.Ciphers, strings.Join(unknown, ", "))
		}
		t.CipherSuites = suites
	}
	if c.CertFile != "" && c.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("TLS: load certificate %s and key %s: %w", c.CertFile, c.KeyFile, err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	if c.CAFile != "" || c.CADir != "" {
		pool, err := c.caPool()
		if err != nil {
			return nil, err
		}
		t.RootCAs, t.ClientCAs = pool, pool
	}
	return t, nil
}

func (c *Config) caPool() (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	add := func(path string) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("TLS: read CA %s: %w", path, err)
		}
		if !pool.AppendCertsFromPEM(b) {
			return fmt.Errorf("TLS: CA %s holds no PEM certificate", path)
		}
		return nil
	}
	if c.CAFile != "" {
		if err := add(c.CAFile); err != nil {
			return nil, err
		}
	}
	if c.CADir != "" {
		entries, err := os.ReadDir(c.CADir)
		if err != nil {
			return nil, fmt.Errorf("TLS: read CA directory %s: %w", c.CADir, err)
		}
		for _, e := range entries {
			if !e.IsDir() && (strings.HasSuffix(e.Name(), ".pem") || strings.HasSuffix(e.Name(), ".crt") || strings.HasSuffix(e.Name(), ".0")) {
				_ = add(filepath.Join(c.CADir, e.Name()))
			}
		}
	}
	return pool, nil
}

// Server is the tls.Config of a listener.
func (c *Config) Server() (*tls.Config, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	t, err := c.base()
	if err != nil {
		return nil, err
	}
	if c.RequireClientCert {
		if t.ClientCAs == nil {
			return nil, errors.New("LIBPROCESS_SSL_REQUIRE_CLIENT_CERT needs LIBPROCESS_SSL_CA_FILE or _CA_DIR to verify client certificates")
		}
		t.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return t, nil
}

// Client is the tls.Config of a client. It presents the certificate when
// there is one (servers requiring client certificates need it).
func (c *Config) Client() (*tls.Config, error) {
	t, err := c.base()
	if err != nil {
		return nil, err
	}
	t.ClientCAs = nil
	if !(c.VerifyServerCert || c.RequireClientCert) {
		// Mesos's default: encrypted but not authenticated. The daemons
		// warn about it at start-up (Warnings).
		t.InsecureSkipVerify = true
	}
	return t, nil
}

// Warnings are the start-up warnings of a configuration that is on but
// weak.
func (c *Config) Warnings() []string {
	if !c.On() {
		return nil
	}
	var w []string
	if !c.VerifyServerCert && !c.RequireClientCert {
		w = append(w, "TLS is on without certificate verification: clients do not check whom they talk to (set LIBPROCESS_SSL_VERIFY_SERVER_CERT=true with LIBPROCESS_SSL_CA_FILE)")
	}
	if c.SupportDowngrade {
		w = append(w, "LIBPROCESS_SSL_SUPPORT_DOWNGRADE is on: plaintext connections are accepted and verification can be bypassed")
	}
	return w
}

// cipherSuites maps OpenSSL cipher names to Go's suites; names Go does
// not implement (DHE, RC4, ...) are returned as unknown.
func cipherSuites(list string) ([]uint16, []string) {
	byName := map[string]uint16{
		"ECDHE-RSA-AES128-GCM-SHA256":   tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		"ECDHE-RSA-AES256-GCM-SHA384":   tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		"ECDHE-ECDSA-AES128-GCM-SHA256": tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		"ECDHE-ECDSA-AES256-GCM-SHA384": tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		"ECDHE-RSA-CHACHA20-POLY1305":   tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		"ECDHE-ECDSA-CHACHA20-POLY1305": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		"ECDHE-RSA-AES128-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
		"ECDHE-RSA-AES256-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
		"ECDHE-ECDSA-AES128-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
		"ECDHE-ECDSA-AES256-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		"AES128-SHA":                    tls.TLS_RSA_WITH_AES_128_CBC_SHA,
		"AES256-SHA":                    tls.TLS_RSA_WITH_AES_256_CBC_SHA,
		"AES128-GCM-SHA256":             tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
		"AES256-GCM-SHA384":             tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	}
	var out []uint16
	var unknown []string
	for _, n := range strings.FieldsFunc(list, func(r rune) bool { return r == ':' || r == ',' || r == ' ' }) {
		if id, ok := byName[n]; ok {
			if !slices.Contains(out, id) {
				out = append(out, id)
			}
		} else {
			unknown = append(unknown, n)
		}
	}
	return out, unknown
}
