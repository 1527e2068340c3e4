package master

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/agora-dev/agora/api/codec"
	masterpb "github.com/agora-dev/agora/api/mesos/v1/master"
	schedpb "github.com/agora-dev/agora/api/mesos/v1/scheduler"
	"google.golang.org/protobuf/proto"
)

// A standby answers SUBSCRIBE with 307, as Mesos does, so that the stream
// lives on the leader. mesos-go (httpsched) follows that 307 for SUBSCRIBE
// only and keeps sending its other calls (ACCEPT, ACKNOWLEDGE, ...) to the
// address it was given; its operator client follows no redirect at all. So
// that such a framework, given any one master, works, a standby forwards
// the scheduler's and the operator's other calls to the leader and hands
// back the leader's answer (docs/ha.md, docs/compatibility.md).

// maxForwardedCall bounds a forwarded call's body.
const maxForwardedCall = 16 << 20

func newForwardClient(rt http.RoundTripper) *http.Client {
	return &http.Client{
		Transport: rt,
		Timeout:   30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// forwardable reports whether a request on a standby is a non-SUBSCRIBE
// call of the scheduler or operator API; it returns the body read.
func forwardable(r *http.Request) ([]byte, bool) {
	var operator bool
	switch r.URL.Path {
	case "/api/v1/scheduler", "/master/api/v1/scheduler":
	case "/api/v1", "/master/api/v1":
		operator = true
	default:
		return nil, false
	}
	if r.Method != http.MethodPost {
		return nil, false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxForwardedCall+1))
	if err != nil || len(body) > maxForwardedCall {
		return nil, false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	var typ string
	switch strings.TrimSpace(ct) {
	case codec.MediaJSON:
		var c struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(body, &c) != nil {
			return body, false
		}
		typ = c.Type
	case codec.MediaProtobuf:
		if operator {
			var c masterpb.Call
			if proto.Unmarshal(body, &c) != nil {
				return body, false
			}
			typ = c.GetType().String()
		} else {
			var c schedpb.Call
			if proto.Unmarshal(body, &c) != nil {
				return body, false
			}
			typ = c.GetType().String()
		}
	default:
		return body, false
	}
	return body, typ != "" && typ != "SUBSCRIBE"
}

// forwardToLeader sends the call to the leader and copies its answer back.
func (m *Master) forwardToLeader(w http.ResponseWriter, r *http.Request, leader string, body []byte) {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, m.cfg.TLS.Scheme()+"://"+leader+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		textError(w, http.StatusInternalServerError, err.Error())
		return
	}
	for _, h := range []string{"Content-Type", "Accept", "Mesos-Stream-Id", "Authorization"} {
		if v := r.Header.Values(h); len(v) > 0 {
			req.Header[h] = v
		}
	}
	resp, err := m.forwardClient.Do(req)
	if err != nil {
		textError(w, http.StatusServiceUnavailable, fmt.Sprintf("The leading master %s cannot be reached: %v", leader, err))
		return
	}
	defer resp.Body.Close()
	for _, h := range []string{"Content-Type", "Content-Length", "Location", "Allow", "Mesos-Stream-Id"} {
		if v := resp.Header.Values(h); len(v) > 0 {
			w.Header()[h] = v
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}
