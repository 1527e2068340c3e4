package master

import (
	"crypto/rand"
	"fmt"
	"strings"
)

// newUUID returns a random RFC 4122 version 4 UUID as 16 bytes.
func newUUID() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return b
}

// uuidString formats 16 bytes in the canonical 8-4-4-4-12 form.
func uuidString(b []byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// validateID applies Mesos's rules for framework, task, executor and agent
// IDs: non-empty, at most 255 bytes, not "." or "..", no control
// characters, no slash or backslash.
func validateID(kind, id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%s must not be empty", kind)
	case len(id) > 255:
		return fmt.Errorf("%s %q is longer than 255 characters", kind, id[:32]+"...")
	case id == "." || id == "..":
		return fmt.Errorf("%s %q is disallowed", kind, id)
	case strings.ContainsAny(id, `/\`):
		return fmt.Errorf("%s %q contains a slash or backslash", kind, id)
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%s %q contains control characters", kind, id)
		}
	}
	return nil
}

// wireError is an error whose text is a message Mesos sends on the wire
// (capitalised as Mesos writes it), answered to clients verbatim.
type wireError struct{ msg string }

func (e *wireError) Error() string { return e.msg }

func wireErrorf(format string, args ...any) error {
	return &wireError{fmt.Sprintf(format, args...)}
}
