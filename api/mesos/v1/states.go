package mesos

// IsTerminal reports whether a task in state s has ended for good, as
// Mesos's isTerminalState decides: FINISHED, FAILED, KILLED, LOST, ERROR,
// DROPPED, GONE and GONE_BY_OPERATOR. (UNREACHABLE and UNKNOWN are not.)
func IsTerminal(s TaskState) bool {
	switch s {
	case TaskState_TASK_FINISHED, TaskState_TASK_FAILED, TaskState_TASK_KILLED,
		TaskState_TASK_LOST, TaskState_TASK_ERROR, TaskState_TASK_DROPPED,
		TaskState_TASK_GONE, TaskState_TASK_GONE_BY_OPERATOR:
		return true
	}
	return false
}
