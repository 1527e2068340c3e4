package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agora-dev/agora/internal/testutil"
)

// TestSecurityTLS runs a cluster on TLS with client certificates
// required: the master configured by --tls_* flags, the agent by Mesos's
// LIBPROCESS_SSL_* variables. agora run (with the same variables) runs a
// task through it and streams its output from the agent; plaintext and
// certificate-less clients are refused. A master with downgrade on takes
// both plaintext and TLS on one port.
func TestSecurityTLS(t *testing.T) {
	dir := t.TempDir()
	certs := testutil.WriteCerts(t, dir)
	env := []string{"LIBPROCESS_SSL_ENABLED=true", "LIBPROCESS_SSL_CERT_FILE=" + certs.Cert, "LIBPROCESS_SSL_KEY_FILE=" + certs.Key,
		"LIBPROCESS_SSL_CA_FILE=" + certs.CA, "LIBPROCESS_SSL_VERIFY_SERVER_CERT=true", "LIBPROCESS_SSL_REQUIRE_CLIENT_CERT=true"}
	master := start(t, "master", "--port=0", "--ip=127.0.0.1", "--work_dir="+filepath.Join(dir, "master"),
		"--tls_enabled", "--tls_cert_file="+certs.Cert, "--tls_key_file="+certs.Key, "--tls_ca_file="+certs.CA,
		"--tls_verify_server_cert", "--tls_require_client_cert").waitListening(t)
	agent := startEnv(t, env, "agent", "--master="+master, "--port=0", "--ip=127.0.0.1", "--work_dir="+filepath.Join(dir, "agent"),
		"--resources=cpus:2;mem:1024;disk:1024;ports:[31300-31399]")
	agent.waitListening(t)

	pool := x509.NewCertPool()
	ca, _ := os.ReadFile(certs.CA)
	pool.AppendCertsFromPEM(ca)
	pair, err := tls.LoadX509KeyPair(certs.Cert, certs.Key)
	if err != nil {
		t.Fatal(err)
	}
	client := func(certificates ...tls.Certificate) *http.Client {
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certificates}}}
	}
	waitFor(t, 20*time.Second, "the agent to subscribe over TLS", func() bool {
		resp, err := client(pair).Get("https://" + master + "/master/slaves")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var st struct{ Slaves []struct{ Active bool } }
		return json.NewDecoder(resp.Body).Decode(&st) == nil && len(st.Slaves) == 1 && st.Slaves[0].Active
	})
	if resp, err := client().Get("https://" + master + "/health"); err == nil {
		resp.Body.Close()
		t.Error("a client without a certificate was served")
	}
	if resp, err := http.Get("http://" + master + "/health"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plaintext was served with downgrade off")
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, agoraBin, "run", "--master="+master, "--timeout=20s", "--", "echo", "over-tls")
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil || !strings.Contains(out.String(), "over-tls") || !strings.Contains(out.String(), "TASK_FINISHED") {
		t.Errorf("agora run over TLS: %v\n%s", err, out.String())
	}
	cmd = exec.CommandContext(ctx, agoraBin, "agents", "--master="+master)
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(b), "127.0.0.1") {
		t.Errorf("agora agents over TLS: %v\n%s", err, b)
	}
	cmd = exec.CommandContext(ctx, agoraBin, "agents", "--master="+master)
	if b, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("agora agents without TLS succeeded:\n%s", b)
	}

	// Downgrade: one port, both protocols.
	down := start(t, "master", "--port=0", "--ip=127.0.0.1", "--work_dir="+filepath.Join(dir, "down"),
		"--tls_enabled", "--tls_cert_file="+certs.Cert, "--tls_key_file="+certs.Key, "--tls_support_downgrade")
	addr := down.waitListening(t)
	for _, url := range []string{"http://" + addr + "/health", "https://" + addr + "/health"} {
		resp, err := client().Get(url)
		if err != nil {
			t.Errorf("GET %s with downgrade on: %v", url, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s with downgrade on: %s", url, resp.Status)
		}
	}
	if !strings.Contains(down.output(), "verification can be bypassed") {
		t.Errorf("no downgrade warning in the master's log:\n%s", down.output())
	}
}
