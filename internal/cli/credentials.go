package cli

import (
	"flag"
	"fmt"
	"github.com/agora-dev/agora/internal/auth"
	"os"
	"strings"
)

// credentials are the principal and secret the CLI authenticates with
// (HTTP Basic) when the master has authentication on: --principal and
// --secret_file, else $AGORA_PRINCIPAL and $AGORA_SECRET.
type credentials struct {
	principal  string
	secretFile string
}

const credentialsHelp = `  --principal=NAME    authenticate as NAME (HTTP Basic); default $AGORA_PRINCIPAL
  --secret_file=PATH  file holding the principal's secret (a trailing newline
                      is dropped); default: the secret in $AGORA_SECRET
`

func (c *credentials) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.principal, "principal", os.Getenv("AGORA_PRINCIPAL"), "")
	fs.StringVar(&c.secretFile, "secret_file", "", "")
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
