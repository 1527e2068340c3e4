package tlsconf

import "flag"

// Flags are the --tls_* flags, for people who never ran Mesos: each
// overrides its LIBPROCESS_SSL_* variable.
type Flags struct {
	fs                                   *flag.FlagSet
	enabled, verify, require, downgrade  bool
	cert, key, caFile, caDir, cipherList string
}

// RegisterFlags adds the --tls_* flags to fs.
func RegisterFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{fs: fs}
	fs.BoolVar(&f.enabled, "tls_enabled", false, "TLS on every listener and connection (LIBPROCESS_SSL_ENABLED)")
	fs.StringVar(&f.cert, "tls_cert_file", "", "PEM certificate (chain) presented by listeners and, to servers that ask, by clients (LIBPROCESS_SSL_CERT_FILE)")
	fs.StringVar(&f.key, "tls_key_file", "", "PEM key of --tls_cert_file (LIBPROCESS_SSL_KEY_FILE)")
	fs.StringVar(&f.caFile, "tls_ca_file", "", "PEM CA certificates to verify peers with (LIBPROCESS_SSL_CA_FILE)")
	fs.StringVar(&f.caDir, "tls_ca_dir", "", "directory of PEM CA certificates (LIBPROCESS_SSL_CA_DIR)")
	fs.BoolVar(&f.verify, "tls_verify_server_cert", false, "clients verify the server's certificate and name (LIBPROCESS_SSL_VERIFY_SERVER_CERT)")
	fs.BoolVar(&f.require, "tls_require_client_cert", false, "servers require a client certificate signed by the CA; implies --tls_verify_server_cert (LIBPROCESS_SSL_REQUIRE_CLIENT_CERT)")
	fs.BoolVar(&f.downgrade, "tls_support_downgrade", false, "servers also take plaintext on their port, clients retry in plaintext (LIBPROCESS_SSL_SUPPORT_DOWNGRADE)")
	fs.StringVar(&f.cipherList, "tls_ciphers", "", "OpenSSL cipher names, ':'-separated (LIBPROCESS_SSL_CIPHERS); default Go's modern suites")
	return f
}

// Config is the environment's configuration with the flags given on the
// command line over it.
func (f *Flags) Config(environ []string) (Config, []string, error) {
	c, warnings, err := FromEnv(environ)
	if err != nil {
		return c, warnings, err
	}
	f.fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "tls_enabled":
			c.Enabled = f.enabled
		case "tls_cert_file":
			c.CertFile = f.cert
		case "tls_key_file":
			c.KeyFile = f.key
		case "tls_ca_file":
			c.CAFile = f.caFile
		case "tls_ca_dir":
			c.CADir = f.caDir
		case "tls_verify_server_cert":
			c.VerifyServerCert = f.verify
		case "tls_require_client_cert":
			c.RequireClientCert = f.require
		case "tls_support_downgrade":
			c.SupportDowngrade = f.downgrade
		case "tls_ciphers":
			c.Ciphers = f.cipherList
		}
	})
	if c.On() {
		if _, err := c.Client(); err != nil {
			return c, warnings, err
		}
	}
	return c, warnings, nil
}
