package tlsconf

import "flag"

// Flags are the --tls_* flags, for people who never ran Mesos: each
// overrides its LIBPROCESS_SSL_* variable.
type Flags struct {
	fs *flag.FlagSet
	// apply sets, for each flag by name, its value into a Config.
	apply map[string]func(*Config)
}

// RegisterFlags adds the --tls_* flags to fs.
func RegisterFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{fs: fs, apply: map[string]func(*Config){}}
	boolean := func(name, usage string, field func(*Config) *bool) {
		v := fs.Bool(name, false, usage)
		f.apply[name] = func(c *Config) { *field(c) = *v }
	}
	str := func(name, usage string, field func(*Config) *string) {
		v := fs.String(name, "", usage)
		f.apply[name] = func(c *Config) { *field(c) = *v }
	}
	boolean("tls_enabled", "TLS on every listener and connection (LIBPROCESS_SSL_ENABLED)",
		func(c *Config) *bool { return &c.Enabled })
	str("tls_cert_file", "PEM certificate (chain) presented by listeners and, to servers that ask, by clients (LIBPROCESS_SSL_CERT_FILE)",
		func(c *Config) *string { return &c.CertFile })
	str("tls_key_file", "PEM key of --tls_cert_file (LIBPROCESS_SSL_KEY_FILE)",
		func(c *Config) *string { return &c.KeyFile })
	str("tls_ca_file", "PEM CA certificates to verify peers with (LIBPROCESS_SSL_CA_FILE)",
		func(c *Config) *string { return &c.CAFile })
	str("tls_ca_dir", "directory of PEM CA certificates (LIBPROCESS_SSL_CA_DIR)",
		func(c *Config) *string { return &c.CADir })
	boolean("tls_verify_server_cert", "clients verify the server's certificate and name (LIBPROCESS_SSL_VERIFY_SERVER_CERT)",
		func(c *Config) *bool { return &c.VerifyServerCert })
	boolean("tls_require_client_cert", "servers require a client certificate signed by the CA; implies --tls_verify_server_cert (LIBPROCESS_SSL_REQUIRE_CLIENT_CERT)",
		func(c *Config) *bool { return &c.RequireClientCert })
	boolean("tls_support_downgrade", "servers also take plaintext on their port, clients retry in plaintext (LIBPROCESS_SSL_SUPPORT_DOWNGRADE)",
		func(c *Config) *bool { return &c.SupportDowngrade })
	str("tls_ciphers", "OpenSSL cipher names, ':'-separated (LIBPROCESS_SSL_CIPHERS); default Go's modern suites",
		func(c *Config) *string { return &c.Ciphers })
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
		if apply, ok := f.apply[fl.Name]; ok {
			apply(&c)
		}
	})
	if c.On() {
		if _, err := c.Client(); err != nil {
			return c, warnings, err
		}
	}
	return c, warnings, nil
}
