// Package version holds Agora's version and the Mesos API version it
// implements.
package version

// Agora is the release of this build; set with -ldflags
// "-X github.com/agora-dev/agora/internal/version.Agora=...".
var Agora = "0.1.0-dev"

// Mesos is the Apache Mesos version whose v1 HTTP APIs Agora implements,
// reported where Mesos reports its own version.
const Mesos = "1.12.0"

// AgentProtocol is the version of the internal master-agent protocol
// (api/agora/agent/v1). History:
//
//	1 (2026-11): first version.
//	2 (2026-12): UPDATE calls carry one or more updates (Call.updates).
//
// A master speaks every version up to its own.
const AgentProtocol = 2
