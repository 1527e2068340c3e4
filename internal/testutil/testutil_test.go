package testutil

import (
	"testing"
)

// fakeT records how Require ended a test.
type fakeT struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Skipf(format string, args ...any) {
	f.skipped = true
	f.msg = format
}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.failed = true
	f.msg = format
}

func TestRequire(t *testing.T) {
	for _, tt := range []struct {
		env                string
		ok                 bool
		wantSkip, wantFail bool
	}{
		{"", true, false, false},
		{"", false, true, false},
		{"0", false, true, false},
		{"1", false, false, true},
		{"1", true, false, false},
	} {
		t.Setenv(RequireEnv, tt.env)
		f := &fakeT{}
		Require(f, "xz", tt.ok, "not installed")
		if f.skipped != tt.wantSkip || f.failed != tt.wantFail {
			t.Errorf("%s=%q ok=%v: skipped %v failed %v, want %v %v", RequireEnv, tt.env, tt.ok, f.skipped, f.failed, tt.wantSkip, tt.wantFail)
		}
	}
}
