package tlsconf

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agora-dev/agora/internal/testutil"
)

func TestFromEnv(t *testing.T) {
	c, warn, err := FromEnv([]string{"LIBPROCESS_SSL_ENABLED=true", "LIBPROCESS_SSL_CERT_FILE=/c", "LIBPROCESS_SSL_KEY_FILE=/k",
		"SSL_CA_FILE=/legacy-ca", "LIBPROCESS_SSL_CA_FILE=/ca", "SSL_REQUIRE_CERT=1", "LIBPROCESS_SSL_VERIFY_CERTS=true",
		"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt", "PATH=/bin"})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Enabled || c.CertFile != "/c" || c.KeyFile != "/k" || c.CAFile != "/ca" || !c.RequireClientCert || c.VerifyServerCert {
		t.Errorf("config %+v", c)
	}
	joined := strings.Join(warn, "\n")
	if !strings.Contains(joined, "unknown TLS variable LIBPROCESS_SSL_VERIFY_CERTS") || !strings.Contains(joined, `overrides an earlier value "/legacy-ca"`) {
		t.Errorf("warnings: %s", joined)
	}
	if _, _, err := FromEnv([]string{"LIBPROCESS_SSL_ENABLED=yes"}); err == nil {
		t.Error("a boolean other than true/false/1/0 must be refused")
	}
	if c, _, _ := FromEnv(nil); c.On() || c.Scheme() != "http" {
		t.Error("TLS must be off by default")
	}
	if err := (&Config{Enabled: true, CertFile: "/c"}).Validate(); err == nil || !strings.Contains(err.Error(), "SSL requires key!") {
		t.Errorf("missing key: %v", err)
	}
	if _, unknown := cipherSuites("ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-SHA:RC4-SHA"); strings.Join(unknown, ",") != "DHE-RSA-AES128-SHA,RC4-SHA" {
		t.Errorf("unknown ciphers %v", unknown)
	}
}

// serve runs an HTTP server on 127.0.0.1 with the configuration.
func serve(t *testing.T, c *Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := c.Listen(ln)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello")
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(wrapped) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func get(t *testing.T, c *Config, url string) error {
	t.Helper()
	rt, err := c.Transport(&http.Transport{})
	if err != nil {
		return err
	}
	client := &http.Client{Transport: rt, Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	if string(b) != "hello" {
		t.Errorf("GET %s: %q", url, b)
	}
	return nil
}

func TestTLS(t *testing.T) {
	certs := testutil.WriteCerts(t, t.TempDir())
	server := &Config{Enabled: true, CertFile: certs.Cert, KeyFile: certs.Key, CAFile: certs.CA}
	addr := serve(t, server)
	verifying := &Config{Enabled: true, CAFile: certs.CA, VerifyServerCert: true}
	if err := get(t, verifying, "https://"+addr+"/"); err != nil {
		t.Errorf("verifying client: %v", err)
	}
	if err := get(t, &Config{Enabled: true, VerifyServerCert: true}, "https://"+addr+"/"); err == nil {
		t.Error("a client verifying against the system roots must refuse the test CA")
	}
	if err := get(t, &Config{Enabled: true}, "https://"+addr+"/"); err != nil {
		t.Errorf("non-verifying client (Mesos's default): %v", err)
	}
	if err := get(t, &Config{}, "http://"+addr+"/"); err == nil {
		t.Error("plaintext must be refused without downgrade")
	}

	// Client certificates required: none, another CA's, ours.
	mutual := &Config{Enabled: true, CertFile: certs.Cert, KeyFile: certs.Key, CAFile: certs.CA, RequireClientCert: true}
	maddr := serve(t, mutual)
	if err := get(t, verifying, "https://"+maddr+"/"); err == nil {
		t.Error("a client without a certificate was accepted")
	}
	if err := get(t, &Config{Enabled: true, CAFile: certs.CA, VerifyServerCert: true, CertFile: certs.OtherCert, KeyFile: certs.OtherKey}, "https://"+maddr+"/"); err == nil {
		t.Error("a client certificate of another CA was accepted")
	}
	if err := get(t, &Config{Enabled: true, CAFile: certs.CA, VerifyServerCert: true, CertFile: certs.Cert, KeyFile: certs.Key}, "https://"+maddr+"/"); err != nil {
		t.Errorf("client with a good certificate: %v", err)
	}

	// Downgrade: the server takes both; a downgrading client falls back
	// to plaintext against a plaintext server.
	down := &Config{Enabled: true, CertFile: certs.Cert, KeyFile: certs.Key, SupportDowngrade: true}
	daddr := serve(t, down)
	if err := get(t, &Config{}, "http://"+daddr+"/"); err != nil {
		t.Errorf("plaintext to a downgrading server: %v", err)
	}
	if err := get(t, &Config{Enabled: true}, "https://"+daddr+"/"); err != nil {
		t.Errorf("TLS to a downgrading server: %v", err)
	}
	plain := serve(t, &Config{})
	if err := get(t, &Config{Enabled: true, SupportDowngrade: true}, "https://"+plain+"/"); err != nil {
		t.Errorf("downgrading client to a plaintext server: %v", err)
	}
	if err := get(t, &Config{Enabled: true}, "https://"+plain+"/"); err == nil {
		t.Error("a client without downgrade reached a plaintext server")
	}
}
