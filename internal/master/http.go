package master

import (
	"fmt"
	"io"
	"net/http"

	"github.com/agora-dev/agora/api/codec"
	"google.golang.org/protobuf/proto"
)

// maxBodyBytes bounds request bodies of the v1 APIs.
const maxBodyBytes = 64 << 20

func (m *Master) routes() http.Handler {
	mux := http.NewServeMux()
	for _, p := range []string{"/api/v1/scheduler", "/master/api/v1/scheduler"} {
		mux.HandleFunc(p, m.handleScheduler)
	}
	mux.HandleFunc(agentAPIPath, m.handleAgentAPI)
	m.operatorRoutes(mux)
	m.v0Routes(mux)
	m.webuiRoutes(mux)
	m.agoraRoutes(mux)
	m.metricsRoutes(mux)
	return mux
}

// textError answers with a plain-text body, as Mesos does.
func textError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg)
}

// decodeCall applies the transport rules shared by every v1 endpoint
// (method, Content-Type, body) and decodes the body into call. On failure
// it has already answered and returns false.
func decodeCall(w http.ResponseWriter, r *http.Request, call proto.Message) (codec.Codec, bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		textError(w, http.StatusMethodNotAllowed,
			fmt.Sprintf("405 Method Not Allowed. Expecting one of { 'POST' }, but received '%s'.", r.Method))
		return nil, false
	}
	c, err := codec.ForContentType(r.Header.Get("Content-Type"))
	switch err {
	case nil:
	case codec.ErrNoContentType:
		textError(w, http.StatusBadRequest, "Expecting 'Content-Type' to be present")
		return nil, false
	default:
		textError(w, http.StatusUnsupportedMediaType,
			"Expecting 'Content-Type' of application/json or application/x-protobuf")
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		textError(w, http.StatusBadRequest, "Failed to read body: "+err.Error())
		return nil, false
	}
	if err := c.Unmarshal(body, call); err != nil {
		what := "protobuf"
		if c == codec.JSON {
			what = "JSON"
		}
		textError(w, http.StatusBadRequest, fmt.Sprintf("Failed to parse body into %s: %v", what, err))
		return nil, false
	}
	return c, true
}
