package master

import (
	"net/http"
	"time"
)

// setupTLS puts the master's listener and clients on TLS when
// cfg.TLS is on (internal/tlsconf): the HTTP listener, the sandbox proxy
// and the standby's forwarding to the leader, and (registry) the Raft
// connections between masters.
func (m *Master) setupTLS() error {
	ln, err := m.cfg.TLS.Listen(m.ln)
	if err != nil {
		return err
	}
	m.srvLn = ln
	if m.sandboxRT, err = m.cfg.TLS.Transport(sandboxTransport()); err != nil {
		return err
	}
	fwd, err := m.cfg.TLS.Transport(&http.Transport{IdleConnTimeout: 30 * time.Second})
	if err != nil {
		return err
	}
	m.forwardClient = newForwardClient(fwd)
	if m.raftDialer, err = m.cfg.TLS.NewDialer(); err != nil {
		return err
	}
	for _, w := range m.cfg.TLS.Warnings() {
		m.log.Warn("SECURITY: " + w)
	}
	return nil
}
