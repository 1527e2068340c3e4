// Package authz is Agora's authorizer: Mesos's local authorizer, driven
// by the ACL JSON of --acls (docs/mesos-security.md §8). Master and agent
// ask it whether a subject may perform an action on an object; what a
// denial does (an ERROR event, TASK_ERROR, 403, objects filtered out) is
// theirs to decide.
package authz

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
)

// Action is an ACL action, named by its key in the ACL JSON.
type Action string

// The actions Agora enforces today.
const (
	RegisterFrameworks Action = "register_frameworks"
	RunTasks           Action = "run_tasks"
	TeardownFrameworks Action = "teardown_frameworks"
	ViewFrameworks     Action = "view_frameworks"
	ViewTasks          Action = "view_tasks"
	ViewExecutors      Action = "view_executors"
	ViewRoles          Action = "view_roles"
	ViewFlags          Action = "view_flags"
	AccessSandboxes    Action = "access_sandboxes"
	AccessMesosLogs    Action = "access_mesos_logs"
	GetEndpoints       Action = "get_endpoints"
	RegisterAgents     Action = "register_agents"
	SetLogLevel        Action = "set_log_level"
	MarkAgentsGone     Action = "mark_agents_gone"

	LaunchNestedContainerSessionsAsUser          Action = "launch_nested_container_sessions_as_user"
	LaunchNestedContainerSessionsUnderParentUser Action = "launch_nested_container_sessions_under_parent_with_user"
	LaunchNestedContainersAsUser                 Action = "launch_nested_containers_as_user"
	LaunchNestedContainersUnderParentUser        Action = "launch_nested_containers_under_parent_with_user"
	AttachContainersInput                        Action = "attach_containers_input"
	AttachContainersOutput                       Action = "attach_containers_output"
	KillNestedContainers                         Action = "kill_nested_containers"
	WaitNestedContainers                         Action = "wait_nested_containers"
	RemoveNestedContainers                       Action = "remove_nested_containers"
	ViewContainers                               Action = "view_containers"
)

// objectKind says how an action's object is compared.
type objectKind int

const (
	plain    objectKind = iota // exact values
	roles                      // role names, "a/%" matching descendants
	anyOnly                    // the entry must be ANY or NONE
	endpoint                   // get_endpoints paths
)

type actionSpec struct {
	object string // the object field's key
	kind   objectKind
}

// actions lists every action of Mesos's acls.proto, with its object
// field. Those for features Agora has not built (reservations, volumes,
// quota, weights, maintenance, drain, standalone containers, resource
// providers) are parsed and validated now and enforced when they land.
var actions = map[Action]actionSpec{
	RegisterFrameworks:                    {"roles", roles},
	RunTasks:                              {"users", plain},
	TeardownFrameworks:                    {"framework_principals", plain},
	"reserve_resources":                   {"roles", roles},
	"unreserve_resources":                 {"reserver_principals", plain},
	"create_volumes":                      {"roles", roles},
	"resize_volumes":                      {"roles", roles},
	"destroy_volumes":                     {"creator_principals", plain},
	"create_block_disks":                  {"roles", roles},
	"destroy_block_disks":                 {"roles", roles},
	"create_mount_disks":                  {"roles", roles},
	"destroy_mount_disks":                 {"roles", roles},
	"destroy_raw_disks":                   {"roles", roles},
	"get_quotas":                          {"roles", roles},
	"update_quotas":                       {"roles", roles},
	ViewRoles:                             {"roles", roles},
	"update_weights":                      {"roles", roles},
	GetEndpoints:                          {"paths", endpoint},
	ViewFrameworks:                        {"users", plain},
	ViewTasks:                             {"users", plain},
	ViewExecutors:                         {"users", plain},
	ViewFlags:                             {"flags", anyOnly},
	AccessSandboxes:                       {"users", plain},
	AccessMesosLogs:                       {"logs", anyOnly},
	SetLogLevel:                           {"level", anyOnly},
	RegisterAgents:                        {"agents", anyOnly},
	"get_maintenance_schedules":           {"machines", anyOnly},
	"get_maintenance_statuses":            {"machines", anyOnly},
	"update_maintenance_schedules":        {"machines", anyOnly},
	"start_maintenances":                  {"machines", anyOnly},
	"stop_maintenances":                   {"machines", anyOnly},
	"drain_agents":                        {"agents", anyOnly},
	"deactivate_agents":                   {"agents", anyOnly},
	"reactivate_agents":                   {"agents", anyOnly},
	MarkAgentsGone:                        {"agents", anyOnly},
	LaunchNestedContainersAsUser:          {"users", plain},
	LaunchNestedContainersUnderParentUser: {"users", plain},
	LaunchNestedContainerSessionsAsUser:   {"users", plain},
	LaunchNestedContainerSessionsUnderParentUser: {"users", plain},
	AttachContainersInput:                        {"users", plain},
	AttachContainersOutput:                       {"users", plain},
	KillNestedContainers:                         {"users", plain},
	WaitNestedContainers:                         {"users", plain},
	RemoveNestedContainers:                       {"users", plain},
	ViewContainers:                               {"users", plain},
	"launch_standalone_containers":               {"users", anyOnly},
	"kill_standalone_containers":                 {"users", anyOnly},
	"wait_standalone_containers":                 {"users", anyOnly},
	"remove_standalone_containers":               {"users", anyOnly},
	"view_standalone_containers":                 {"users", anyOnly},
	"view_resource_providers":                    {"resource_providers", anyOnly},
	"mark_resource_providers_gone":               {"resource_providers", anyOnly},
	"modify_resource_provider_configs":           {"resource_providers", anyOnly},
	"prune_images":                               {"images", anyOnly},
}

// authorizablePaths are the only paths get_endpoints may name (Mesos's
// AUTHORIZABLE_ENDPOINTS).
var authorizablePaths = []string{"/containers", "/containerizer/debug", "/files/debug",
	"/logging/toggle", "/metrics/snapshot", "/monitor/statistics"}

// EntityType is an Entity's type.
type EntityType int

// The entity types of Mesos's ACL.Entity.
const (
	Some EntityType = iota
	Any
	None
)

// Entity is a set of principals or objects: SOME with values, ANY, or
// NONE.
type Entity struct {
	Type   EntityType
	Values []string
}

// rule is one entry of an action's list.
type rule struct {
	principals, object Entity
}

// ACLs is a parsed ACL file: the local authorizer.
type ACLs struct {
	permissive bool
	rules      map[Action][]rule
}

// Load parses --acls: inline JSON, or a path (or file:///path) of a file
// holding it. Unknown action keys are warned about on log; an unknown
// entity type, an entry missing a field and the values Mesos rejects at
// start-up are errors.
func Load(value string, log *slog.Logger) (*ACLs, error) {
	data := []byte(value)
	if t := strings.TrimSpace(value); !strings.HasPrefix(t, "{") {
		path := strings.TrimPrefix(t, "file://")
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("Failed to read the ACLs file '%s': %v (see --acls)", path, err)
		}
		data = b
	}
	return Parse(data, log)
}

// Parse parses ACL JSON.
func Parse(data []byte, log *slog.Logger) (*ACLs, error) {
	var top map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&top); err != nil {
		return nil, fmt.Errorf("Failed to parse the ACLs: %v (see --acls)", err)
	}
	if top == nil {
		return nil, errors.New("Failed to parse the ACLs: expected a JSON object (see --acls)")
	}
	a := &ACLs{permissive: true, rules: map[Action][]rule{}}
	keys := make([]string, 0, len(top))
	for k := range top {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		raw := top[key]
		if key == "permissive" {
			if err := json.Unmarshal(raw, &a.permissive); err != nil {
				return nil, fmt.Errorf("Failed to parse the ACLs: 'permissive' must be true or false (see --acls)")
			}
			continue
		}
		spec, ok := actions[Action(key)]
		if !ok {
			if log != nil {
				log.Warn("ACLs: unknown action ignored (check its spelling against docs/security.md)", "action", key)
			}
			continue
		}
		var entries []map[string]json.RawMessage
		if err := json.Unmarshal(raw, &entries); err != nil {
			return nil, fmt.Errorf("Failed to parse the ACLs: '%s' must be a list of {\"principals\":…, \"%s\":…} (see --acls)", key, spec.object)
		}
		for i, e := range entries {
			r, err := parseRule(key, i, e, spec)
			if err != nil {
				return nil, err
			}
			a.rules[Action(key)] = append(a.rules[Action(key)], r)
		}
	}
	return a, nil
}

func parseRule(key string, i int, e map[string]json.RawMessage, spec actionSpec) (rule, error) {
	var r rule
	for field := range e {
		if field != "principals" && field != spec.object {
			return r, fmt.Errorf("Failed to parse the ACLs: %s[%d] has field '%s'; expected 'principals' and '%s' (see --acls)", key, i, field, spec.object)
		}
	}
	var err error
	if r.principals, err = parseEntity(key, i, "principals", e["principals"]); err != nil {
		return r, err
	}
	if r.object, err = parseEntity(key, i, spec.object, e[spec.object]); err != nil {
		return r, err
	}
	switch spec.kind {
	case anyOnly:
		if r.object.Type == Some {
			return r, fmt.Errorf("ACL.%s type must be either NONE or ANY", aclName(key))
		}
	case endpoint:
		for _, p := range r.object.Values {
			if !slices.Contains(authorizablePaths, p) {
				return r, fmt.Errorf("Path: '%s' is not an authorizable path", p)
			}
		}
	}
	return r, nil
}

// aclName is an action key in CamelCase, for messages shaped like
// Mesos's "ACL.<Name> type must be either NONE or ANY".
func aclName(key string) string {
	var b strings.Builder
	for _, part := range strings.Split(key, "_") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

func parseEntity(key string, i int, field string, raw json.RawMessage) (Entity, error) {
	if raw == nil {
		return Entity{}, fmt.Errorf("Failed to parse the ACLs: %s[%d] lacks '%s' (see --acls)", key, i, field)
	}
	var e struct {
		Type   *string  `json:"type"`
		Values []string `json:"values"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return Entity{}, fmt.Errorf("Failed to parse the ACLs: %s[%d].%s: %v (see --acls)", key, i, field, err)
	}
	out := Entity{Values: e.Values}
	if e.Type != nil {
		switch *e.Type {
		case "SOME":
		case "ANY":
			out.Type = Any
		case "NONE":
			out.Type = None
		default:
			// Mesos drops an unknown type in silence, leaving SOME with
			// whatever values: {"type":"admin"} then matches nobody.
			return Entity{}, fmt.Errorf("Failed to parse the ACLs: %s[%d].%s has type '%s'; expected SOME, ANY or NONE (see --acls)", key, i, field, *e.Type)
		}
	}
	return out, nil
}
