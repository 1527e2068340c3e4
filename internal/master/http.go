package master

import (
	"github.com/agora-dev/agora/internal/auth"
	"net/http"

	"github.com/agora-dev/agora/api/codec"
	"github.com/agora-dev/agora/internal/httpapi"
	"github.com/agora-dev/agora/internal/registry"
	"google.golang.org/protobuf/proto"
)

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
	mux.Handle(registry.RaftPath, m.raftLayer)
	// Authentication comes before the leader redirect (§4.1).
	return auth.Middleware(m.realmOf, m.gate(mux))
}

// textError and decodeCall are the shared v1 transport rules
// (internal/httpapi).
func textError(w http.ResponseWriter, status int, msg string) { httpapi.TextError(w, status, msg) }

func decodeCall(w http.ResponseWriter, r *http.Request, call proto.Message) (codec.Codec, bool) {
	return httpapi.DecodeCall(w, r, call)
}
