package e2e

import (
	"os"
	"os/user"
	"strings"
	"testing"
	"time"

	"github.com/agora-dev/agora/internal/testutil"
)

// TestSecurityUser: agents switch to the task's user by default (Mesos's
// --switch_user): a task of a framework whose user is nobody prints
// nobody, and a task for a user the machine lacks is lost with Mesos's
// message.
func TestSecurityUser(t *testing.T) {
	testutil.Require(t, "root", os.Geteuid() == 0, "switching users needs root")
	_, err := user.Lookup("nobody")
	testutil.Require(t, "user nobody", err == nil, "no user nobody on this machine")

	master, _ := cluster(t, 1)
	s := subscribe(t, master, map[string]any{"user": "nobody", "name": "e2e-user"})
	for agentID, o := range s.offersByAgent(1) {
		missing := commandTask("missing", agentID, "true")
		missing["command"].(map[string]any)["user"] = "agora-no-such-user"
		// keep holds the framework on the agent, so the finished task's
		// sandbox is still listed in the agent's /state.
		s.mustCall(accept(o, commandTask("whoami", agentID, "id -un"), missing, commandTask("keep", agentID, "sleep 600")))
	}
	seen := s.updates(60*time.Second, func(seen map[string][]string) bool {
		return strings.HasPrefix(last(seen["whoami"]), "TASK_FINISHED") && strings.HasPrefix(last(seen["missing"]), "TASK_LOST") &&
			last(seen["keep"]) == "TASK_RUNNING"
	})
	if !strings.Contains(last(seen["missing"]), "No such user 'agora-no-such-user'") {
		t.Errorf("missing user's update %q lacks Mesos's message", last(seen["missing"]))
	}
	if out := readSandboxFile(t, master, s.id, "whoami", "stdout"); !strings.Contains(out, "nobody\n") {
		t.Errorf("stdout of id -un = %q, want nobody", out)
	}
}
