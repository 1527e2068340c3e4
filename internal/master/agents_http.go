package master

import (
	"github.com/agora-dev/agora/internal/auth"
	"github.com/agora-dev/agora/internal/authz"
	"net/http"

	agentpb "github.com/agora-dev/agora/api/agora/agent/v1"
	"github.com/agora-dev/agora/api/codec"
)

// agentAPIPath is where agents subscribe and send their calls
// (api/agora/agent/v1/agent.proto).
const agentAPIPath = "/agora/v1/agent"

const agentStreamHeader = "Agora-Stream-Id"

// handleAgentAPI serves the internal agent protocol.
func (m *Master) handleAgentAPI(w http.ResponseWriter, r *http.Request) {
	call := &agentpb.Call{}
	if _, ok := decodeCall(w, r, call); !ok {
		return
	}
	if call.GetType() == agentpb.Call_SUBSCRIBE {
		if call.Subscribe == nil {
			textError(w, http.StatusBadRequest, "Expecting 'subscribe' to be present")
			return
		}
		c, ok := codec.ForAccept(r.Header.Values("Accept"))
		if !ok {
			textError(w, http.StatusNotAcceptable, "Expecting 'Accept' to allow application/json or application/x-protobuf")
			return
		}
		if !m.allowed(authz.RegisterAgents, auth.RequestSubject(r), nil) {
			// Mesos refuses in silence and the agent retries; Agora says
			// why, and the agent still retries (the ACLs may change).
			who := "without a principal"
			if p, ok := auth.Principal(r.Context()); ok {
				who = "with principal '" + p + "'"
			}
			m.log.Warn("agent registration refused by the ACLs (register_agents)", "hostname", call.GetSubscribe().GetAgentInfo().GetHostname(), "principal", who)
			textError(w, http.StatusForbidden, "Not authorized to register agent "+who+" (register_agents)")
			return
		}
		st := newStream(m.newStreamID(), c, m.cfg.StreamBacklog)
		var agentID string
		leading := true
		if err := m.do(func() {
			if leading = m.leading; leading {
				agentID = m.agentSubscribe(call.GetSubscribe(), st)
			}
		}); err != nil {
			textError(w, http.StatusServiceUnavailable, "Master is stopping")
			return
		}
		if !leading {
			m.notLeading(w, r)
			return
		}
		gone := func() {
			// Closed first: a new agent whose admission is still being
			// committed sees it when it is attached.
			st.close()
			if agentID != "" {
				m.post(func() { m.agentDisconnected(agentID, st) })
			}
		}
		hdr := map[string]string{agentStreamHeader: st.id}
		if conn := detachStream(w, r, c, hdr); conn != nil {
			// The stream outlives this handler, holding only its
			// connection (stream_conn.go).
			go func() {
				if st.serveConn(conn) {
					gone()
				}
			}()
			return
		}
		startStream(w, c, hdr)
		if st.serve(w, r) {
			gone()
		}
		return
	}
	if call.AgentId == nil {
		textError(w, http.StatusBadRequest, "Expecting 'agent_id' to be present")
		return
	}
	var status int
	var msg string
	err := m.do(func() {
		a := m.agents[call.GetAgentId().GetValue()]
		switch {
		case a == nil:
			status, msg = http.StatusForbidden, "Agent is not registered"
		case a.stream == nil:
			status, msg = http.StatusForbidden, "Agent is not subscribed"
		case r.Header.Get(agentStreamHeader) != a.stream.id:
			status, msg = http.StatusBadRequest, "Agora-Stream-Id does not match the agent's subscription"
		default:
			status, msg = m.agentCall(a, call)
		}
	})
	if err != nil {
		textError(w, http.StatusServiceUnavailable, "Master is stopping")
		return
	}
	if status == http.StatusAccepted {
		w.WriteHeader(status)
		return
	}
	textError(w, status, msg)
}
