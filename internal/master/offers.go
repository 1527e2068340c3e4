package master

import (
	"fmt"
	"math"
	"net"
	"strconv"
	"time"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	schedpb "github.com/agora-dev/agora/api/mesos/v1/scheduler"
	"github.com/agora-dev/agora/internal/resources"
	"google.golang.org/protobuf/proto"
)

// maxOffersPerEvent keeps each OFFERS record far below mesos-go's 4 MiB
// RecordIO limit.
const maxOffersPerEvent = 200

// scheduleAllocation asks for an allocation cycle soon. Requests made
// while one is pending collapse into it, and the cycle runs after the
// events already queued, so bursts of events make one cycle.
func (m *Master) scheduleAllocation() {
	if m.allocPending {
		return
	}
	m.allocPending = true
	go m.post(m.allocate)
}

// allocate runs one allocation cycle and sends the resulting offers.
func (m *Master) allocate() {
	m.allocPending = false
	now := time.Now()
	byFramework := make(map[*framework][]*mesos.Offer)
	allocated := m.alloc.Allocate(now)
	m.metrics.allocationRuns++
	m.metrics.lastAllocationRun = time.Since(now)
	for _, ao := range allocated {
		f := m.frameworks[ao.FrameworkID]
		a := m.agents[ao.AgentID]
		if f == nil || a == nil || !f.active || f.stream == nil || a.stream == nil {
			// The allocator raced a removal; give the resources back.
			m.alloc.RecoverResources(ao.FrameworkID, ao.AgentID, ao.Role, ao.Resources, 0, now)
			continue
		}
		o := &offer{
			id:          fmt.Sprintf("%s-O%d", m.ID(), m.nextOfferID),
			frameworkID: f.id,
			agentID:     a.id,
			role:        ao.Role,
			resources:   ao.Resources,
			created:     now,
		}
		m.nextOfferID++
		m.offers[o.id] = o
		f.offers[o.id] = o
		a.offers[o.id] = o
		if m.cfg.OfferTimeout > 0 {
			id := o.id
			o.timer = m.after(m.cfg.OfferTimeout, func() {
				if cur := m.offers[id]; cur == o {
					m.removeOffer(o, true, 0)
				}
			})
		}
		byFramework[f] = append(byFramework[f], m.offerProto(f, a, o))
	}
	for f, offers := range byFramework {
		for len(offers) > 0 {
			n := min(len(offers), maxOffersPerEvent)
			m.sendToFramework(f, &schedpb.Event{
				Type:   schedpb.Event_OFFERS.Enum(),
				Offers: &schedpb.Event_Offers{Offers: offers[:n]},
			})
			m.metrics.offersSent += int64(n)
			offers = offers[n:]
		}
	}
}

// offerProto builds the Offer a framework sees.
func (m *Master) offerProto(f *framework, a *agent, o *offer) *mesos.Offer {
	var allocRole string
	if f.multiRole() {
		allocRole = o.role
	}
	p := &mesos.Offer{
		Id:          &mesos.OfferID{Value: proto.String(o.id)},
		FrameworkId: frameworkIDProto(f.id),
		AgentId:     agentIDProto(a.id),
		Hostname:    proto.String(a.info.GetHostname()),
		Resources:   m.resourcesFor(f, o.resources, allocRole),
		Attributes:  a.info.GetAttributes(),
		Url:         agentURL(a, m.cfg.TLS.Scheme()),
	}
	if allocRole != "" {
		p.AllocationInfo = &mesos.Resource_AllocationInfo{Role: proto.String(allocRole)}
	}
	for id := range a.executors[f.id] {
		p.ExecutorIds = append(p.ExecutorIds, &mesos.ExecutorID{Value: proto.String(id)})
	}
	return p
}

// resourcesFor renders resources in the format the framework understands:
// with allocation_info only for MULTI_ROLE frameworks, and in the
// pre-refinement format (Resource.role) for frameworks without the
// RESERVATION_REFINEMENT capability.
func (m *Master) resourcesFor(f *framework, r resources.Resources, allocRole string) []*mesos.Resource {
	list := r.ToProto(allocRole)
	if f.hasCapability(mesos.FrameworkInfo_Capability_RESERVATION_REFINEMENT) {
		return list
	}
	for _, res := range list {
		role := "*"
		if n := len(res.Reservations); n > 0 {
			role = res.Reservations[n-1].GetRole()
		}
		res.Reservations = nil
		res.Role = proto.String(role) //lint:ignore SA1019 the pre-refinement format frameworks without RESERVATION_REFINEMENT expect
	}
	return list
}

func agentURL(a *agent, scheme string) *mesos.URL {
	host, portStr, _ := net.SplitHostPort(a.endpoint)
	port, _ := strconv.Atoi(portStr)
	return &mesos.URL{
		Scheme: proto.String(scheme),
		Address: &mesos.Address{
			Hostname: proto.String(a.info.GetHostname()),
			Ip:       proto.String(host),
			Port:     proto.Int32(int32(port)),
		},
		Path: proto.String("/slave(1)"),
	}
}

// removeOffer withdraws an offer and gives its resources back to the
// allocator with a refusal filter of refuse. With rescind the framework is
// told with a RESCIND event.
func (m *Master) removeOffer(o *offer, rescind bool, refuse time.Duration) {
	m.forgetOffer(o)
	m.alloc.RecoverResources(o.frameworkID, o.agentID, o.role, o.resources, refuse, time.Now())
	if rescind {
		m.metrics.offersRescinded++
		if f := m.frameworks[o.frameworkID]; f != nil {
			m.sendToFramework(f, &schedpb.Event{
				Type:    schedpb.Event_RESCIND.Enum(),
				Rescind: &schedpb.Event_Rescind{OfferId: &mesos.OfferID{Value: proto.String(o.id)}},
			})
		}
	}
	m.scheduleAllocation()
}

// forgetOffer drops the offer from the books without touching the
// allocator (its resources are being used or recovered by the caller).
func (m *Master) forgetOffer(o *offer) {
	if o.timer != nil {
		o.timer.Stop()
	}
	delete(m.offers, o.id)
	if f := m.frameworks[o.frameworkID]; f != nil {
		delete(f.offers, o.id)
	}
	if a := m.agents[o.agentID]; a != nil {
		delete(a.offers, o.id)
	}
}

// removeFrameworkOffers withdraws all of a framework's offers.
func (m *Master) removeFrameworkOffers(f *framework, rescind bool) {
	for _, o := range f.offers {
		m.removeOffer(o, rescind, 0)
	}
}

// removeAgentOffers rescinds all offers of an agent.
func (m *Master) removeAgentOffers(a *agent) {
	for _, o := range a.offers {
		m.removeOffer(o, true, 0)
	}
}

// refuseDuration applies Mesos's rules for Filters.refuse_seconds: 5 s by
// default (also for negative or invalid values), capped at 365 days.
func refuseDuration(f *mesos.Filters) time.Duration {
	s := f.GetRefuseSeconds() // the proto default is 5.0
	if math.IsNaN(s) || s < 0 {
		s = 5
	}
	const maxSeconds = 365 * 24 * 60 * 60
	if s > maxSeconds {
		s = maxSeconds
	}
	return time.Duration(s * float64(time.Second))
}

// decline handles DECLINE: unknown offer ids are ignored.
func (m *Master) decline(f *framework, d *schedpb.Call_Decline) {
	refuse := refuseDuration(d.GetFilters())
	for _, id := range d.GetOfferIds() {
		if o := f.offers[id.GetValue()]; o != nil {
			m.metrics.offersDeclined++
			m.removeOffer(o, false, refuse)
		}
	}
}
