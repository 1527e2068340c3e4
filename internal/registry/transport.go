package registry

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/agora-dev/agora/internal/tlsconf"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// RaftPath is where a master accepts the registry's Raft connections: an
// HTTP/1.1 Upgrade on the master's own listener, so that a group of
// masters needs one port each.
//
//	GET /agora/v1/raft HTTP/1.1
//	Host: <master>
//	Connection: Upgrade
//	Upgrade: agora-raft/1
//
//	HTTP/1.1 101 Switching Protocols
//	Connection: Upgrade
//	Upgrade: agora-raft/1
//
// after which the connection carries hashicorp/raft's network transport
// protocol in both directions.
const RaftPath = "/agora/v1/raft"

// raftProtocol names the upgraded protocol and its version.
const raftProtocol = "agora-raft/1"

// ErrTransportClosed is returned by Accept once the layer is closed.
var ErrTransportClosed = errors.New("registry: raft transport closed")

// HTTPStreamLayer is a raft.StreamLayer whose incoming connections arrive
// through an HTTP handler (ServeHTTP, mounted at RaftPath on the master's
// server) and whose outgoing ones are HTTP Upgrade requests to the other
// masters.
type HTTPStreamLayer struct {
	addr  net.Addr
	conns chan net.Conn
	// dialer dials the other masters, from the master's own IP when it
	// listens on one (so that a multi-homed host talks to its group
	// from the address the group knows).
	dialer net.Dialer
	// TLS, when set, wraps the connections Dial opens (the listening side
	// is the master's HTTP server, on TLS already).
	TLS *tlsconf.Dialer
	// Key, when set, is the group's shared secret: Dial proves it knows
	// it and ServeHTTP refuses (401) a connection that does not.
	Key []byte

	once   sync.Once
	closed chan struct{}
}

var _ raft.StreamLayer = (*HTTPStreamLayer)(nil)

// NewHTTPStreamLayer returns a layer advertising addr (host:port, the
// master's HTTP address as the other masters know it). A specific
// localIP (the master's --ip) is the source of its connections.
func NewHTTPStreamLayer(addr string, localIP ...net.IP) *HTTPStreamLayer {
	l := &HTTPStreamLayer{
		addr:   stringAddr(addr),
		conns:  make(chan net.Conn, 16),
		closed: make(chan struct{}),
	}
	if len(localIP) > 0 && localIP[0] != nil && !localIP[0].IsUnspecified() {
		l.dialer.LocalAddr = &net.TCPAddr{IP: localIP[0]}
	}
	return l
}

// ServeHTTP takes over a connection that asks for the raft protocol.
func (l *HTTPStreamLayer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.Header.Get("Upgrade") != raftProtocol {
		http.Error(w, "Expecting a GET with 'Upgrade: "+raftProtocol+"'", http.StatusBadRequest)
		return
	}
	if l.Key != nil {
		got, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if subtle.ConstantTimeCompare([]byte(got), []byte(raftToken(l.Key))) != 1 {
			http.Error(w, "Raft connections of this group need its --raft_secret_file", http.StatusUnauthorized)
			return
		}
	}
	select {
	case <-l.closed:
		http.Error(w, "The registry is not running", http.StatusServiceUnavailable)
		return
	default:
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "Connection cannot be upgraded", http.StatusInternalServerError)
		return
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return
	}
	_ = conn.SetDeadline(time.Time{})
	if _, err := rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " +
		raftProtocol + "\r\n\r\n"); err != nil {
		_ = conn.Close()
		return
	}
	if err := rw.Flush(); err != nil {
		_ = conn.Close()
		return
	}
	c := &bufferedConn{Conn: conn, r: rw.Reader}
	select {
	case l.conns <- c:
	case <-l.closed:
		_ = conn.Close()
	}
}

// Accept returns the next incoming raft connection.
func (l *HTTPStreamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, ErrTransportClosed
	}
}

// Close stops accepting; connections already handed out stay open.
func (l *HTTPStreamLayer) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

// Addr is the advertised address.
func (l *HTTPStreamLayer) Addr() net.Addr { return l.addr }

// Dial opens a raft connection to another master.
func (l *HTTPStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := l.dialer
	d.Timeout = timeout
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := l.TLS.Dial(ctx, &d, string(address))
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(timeout))
	authz := ""
	if l.Key != nil {
		authz = "Authorization: Bearer " + raftToken(l.Key) + "\r\n"
	}
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: %s\r\n%s\r\n",
		RaftPath, address, raftProtocol, authz)
	if _, err := conn.Write([]byte(req)); err != nil {
		_ = conn.Close()
		return nil, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("registry: raft upgrade to %s: %w", address, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		_ = resp.Body.Close()
		_ = conn.Close()
		return nil, fmt.Errorf("registry: raft upgrade to %s: %s (is it an Agora master of this group?)", address, resp.Status)
	}
	_ = conn.SetDeadline(time.Time{})
	return &bufferedConn{Conn: conn, r: br}, nil
}

// raftToken is what proves a master knows the group's key: an HMAC of
// the protocol name, so the key itself never travels.
func raftToken(key []byte) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(raftProtocol))
	return hex.EncodeToString(h.Sum(nil))
}

// bufferedConn reads through the buffer that parsed the HTTP exchange, in
// case it holds the first raft bytes already.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

type stringAddr string

func (a stringAddr) Network() string { return "tcp" }
func (a stringAddr) String() string  { return string(a) }
