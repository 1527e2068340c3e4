// Package httpapi holds the transport rules every Mesos v1 endpoint shares
// (the master's scheduler, operator and agent-protocol endpoints, the
// agent's executor and operator endpoints): POST only, an exact
// Content-Type, a bounded body decoded into a Call, and plain-text errors
// with Mesos's status codes.
package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/agora-dev/agora/api/codec"
	"google.golang.org/protobuf/proto"
)

// MaxBodyBytes bounds the body of a call.
const MaxBodyBytes = 64 << 20

// IdleTimeout closes keep-alive connections that carry no request for this
// long (streams are requests in progress, so it never cuts one).
const IdleTimeout = 2 * time.Minute

// RefuseJSONP answers 400 to a request that asks for JSONP (?jsonp=) and
// reports whether it did. Mesos wraps JSON in the named callback; Agora
// never does: a JSONP endpoint lets any web page read the cluster's state
// with the visitor's credentials. Browsers read the JSON with CORS.
func RefuseJSONP(w http.ResponseWriter, r *http.Request) bool {
	if !r.URL.Query().Has("jsonp") {
		return false
	}
	TextError(w, http.StatusBadRequest, "JSONP is not supported ('jsonp' query parameter): fetch the JSON itself (CORS is allowed)")
	return true
}

// TextError answers with a plain-text body, as Mesos does.
func TextError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg)
}

// DecodeCall applies the shared transport rules and decodes the body into
// call: a method other than POST → 405 with Allow: POST; no Content-Type →
// 400; a Content-Type other than exactly application/json or
// application/x-protobuf → 415; an unreadable or unparsable body, or one
// missing required fields → 400. On failure it has answered and returns
// false.
func DecodeCall(w http.ResponseWriter, r *http.Request, call proto.Message) (codec.Codec, bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		TextError(w, http.StatusMethodNotAllowed,
			fmt.Sprintf("405 Method Not Allowed. Expecting one of { 'POST' }, but received '%s'.", r.Method))
		return nil, false
	}
	c, err := codec.ForContentType(r.Header.Get("Content-Type"))
	switch err {
	case nil:
	case codec.ErrNoContentType:
		TextError(w, http.StatusBadRequest, "Expecting 'Content-Type' to be present")
		return nil, false
	default:
		TextError(w, http.StatusUnsupportedMediaType,
			"Expecting 'Content-Type' of application/json or application/x-protobuf")
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			TextError(w, http.StatusRequestEntityTooLarge,
				fmt.Sprintf("Request body is larger than %d bytes", MaxBodyBytes))
			return nil, false
		}
		TextError(w, http.StatusBadRequest, "Failed to read body: "+err.Error())
		return nil, false
	}
	if err := c.Unmarshal(body, call); err != nil {
		what := "protobuf"
		if c == codec.JSON {
			what = "JSON"
		}
		TextError(w, http.StatusBadRequest, fmt.Sprintf("Failed to parse body into %s: %v", what, err))
		return nil, false
	}
	return c, true
}
