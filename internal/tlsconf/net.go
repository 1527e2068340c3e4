package tlsconf

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// Listen wraps ln: every connection is TLS, or, with SupportDowngrade,
// TLS when its first byte starts a TLS handshake and plaintext
// otherwise. With TLS off ln is returned as it is.
func (c *Config) Listen(ln net.Listener) (net.Listener, error) {
	if !c.On() {
		return ln, nil
	}
	t, err := c.Server()
	if err != nil {
		return nil, err
	}
	if !c.SupportDowngrade {
		return tls.NewListener(ln, t), nil
	}
	return &sniffListener{Listener: ln, tls: t}, nil
}

// sniffListener hands out connections that decide on their first read
// whether they are TLS (Mesos's downgrade detection, by the record type
// byte 0x16 of a handshake).
type sniffListener struct {
	net.Listener
	tls *tls.Config
}

func (l *sniffListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &sniffConn{Conn: conn, cfg: l.tls}, nil
}

type sniffConn struct {
	net.Conn
	cfg  *tls.Config
	once sync.Once
	err  error
	// inner is the TLS connection or the buffered plaintext one.
	inner net.Conn
}

func (c *sniffConn) decide() {
	c.once.Do(func() {
		br := bufio.NewReader(c.Conn)
		_ = c.Conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		first, err := br.Peek(1)
		_ = c.Conn.SetReadDeadline(time.Time{})
		if err != nil {
			c.err = err
			return
		}
		buffered := &peekedConn{Conn: c.Conn, r: br}
		if first[0] == 0x16 {
			c.inner = tls.Server(buffered, c.cfg)
		} else {
			c.inner = buffered
		}
	})
}

func (c *sniffConn) Read(p []byte) (int, error) {
	c.decide()
	if c.err != nil {
		return 0, c.err
	}
	return c.inner.Read(p)
}

func (c *sniffConn) Write(p []byte) (int, error) {
	c.decide()
	if c.err != nil {
		return 0, c.err
	}
	return c.inner.Write(p)
}

func (c *sniffConn) Close() error {
	if c.inner != nil {
		return c.inner.Close()
	}
	return c.Conn.Close()
}

type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Transport returns t set up for this configuration: its TLSClientConfig,
// and, with SupportDowngrade, a retry in plaintext of a request whose TLS
// handshake failed. t is changed in place. With TLS off t is returned as
// it is.
func (c *Config) Transport(t *http.Transport) (http.RoundTripper, error) {
	if !c.On() {
		return t, nil
	}
	cfg, err := c.Client()
	if err != nil {
		return nil, err
	}
	t.TLSClientConfig = cfg
	if !c.SupportDowngrade {
		return t, nil
	}
	return &downgrade{t: t}, nil
}

// MustTransport is Transport for configurations already checked (by
// Client at start-up).
func (c *Config) MustTransport(t *http.Transport) http.RoundTripper {
	rt, err := c.Transport(t)
	if err != nil {
		panic(err)
	}
	return rt
}

type downgrade struct{ t *http.Transport }

func (d *downgrade) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := d.t.RoundTrip(r)
	var rh tls.RecordHeaderError
	if err == nil || r.URL.Scheme != "https" || !errors.As(err, &rh) || (r.Body != nil && r.GetBody == nil) {
		return resp, err
	}
	plain := r.Clone(r.Context())
	plain.URL.Scheme = "http"
	if r.GetBody != nil {
		if plain.Body, err = r.GetBody(); err != nil {
			return nil, err
		}
	}
	return d.t.RoundTrip(plain)
}

// Dialer opens TCP connections with a configuration's client TLS, its
// certificates and CAs read once (NewDialer). The nil *Dialer dials in
// plaintext.
type Dialer struct {
	client    *tls.Config
	downgrade bool
}

// NewDialer is the Dialer of c; nil when TLS is off.
func (c *Config) NewDialer() (*Dialer, error) {
	if !c.On() {
		return nil, nil
	}
	cfg, err := c.Client()
	if err != nil {
		return nil, err
	}
	return &Dialer{client: cfg, downgrade: c.SupportDowngrade}, nil
}

// Dial opens a connection to addr: TLS when on (and, with downgrade, a
// plaintext one after a failed handshake).
func (dl *Dialer) Dial(ctx context.Context, d *net.Dialer, addr string) (net.Conn, error) {
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil || dl == nil {
		return conn, err
	}
	cfg := dl.client
	if cfg.ServerName == "" {
		host, _, _ := net.SplitHostPort(addr)
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = conn.Close()
		if dl.downgrade {
			return d.DialContext(ctx, "tcp", addr)
		}
		return nil, err
	}
	return tc, nil
}
