// Package testutil is what tests across the repository share.
package testutil

import (
	"os"
	"testing"
)

// RequireEnv names the variable under which a missing test prerequisite
// (writable cgroups, Chromium, xz, bzip2) fails the test instead of
// skipping it. .ci/run installs the prerequisites and sets it, so that CI
// never passes by testing less than it claims.
const RequireEnv = "AGORA_REQUIRE_PREREQS"

// Required reports whether missing prerequisites are failures.
func Required() bool {
	v := os.Getenv(RequireEnv)
	return v != "" && v != "0"
}

// Require ends the test when the prerequisite what is missing (ok false):
// t.Skip with reason on a developer's machine, t.Fatal under
// AGORA_REQUIRE_PREREQS. It returns when ok.
func Require(t testing.TB, what string, ok bool, reason string) {
	t.Helper()
	if ok {
		return
	}
	if Required() {
		t.Fatalf("missing test prerequisite %s: %s (%s is set: prerequisites are required)", what, reason, RequireEnv)
		return
	}
	t.Skipf("missing test prerequisite %s: %s (set %s=1 to make this a failure)", what, reason, RequireEnv)
}
