package auth

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// Credential is one principal and its secret, as in Mesos's Credential.
type Credential struct {
	Principal string `json:"principal"`
	Secret    string `json:"secret,omitempty"`
}

// Credentials are the principals a Basic authenticator accepts. Secrets
// are kept as SHA-256 digests and compared in constant time.
type Credentials struct {
	secrets map[string][32]byte
}

// NewCredentials builds a set from a list (a repeated principal keeps its
// last secret, as Mesos's map does).
func NewCredentials(list []Credential) *Credentials {
	c := &Credentials{secrets: make(map[string][32]byte, len(list))}
	for _, cr := range list {
		c.secrets[cr.Principal] = sha256.Sum256([]byte(cr.Secret))
	}
	return c
}

// Len is the number of principals.
func (c *Credentials) Len() int { return len(c.secrets) }

// Check reports whether principal exists and secret is its. The time it
// takes does not depend on how much of the secret matched.
func (c *Credentials) Check(principal, secret string) bool {
	if c == nil {
		return false
	}
	want, ok := c.secrets[principal]
	got := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(want[:], got[:]) == 1 && ok
}

// readFile reads a credentials path ("/path" or "file:///path"), warning
// when others may read it.
func readFile(value, flag string, log *slog.Logger) ([]byte, string, error) {
	path := strings.TrimPrefix(value, "file://")
	f, err := os.Open(path)
	if err != nil {
		return nil, path, fmt.Errorf("Failed to read credentials file '%s': %v (see --%s flag)", path, err, flag)
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, path, fmt.Errorf("Failed to read credentials file '%s': %v (see --%s flag)", path, err, flag)
	}
	if fi, err := f.Stat(); err == nil && fi.Mode().Perm()&0o007 != 0 && log != nil {
		log.Warn(fmt.Sprintf("Permissions on credentials file '%s' are too open; it is recommended that your credentials file is NOT accessible by others", path))
	}
	return data, path, nil
}

// LoadCredentials reads Mesos's credentials file (--credentials on the
// master, --http_credentials on the agent):
//
//	{"credentials": [{"principal": "ops", "secret": "change-me"}]}
//
// An empty file is an error; an empty list is accepted (then nobody can
// authenticate). Unknown keys are ignored, as in Mesos.
func LoadCredentials(value, flag string, log *slog.Logger) (*Credentials, error) {
	data, _, err := readFile(value, flag, log)
	if err != nil {
		return nil, err
	}
	return ParseCredentials(data, flag)
}

// ParseCredentials parses the contents of a credentials file; flag names
// the flag it came from, for the messages.
func ParseCredentials(data []byte, flag string) (*Credentials, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("Credentials file must contain at least one credential (see --%s flag)", flag)
	}
	var raw any
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("Invalid json format: %v (see --%s flag)", err, flag)
	}
	var file struct {
		Credentials []Credential `json:"credentials"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		return nil, fmt.Errorf("Failed to parse credentials: %v (see --%s flag)", err, flag)
	}
	for i, c := range file.Credentials {
		if c.Principal == "" {
			return nil, fmt.Errorf("Failed to parse credentials: credential %d has no 'principal' (see --%s flag)", i, flag)
		}
	}
	return NewCredentials(file.Credentials), nil
}

// LoadCredential reads the agent's --credential file: one
// {"principal": "...", "secret": "..."} object.
func LoadCredential(value string, log *slog.Logger) (Credential, error) {
	data, path, err := readFile(value, "credential", log)
	if err != nil {
		return Credential{}, err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return Credential{}, fmt.Errorf("Empty credential file '%s' (see --credential flag)", path)
	}
	var c Credential
	if err := json.Unmarshal(data, &c); err != nil {
		return Credential{}, fmt.Errorf("Invalid json format: %v (see --credential flag)", err)
	}
	if c.Principal == "" {
		return Credential{}, errors.New("Failed to parse credential: no 'principal' (see --credential flag)")
	}
	return c, nil
}

// LoadKey reads the agent's --jwt_secret_key file: the key is the file's
// bytes, a trailing newline included, as in Mesos. An empty key is an
// error (every token would be forgeable).
func LoadKey(value, flag string, log *slog.Logger) ([]byte, error) {
	data, path, err := readFile(value, flag, log)
	if err != nil {
		return nil, err
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("Empty secret key file '%s' (see --%s flag)", path, flag)
	}
	return data, nil
}
