package master

import (
	"fmt"
	"github.com/agora-dev/agora/internal/auth"
	"net/http"
	"time"

	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	schedpb "github.com/agora-dev/agora/api/mesos/v1/scheduler"
	"google.golang.org/protobuf/proto"
)

const streamIDHeader = "Mesos-Stream-Id"

// handleScheduler serves POST /api/v1/scheduler.
func (m *Master) handleScheduler(w http.ResponseWriter, r *http.Request) {
	call := &schedpb.Call{}
	if _, ok := decodeCall(w, r, call); !ok {
		m.countInvalid()
		return
	}
	if call.GetType() == schedpb.Call_UNKNOWN {
		m.countInvalid()
		textError(w, http.StatusNotImplemented, "Received an unexpected 'UNKNOWN' call")
		return
	}
	if err := validateSchedulerCall(call); err != nil {
		m.countInvalid()
		textError(w, http.StatusBadRequest, "Failed to validate scheduler::Call: "+err.Error())
		return
	}
	if call.GetType() == schedpb.Call_SUBSCRIBE {
		info := call.GetSubscribe().GetFrameworkInfo()
		if p, ok := auth.Principal(r.Context()); ok {
			if info.Principal == nil {
				// Mesos fills in the authenticated principal (§5).
				info.Principal = proto.String(p)
			} else if msg := principalMismatch(r, info.GetPrincipal()); msg != "" {
				m.countInvalid()
				textError(w, http.StatusBadRequest, "Failed to validate scheduler::Call: "+msg)
				return
			}
		}
		// After the check above, FrameworkInfo.principal is the
		// authenticated principal when there is one.
		p := info.GetPrincipal()
		if ok, wait := m.authn.limiter.Allow(p, p != ""); !ok {
			rateLimited(w, p, wait)
			return
		}
		release, ok := m.authn.streams.Open(p, p != "")
		if !ok {
			textError(w, http.StatusTooManyRequests, fmt.Sprintf(
				"Principal '%s' already has %d subscriptions open (--max_streams_per_principal)", p, m.cfg.Auth.MaxStreamsPerPrincipal))
			return
		}
		defer release()
		m.serveSubscribe(w, r, call)
		return
	}

	var status int
	var msg string
	var limitBy string // the principal over its rate, if any
	var wait time.Duration
	err := m.do(func() {
		status, msg = m.checkCaller(call, r.Header.Values(streamIDHeader))
		if status == http.StatusAccepted {
			// Past the mismatch check the framework's principal is the
			// authenticated one, when there is one.
			fp := m.frameworks[call.GetFrameworkId().GetValue()].info.GetPrincipal()
			if mm := principalMismatch(r, fp); mm != "" {
				status, msg = http.StatusBadRequest, mm
				return
			}
			var ok bool
			if ok, wait = m.authn.limiter.Allow(fp, fp != ""); !ok {
				limitBy = fp
				return
			}
			m.metrics.schedulerCalls++
			status, msg = m.schedulerCall(call)
		}
	})
	if err != nil {
		textError(w, http.StatusServiceUnavailable, "Master is stopping")
		return
	}
	if limitBy != "" {
		rateLimited(w, limitBy, wait)
		return
	}
	if status == http.StatusAccepted || status == http.StatusOK {
		w.WriteHeader(status)
		return
	}
	textError(w, status, msg)
}

func (m *Master) countInvalid() {
	m.post(func() { m.metrics.invalidCalls++ })
}

// checkCaller checks that a non-SUBSCRIBE call comes from the framework's
// current subscription. It runs on the loop.
func (m *Master) checkCaller(call *schedpb.Call, streamIDs []string) (int, string) {
	f := m.frameworks[call.GetFrameworkId().GetValue()]
	if f == nil {
		return http.StatusBadRequest, "Framework cannot be found"
	}
	if f.stream == nil {
		return http.StatusForbidden, "Framework is not subscribed"
	}
	if len(streamIDs) == 0 {
		return http.StatusBadRequest, "All non-subscribe calls should include the 'Mesos-Stream-Id' header"
	}
	// libprocess keeps the last occurrence of a repeated header.
	if got := streamIDs[len(streamIDs)-1]; got != f.stream.id {
		return http.StatusBadRequest, fmt.Sprintf(
			"The stream ID '%s' included in this request didn't match the stream ID currently associated with framework ID %s",
			got, f.id)
	}
	return http.StatusAccepted, ""
}

// serveSubscribe answers SUBSCRIBE with the event stream.
func (m *Master) serveSubscribe(w http.ResponseWriter, r *http.Request, call *schedpb.Call) {
	if len(r.Header.Values(streamIDHeader)) > 0 {
		textError(w, http.StatusBadRequest, "Subscribe calls should not include the 'Mesos-Stream-Id' header")
		return
	}
	c, ok := codec.ForAccept(r.Header.Values("Accept"))
	if !ok {
		textError(w, http.StatusNotAcceptable,
			"Expecting 'Accept' to allow application/json or application/x-protobuf")
		return
	}
	st := newStream(m.newStreamID(), c, m.cfg.StreamBacklog)
	var frameworkID string
	leading := true
	if err := m.do(func() {
		if leading = m.leading; leading {
			frameworkID = m.subscribe(call, st)
		}
	}); err != nil {
		textError(w, http.StatusServiceUnavailable, "Master is stopping")
		return
	}
	if !leading {
		m.notLeading(w, r)
		return
	}
	startStream(w, c, map[string]string{streamIDHeader: st.id})
	if st.serve(w, r) && frameworkID != "" {
		m.post(func() { m.frameworkDisconnected(frameworkID, st) })
	}
}

// validateSchedulerCall is scheduler::call::validate: the checks that need
// no master state. Required proto2 fields were checked by the decoder.
func validateSchedulerCall(call *schedpb.Call) error {
	t := call.GetType()
	if t == schedpb.Call_SUBSCRIBE {
		if call.Subscribe == nil {
			return wireErrorf("Expecting 'subscribe' to be present")
		}
		fid := call.GetSubscribe().GetFrameworkInfo().GetId()
		if (call.FrameworkId == nil) != (fid == nil) ||
			(fid != nil && fid.GetValue() != call.GetFrameworkId().GetValue()) {
			return wireErrorf("'framework_id' differs from 'subscribe.framework_info.id'")
		}
		return nil
	}
	if call.FrameworkId == nil {
		return wireErrorf("Expecting 'framework_id' to be present")
	}
	missing := func(name string, present bool) error {
		if !present {
			return wireErrorf("Expecting '%s' to be present", name)
		}
		return nil
	}
	switch t {
	case schedpb.Call_TEARDOWN:
		return nil
	case schedpb.Call_ACCEPT:
		return missing("accept", call.Accept != nil)
	case schedpb.Call_DECLINE:
		return missing("decline", call.Decline != nil)
	case schedpb.Call_ACCEPT_INVERSE_OFFERS:
		return missing("accept_inverse_offers", call.AcceptInverseOffers != nil)
	case schedpb.Call_DECLINE_INVERSE_OFFERS:
		return missing("decline_inverse_offers", call.DeclineInverseOffers != nil)
	case schedpb.Call_REVIVE, schedpb.Call_SUPPRESS:
		return nil
	case schedpb.Call_KILL:
		return missing("kill", call.Kill != nil)
	case schedpb.Call_SHUTDOWN:
		return missing("shutdown", call.Shutdown != nil)
	case schedpb.Call_ACKNOWLEDGE:
		if err := missing("acknowledge", call.Acknowledge != nil); err != nil {
			return err
		}
		if len(call.GetAcknowledge().GetUuid()) != 16 {
			return wireErrorf("Not a valid UUID")
		}
		return nil
	case schedpb.Call_ACKNOWLEDGE_OPERATION_STATUS:
		if err := missing("acknowledge_operation_status", call.AcknowledgeOperationStatus != nil); err != nil {
			return err
		}
		if call.GetAcknowledgeOperationStatus().AgentId == nil {
			return wireErrorf("Expecting 'agent_id' to be present")
		}
		if len(call.GetAcknowledgeOperationStatus().GetUuid()) != 16 {
			return wireErrorf("Not a valid UUID")
		}
		return nil
	case schedpb.Call_RECONCILE:
		return missing("reconcile", call.Reconcile != nil)
	case schedpb.Call_RECONCILE_OPERATIONS:
		return missing("reconcile_operations", call.ReconcileOperations != nil)
	case schedpb.Call_MESSAGE:
		return missing("message", call.Message != nil)
	case schedpb.Call_REQUEST:
		return missing("request", call.Request != nil)
	case schedpb.Call_UPDATE_FRAMEWORK:
		if err := missing("update_framework", call.UpdateFramework != nil); err != nil {
			return err
		}
		if call.GetUpdateFramework().GetFrameworkInfo().GetId().GetValue() != call.GetFrameworkId().GetValue() {
			return wireErrorf("'framework_id' differs from 'update_framework.framework_info.id'")
		}
		return nil
	}
	return wireErrorf("Unknown call type %v", t)
}

func errorEvent(msg string) *schedpb.Event {
	return &schedpb.Event{
		Type:  schedpb.Event_ERROR.Enum(),
		Error: &schedpb.Event_Error{Message: proto.String(msg)},
	}
}

func frameworkIDProto(id string) *mesos.FrameworkID {
	return &mesos.FrameworkID{Value: proto.String(id)}
}
func agentIDProto(id string) *mesos.AgentID { return &mesos.AgentID{Value: proto.String(id)} }
