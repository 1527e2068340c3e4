package authz

import (
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/internal/auth"
)

// Viewer is one reader of state (/state, the operator API and its event
// stream) with the view_* actions it is allowed: what it may not see is
// left out of the answer, which stays 200 (docs/mesos-security.md §9).
// The nil *Viewer sees everything (no authorizer).
type Viewer struct {
	z       *Authorizer
	subject *auth.Subject
}

// Viewer returns the viewer of subject (nil: no principal), nil without
// an authorizer.
func (z *Authorizer) Viewer(subject *auth.Subject) *Viewer {
	if z == nil {
		return nil
	}
	return &Viewer{z: z, subject: subject}
}

func (v *Viewer) may(action Action, object *string) bool {
	return v == nil || v.z.Allowed(Request{Action: action, Subject: v.subject, Object: object})
}

// Framework is view_frameworks, on the framework's user.
func (v *Viewer) Framework(fw *mesos.FrameworkInfo) bool {
	return v == nil || v.may(ViewFrameworks, Object(fw.GetUser()))
}

// Task is view_tasks, on the task's user (TaskUser).
func (v *Viewer) Task(ti *mesos.TaskInfo, fw *mesos.FrameworkInfo) bool {
	return v == nil || v.may(ViewTasks, Object(TaskUser(ti, fw)))
}

// Executor is view_executors, on the executor's user (ExecutorUser).
func (v *Viewer) Executor(ei *mesos.ExecutorInfo, fw *mesos.FrameworkInfo) bool {
	return v == nil || v.may(ViewExecutors, Object(ExecutorUser(ei, fw)))
}

// Container is view_containers, on the executor's user.
func (v *Viewer) Container(ei *mesos.ExecutorInfo, fw *mesos.FrameworkInfo) bool {
	return v == nil || v.may(ViewContainers, Object(ExecutorUser(ei, fw)))
}

// Role is view_roles.
func (v *Viewer) Role(role string) bool { return v.may(ViewRoles, Object(role)) }

// Flags is view_flags.
func (v *Viewer) Flags() bool { return v.may(ViewFlags, nil) }

// TaskUser is the user of a task for run_tasks and view_tasks:
// TaskInfo.command.user, else its executor's command user, else the
// framework's user.
func TaskUser(ti *mesos.TaskInfo, fw *mesos.FrameworkInfo) string {
	if u := ti.GetCommand().GetUser(); u != "" {
		return u
	}
	if u := ti.GetExecutor().GetCommand().GetUser(); u != "" {
		return u
	}
	return fw.GetUser()
}

// ExecutorUser is the user of an executor for view_executors and
// access_sandboxes: its command's user, else the framework's.
func ExecutorUser(ei *mesos.ExecutorInfo, fw *mesos.FrameworkInfo) string {
	if u := ei.GetCommand().GetUser(); u != "" {
		return u
	}
	return fw.GetUser()
}
