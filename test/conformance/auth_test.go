package conformance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExampleSchedulerBasicAuth runs mesos-go's example-scheduler with
// -principal and HTTP Basic credentials (-authmode basic) against a master
// that authenticates frameworks: its mission completes, and the framework
// is registered under its principal. (With a wrong secret mesos-go retries
// its 401 in silence for as long as it runs; the 401 itself is checked in
// internal/master and test/e2e.)
func TestExampleSchedulerBasicAuth(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials.json")
	if err := os.WriteFile(creds, []byte(`{"credentials":[{"principal":"mesos-go","secret":"s3cret"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, "--authenticate_http_frameworks", "--http_framework_authenticators=basic", "--credentials="+creds)
	c.addAgent()
	args := func(passwordFile string) []string {
		return append(schedulerArgs(c, "protobuf", 2), "-principal", "mesos-go", "-authmode", "basic",
			"-credentials.username", "mesos-go", "-credentials.passwordFile", passwordFile)
	}
	code, out := run(t, schedBin, args(good)...)
	if !strings.Contains(out, "mission accomplished") {
		t.Fatalf("example-scheduler with Basic credentials: exit %d without \"mission accomplished\":\n%s", code, out)
	}
	// The framework stays registered (failover_timeout 1000h) under its
	// authenticated principal.
	var st struct {
		Frameworks []struct{ Principal string } `json:"frameworks"`
	}
	if err := getJSON("http://"+c.master+"/master/state", &st); err != nil || len(st.Frameworks) != 1 || st.Frameworks[0].Principal != "mesos-go" {
		t.Errorf("/master/state frameworks %+v (%v), want one of principal mesos-go", st.Frameworks, err)
	}
}
