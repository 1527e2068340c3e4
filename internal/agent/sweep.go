package agent

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// sweepContainer kills every process left from an executor's container
// after the executor's own process group is gone: tasks that an executor
// started in process groups of their own, or daemons a task left behind.
// Without cgroups the agent recognises them on Linux by /proc: a process
// belongs to the container when its environment carries the container's
// MESOS_CONTAINER_ID or MESOS_DIRECTORY (every descendant inherits them
// unless it scrubs its environment), or its working directory is inside
// the sandbox. It returns the number of processes signalled.
//
// An empty container id or a sandbox that is not a clean absolute path
// below "/" matches nothing: with an empty sandbox every working directory
// would be "inside" it and the sweep would kill every process on the host.
func sweepContainer(containerID, sandbox string) int {
	match := sweepMatcher(containerID, sandbox)
	if match == nil {
		return 0
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	self := os.Getpid()
	n := 0
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self || pid <= 1 {
			continue
		}
		if match(pid) {
			if syscall.Kill(pid, syscall.SIGKILL) == nil {
				n++
			}
		}
	}
	return n
}

// sweepMatcher returns the test sweepContainer applies to a pid, or nil when
// neither the container id nor the sandbox can identify anything.
func sweepMatcher(containerID, sandbox string) func(pid int) bool {
	var markers [][]byte
	if containerID != "" {
		markers = append(markers, []byte("MESOS_CONTAINER_ID="+containerID))
	}
	if !filepath.IsAbs(sandbox) || filepath.Clean(sandbox) != sandbox || sandbox == "/" {
		sandbox = ""
	} else {
		markers = append(markers, []byte("MESOS_DIRECTORY="+sandbox))
	}
	if len(markers) == 0 {
		return nil
	}
	return func(pid int) bool { return belongs(pid, markers, sandbox) }
}

// belongs reports whether pid's environment has one of markers or, when
// sandbox is not empty, its working directory is inside sandbox.
func belongs(pid int, markers [][]byte, sandbox string) bool {
	dir := filepath.Join("/proc", strconv.Itoa(pid))
	if sandbox != "" {
		if cwd, err := os.Readlink(filepath.Join(dir, "cwd")); err == nil {
			if cwd == sandbox || len(cwd) > len(sandbox) && cwd[:len(sandbox)+1] == sandbox+"/" {
				return true
			}
		}
	}
	env, err := os.ReadFile(filepath.Join(dir, "environ"))
	if err != nil {
		return false
	}
	for _, kv := range bytes.Split(env, []byte{0}) {
		for _, m := range markers {
			if bytes.Equal(kv, m) {
				return true
			}
		}
	}
	return false
}
