package agent

import (
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
)

// runAsUser is the user an executor runs as with --switch_user: its
// CommandInfo.user (the task's, for the command executor), else the
// framework's. "" means the agent's own user.
func (s *state) runAsUser(ei *mesos.ExecutorInfo, fwUser string) string {
	if !s.a.cfg.SwitchUser {
		return ""
	}
	if u := ei.GetCommand().GetUser(); u != "" {
		return u
	}
	return fwUser
}

// credentialOf resolves name to its uid, primary gid and supplementary
// groups. The error is Mesos's "No such user '<u>'" when it is unknown.
func credentialOf(name string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		if _, ok := err.(user.UnknownUserError); ok {
			return nil, fmt.Errorf("No such user '%s'", name)
		}
		return nil, fmt.Errorf("Failed to get the uid of user '%s': %w", name, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("Failed to get the uid of user '%s': %w", name, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("Failed to get the gid of user '%s': %w", name, err)
	}
	c := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	gids, err := u.GroupIds()
	if err != nil {
		return nil, fmt.Errorf("Failed to get the supplementary groups of user '%s': %w", name, err)
	}
	for _, g := range gids {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil {
			c.Groups = append(c.Groups, uint32(n))
		}
	}
	return c, nil
}

// switchCredential is the credential to launch as user, or nil when the
// process keeps the agent's identity: no user, or the agent's own uid.
// An agent that is not root cannot switch to another user; as Mesos's
// launcher does, the launch then fails with a clear message.
func switchCredential(name string) (*syscall.Credential, error) {
	if name == "" {
		return nil, nil
	}
	c, err := credentialOf(name)
	if err != nil {
		return nil, err
	}
	if int(c.Uid) == os.Getuid() {
		return nil, nil
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("cannot run as user '%s': the agent is not root (run it as root, or with --no-switch_user)", name)
	}
	return c, nil
}

// chownSandbox gives the sandbox dir, and everything in it, to c's user;
// the directory itself is mode 0750, as Mesos creates it.
func chownSandbox(dir string, c *syscall.Credential) error {
	if err := os.Chmod(dir, 0o750); err != nil {
		return err
	}
	if c == nil {
		return nil
	}
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(c.Uid), int(c.Gid))
	})
}

// missingUser is the refusal of an executor that would run as a user
// this machine does not have, as Mesos words it (§10): TASK_DROPPED
// (TASK_LOST for a framework that is not partition-aware) and its
// message; "" when the user exists or none is switched to.
func (s *state) missingUser(f *framework, ei *mesos.ExecutorInfo) (mesos.TaskState, string) {
	name := s.runAsUser(ei, f.info.GetUser())
	if name == "" {
		return 0, ""
	}
	_, err := credentialOf(name)
	if err == nil {
		return 0, ""
	}
	dir := s.a.sandboxDir(s.agentID, f.id, ei.GetExecutorId().GetValue(), newUUIDString())
	st := mesos.TaskState_TASK_LOST
	if f.partitionAware() {
		st = mesos.TaskState_TASK_DROPPED
	}
	s.a.log.Warn("executor refused: no such user", "framework_id", f.id, "executor_id", ei.GetExecutorId().GetValue(), "user", name, "err", err)
	return st, fmt.Sprintf("Failed to create executor directory '%s': Failed to chown directory to '%s': %v", dir, name, err)
}

// dropForUser answers a task whose executor would run as a missing user
// (missingUser); no executor is launched.
func (s *state) dropForUser(f *framework, ei *mesos.ExecutorInfo, taskID string) bool {
	st, msg := s.missingUser(f, ei)
	if msg == "" {
		return false
	}
	s.statusUpdate(f.id, s.newAgentUpdate(taskID, ei.GetExecutorId().GetValue(), st,
		mesos.TaskStatus_REASON_EXECUTOR_TERMINATED, msg))
	return true
}
