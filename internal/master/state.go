package master

import (
	"time"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/internal/resources"
)

// The master's bookkeeping. Every value here is owned by the master loop
// goroutine; nothing else reads or writes it.

type framework struct {
	id   string
	info *mesos.FrameworkInfo

	stream    *stream // nil while disconnected
	active    bool    // receives offers
	recovered bool    // known only from agents' reports, not yet resubscribed

	registeredTime   time.Time
	reregisteredTime time.Time
	unregisteredTime time.Time

	// failover is the pending removal of a disconnected framework.
	failover *time.Timer

	tasks          map[string]*task // live and unreachable tasks by task id
	completedTasks []*task          // bounded history, oldest first
	offers         map[string]*offer
	// executors: agent id → executor id → info, for executors of this
	// framework the master believes are running.
	executors map[string]map[string]*mesos.ExecutorInfo
}

func (f *framework) connected() bool { return f.stream != nil }

func (f *framework) hasCapability(t mesos.FrameworkInfo_Capability_Type) bool {
	for _, c := range f.info.GetCapabilities() {
		if c.GetType() == t {
			return true
		}
	}
	return false
}

func (f *framework) multiRole() bool {
	return f.hasCapability(mesos.FrameworkInfo_Capability_MULTI_ROLE)
}

func (f *framework) partitionAware() bool {
	return f.hasCapability(mesos.FrameworkInfo_Capability_PARTITION_AWARE)
}

// roles returns the roles the framework subscribed with.
func (f *framework) roles() []string { return frameworkRoles(f.info) }

func frameworkRoles(info *mesos.FrameworkInfo) []string {
	for _, c := range info.GetCapabilities() {
		if c.GetType() == mesos.FrameworkInfo_Capability_MULTI_ROLE {
			return info.GetRoles()
		}
	}
	return []string{legacyRole(info)}
}

// legacyRole reads FrameworkInfo.role, deprecated in Mesos but still how
// frameworks without MULTI_ROLE name their role.
func legacyRole(info *mesos.FrameworkInfo) string {
	return info.GetRole() //lint:ignore SA1019 Mesos compatibility: non-MULTI_ROLE frameworks use it
}

// hasLegacyRole reports whether FrameworkInfo.role is set.
func hasLegacyRole(info *mesos.FrameworkInfo) bool {
	return info.Role != nil //lint:ignore SA1019 Mesos compatibility: non-MULTI_ROLE frameworks use it
}

type task struct {
	frameworkID string
	agentID     string
	// executorID is the custom executor's id; empty for command tasks.
	executorID string
	info       *mesos.TaskInfo
	role       string
	resources  resources.Resources

	state mesos.TaskState
	// launched is when the master sent the task to its agent (zero for
	// tasks learnt from a re-subscribing agent).
	launched time.Time
	statuses []*mesos.TaskStatus // one per state transition, for state JSON
	// relayed is the last update with a uuid relayed to the framework (its
	// uuid, the framework stream it went on and when), and ackedUUID the
	// last uuid the framework acknowledged: what lets the master answer an
	// agent's resend itself (duplicates.go).
	relayed   relayedUpdate
	ackedUUID []byte
	// latest is the latest status received from the agent, kept for
	// reconciliation answers.
	latest *mesos.TaskStatus
	// resourcesFreed is set once the task's resources went back to the
	// allocator (when it reached a terminal state).
	resourcesFreed bool
	// unreachableTime is set while the task's agent is unreachable.
	unreachableTime time.Time
	// killRequested is set once the framework asked to kill the task, so
	// the kill can be sent again when the agent re-subscribes.
	killRequested bool
	killPolicy    *mesos.KillPolicy
	// lostPending is set on a told-lost record whose registry entry has
	// not committed yet (told_lost.go): its answer is not sent yet.
	lostPending bool
	// json is the task's /master/state object as last encoded, from
	// jsonOf (appendTask).
	json   []byte
	jsonOf taskJSONKey
}

func (t *task) id() string { return t.info.GetTaskId().GetValue() }

type agent struct {
	id       string
	info     *mesos.AgentInfo
	endpoint string // host:port of the agent's HTTP server
	total    resources.Resources

	stream           *stream // nil while disconnected
	version          string
	active           bool
	registeredTime   time.Time
	reregisteredTime time.Time

	// missedPings counts ping intervals without a PONG (or, while
	// disconnected, without a stream).
	missedPings int
	pingSeq     uint64
	// removing is set while the registry write that marks the agent
	// unreachable is in flight; it may not re-subscribe meanwhile.
	removing bool
	// pendingKills are the tasks of frameworks that are not partition-aware
	// found running on the agent when it came back from unreachable: they
	// were reported lost and are being killed. The registry admits the
	// agent again only once they are all gone (framework id + "/" + task id).
	pendingKills map[string]bool
	// cameBack is set when the agent re-subscribed after being marked
	// unreachable (by this leader or an earlier one): a task on it this
	// master does not know was reported lost to a framework that is not
	// partition-aware, so what the agent says of it is never relayed.
	cameBack bool

	// tasks by framework id then task id.
	tasks  map[string]map[string]*task
	offers map[string]*offer
	// executors: framework id → executor id → info with its resources.
	executors map[string]map[string]*executor

	// json is what /master/state keeps encoded of the agent (appendAgent).
	json agentJSON
}

type executor struct {
	info      *mesos.ExecutorInfo
	resources resources.Resources
	role      string
}

type offer struct {
	id          string
	frameworkID string
	agentID     string
	role        string
	resources   resources.Resources
	created     time.Time
	timer       *time.Timer
}
