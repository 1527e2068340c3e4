package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/agora-dev/agora/internal/tlsconf"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// maxRedirects bounds how many 307s one request follows.
const maxRedirects = 8

// masterClient sends the requests of a command to the leading master of a
// group: --master and $AGORA_MASTER name one master or several ("A,B,C",
// each host:port or a URL). A standby's 307 is followed to the leader with
// the same method and body; a 503 ("No leader elected", "Master has not
// finished recovery") or a connection error moves on to the next master.
type masterClient struct {
	bases  []string // "http://host:port", no trailing slash
	client *http.Client
	// authorization is sent with every request ("" for none).
	authorization string

	mu   sync.Mutex
	good int // index of the master that answered last: asked first
}

// parseMasterBases turns a --master value into base URLs.
func parseMasterBases(list, scheme string) ([]string, error) {
	var out []string
	for _, m := range strings.Split(list, ",") {
		m = strings.TrimSpace(m)
		if m == "" {
			continue
		}
		raw := m
		if !strings.Contains(raw, "://") {
			raw = scheme + "://" + raw
		}
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("bad master address %q: want host:port or http(s)://host:port", m)
		}
		out = append(out, strings.TrimSuffix(u.Scheme+"://"+u.Host+u.Path, "/"))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no master address in %q", list)
	}
	return out, nil
}

// newMasterClient builds a client for the masters of list. timeout bounds
// each request (0: none); a master that accepts the connection but does
// not answer (a paused process) is given up after headerTimeout.
func newMasterClient(list string, timeout time.Duration, tc *tlsconf.Config) (*masterClient, error) {
	bases, err := parseMasterBases(list, tc.Scheme())
	if err != nil {
		return nil, err
	}
	dialer := &net.Dialer{Timeout: 3 * time.Second, KeepAlive: 15 * time.Second}
	return &masterClient{
		bases: bases,
		client: &http.Client{
			Timeout: timeout,
			Transport: tc.MustTransport(&http.Transport{
				DialContext:           dialer.DialContext,
				ResponseHeaderTimeout: headerTimeout,
				IdleConnTimeout:       30 * time.Second,
			}),
			// Redirects are followed by do, which keeps the method and the
			// body and moves on when the leader named is down.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// headerTimeout bounds the wait for a master's answer.
var headerTimeout = 15 * time.Second

// do sends one request to the leader and returns its answer (any status
// but 307 and 503) with the base URL of the master that gave it. If every
// master failed it returns the last 503 answer, or else the last
// connection error.
func (mc *masterClient) do(ctx context.Context, method, path string, body []byte, hdr http.Header) (*http.Response, string, error) {
	mc.mu.Lock()
	first := mc.good
	mc.mu.Unlock()
	var (
		lastErr  error
		last503  *http.Response
		last503B string
	)
	for i := range mc.bases {
		idx := (first + i) % len(mc.bases)
		base := mc.bases[idx]
		for range maxRedirects + 1 {
			resp, err := mc.send(ctx, method, base+path, body, hdr)
			if err != nil {
				if ctx.Err() != nil {
					return nil, base, err
				}
				lastErr = err
				break
			}
			if resp.StatusCode == http.StatusTemporaryRedirect {
				next, err := redirectBase(base, resp.Header.Get("Location"))
				drain(resp)
				if err != nil {
					lastErr = err
					break
				}
				base = next
				continue
			}
			if resp.StatusCode == http.StatusServiceUnavailable {
				if last503 != nil {
					drain(last503)
				}
				last503, last503B = resp, base
				break
			}
			if last503 != nil {
				drain(last503)
			}
			mc.mu.Lock()
			mc.good = idx
			mc.mu.Unlock()
			return resp, base, nil
		}
	}
	if last503 != nil {
		return last503, last503B, nil
	}
	if lastErr == nil {
		lastErr = errors.New("too many redirects")
	}
	return nil, mc.bases[first], lastErr
}

func (mc *masterClient) send(ctx context.Context, method, u string, body []byte, hdr http.Header) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if mc.authorization != "" {
		req.Header.Set("Authorization", mc.authorization)
	}
	return mc.client.Do(req)
}

// redirectBase is the base URL a 307's Location ("//host:port/path", as
// Mesos sends it) points to: its host with the scheme of base.
func redirectBase(base, location string) (string, error) {
	u, err := url.Parse(location)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("redirect from %s without a host: Location %q", base, location)
	}
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	b.Host = u.Host
	return b.String(), nil
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}
