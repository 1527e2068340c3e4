package cli

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/agora-dev/agora/internal/auth"
	"github.com/agora-dev/agora/internal/tlsconf"
)

// credentials are the principal and secret the CLI authenticates with
// (HTTP Basic) when the master has authentication on: --principal and
// --secret_file, else $AGORA_PRINCIPAL and $AGORA_SECRET.
type credentials struct {
	principal  string
	secretFile string
	// tls is the CLI's TLS: LIBPROCESS_SSL_* and the --tls_* flags.
	tls *tlsconf.Flags
}

const credentialsHelp = `  --principal=NAME    authenticate as NAME (HTTP Basic); default $AGORA_PRINCIPAL
  --secret_file=PATH  file holding the principal's secret (a trailing newline
                      is dropped); default: the secret in $AGORA_SECRET
  --tls_enabled       talk TLS to masters and agents (or LIBPROCESS_SSL_ENABLED)
  --tls_ca_file=PATH  CA to verify them with, with --tls_verify_server_cert
                      (or LIBPROCESS_SSL_CA_FILE, _VERIFY_SERVER_CERT); also
                      --tls_cert_file/--tls_key_file for client certificates
`

func (c *credentials) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.principal, "principal", os.Getenv("AGORA_PRINCIPAL"), "")
	fs.StringVar(&c.secretFile, "secret_file", "", "")
	c.tls = tlsconf.RegisterFlags(fs)
}

// tlsConfig is the CLI's TLS, checked.
func (c *credentials) tlsConfig() (tlsconf.Config, error) {
	if c.tls == nil {
		return tlsconf.Config{}, nil
	}
	tc, _, err := c.tls.Config(os.Environ())
	return tc, err
}

// transport is an HTTP transport with the CLI's TLS and credentials.
func (c *credentials) transport(base *http.Transport) (http.RoundTripper, error) {
	tc, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	rt, err := tc.Transport(base)
	if err != nil {
		return nil, err
	}
	header, err := c.header()
	if err != nil {
		return nil, err
	}
	return authTransport{header: header, base: rt}, nil
}

// secret reads the secret, "" without a principal.
func (c *credentials) secret() (string, error) {
	if c.principal == "" {
		return "", nil
	}
	if c.secretFile == "" {
		return os.Getenv("AGORA_SECRET"), nil
	}
	b, err := os.ReadFile(c.secretFile)
	if err != nil {
		return "", fmt.Errorf("--secret_file: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// header is the Authorization value, "" without a principal.
func (c *credentials) header() (string, error) {
	s, err := c.secret()
	if err != nil || c.principal == "" {
		return "", err
	}
	return auth.BasicHeader(c.principal, s), nil
}
