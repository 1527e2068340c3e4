//go:build tools

// Package conformance runs third-party Mesos clients, unmodified, against
// Agora. This file only pins the programs it builds in go.mod.
package conformance

import (
	_ "github.com/mesos/mesos-go/api/v1/cmd/example-executor"
	_ "github.com/mesos/mesos-go/api/v1/cmd/example-scheduler"
	_ "github.com/mesos/mesos-go/api/v1/cmd/msh"
	_ "github.com/mesos/mesos-go/api/v1/cmd/mwatch"
)
