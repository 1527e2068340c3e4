package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
)

const killUsage = `usage: agora kill [--wait=DURATION] [--master=HOST:PORT] [--json] TASK_ID

Kills a live task as its framework's KILL would (through Agora's
POST /agora/v1/tasks/kill), then waits for the task to end and prints its
final state. TASK_ID may be any unique prefix of a live task's id.

Flags:
  --wait=DURATION     how long to wait for the task to end (default 30s; 0: do not wait)
` + opFlagsHelp

// killResult is the outcome of `agora kill`.
type killResult struct {
	TaskID      string `json:"task_id"`
	FrameworkID string `json:"framework_id"`
	State       string `json:"state"`
	Message     string `json:"message,omitempty"`
}

// Kill implements `agora kill`.
func Kill(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	wait := 30 * time.Second
	return runOp(ctx, "kill", killUsage, args, stdout, stderr, func(fs *flag.FlagSet) {
		fs.DurationVar(&wait, "wait", wait, "")
	}, func(ctx context.Context, c *opClient, args []string) error {
		if len(args) != 1 {
			return usageError("want one TASK_ID")
		}
		st, err := c.state(ctx)
		if err != nil {
			return err
		}
		v := newView(st)
		var ids []string
		for _, t := range v.live {
			ids = append(ids, t.GetTaskId().GetValue())
		}
		id, err := resolve("live task", args[0], ids)
		if err != nil {
			if _, done := (&view{completed: v.completed}).findTask(args[0]); done == nil {
				err = fmt.Errorf("%v; it has already ended (see `agora task %s`)", err, args[0])
			}
			return err
		}
		var task *mesos.Task
		for _, t := range v.live {
			if t.GetTaskId().GetValue() == id {
				if task != nil {
					return fmt.Errorf("task %q exists in several frameworks", id)
				}
				task = t
			}
		}
		fid := task.GetFrameworkId().GetValue()
		if err := c.killTask(ctx, fid, id); err != nil {
			return err
		}
		res := killResult{TaskID: id, FrameworkID: fid, State: task.GetState().String()}
		if wait > 0 {
			deadline := time.Now().Add(wait)
			for {
				_, d, err := lookupTask(ctx, c, id)
				if err == nil {
					res.State, res.Message = d.State, d.Message
					if mesos.IsTerminal(mesos.TaskState(mesos.TaskState_value[d.State])) {
						break
					}
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("sent the kill, but task %s is still %s after %v", id, res.State, wait)
				}
				if err := pause(ctx); err != nil {
					return err
				}
			}
		}
		if c.json {
			return writeJSONOut(c.stdout, res)
		}
		if wait == 0 {
			fmt.Fprintf(c.stdout, "kill sent to task %s of framework %s (%s)\n", id, fid, v.frameworkName(fid))
			return nil
		}
		line := fmt.Sprintf("task %s: %s", id, res.State)
		if res.Message != "" {
			line += ": " + res.Message
		}
		fmt.Fprintln(c.stdout, line)
		return nil
	})
}

// killTask posts Agora's kill extension.
func (c *opClient) killTask(ctx context.Context, frameworkID, taskID string) error {
	body, _ := json.Marshal(map[string]string{"framework_id": frameworkID, "task_id": taskID})
	resp, master, err := c.leaderDo(ctx, http.MethodPost, "/agora/v1/tasks/kill", body, http.Header{"Content-Type": {"application/json"}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch resp.StatusCode {
	case http.StatusAccepted:
		return nil
	case http.StatusNotFound:
		if strings.Contains(string(b), "No live task") {
			return fmt.Errorf("task %s is no longer live: %s", taskID, strings.TrimSpace(string(b)))
		}
		return fmt.Errorf("the master at %s does not offer task kills (POST /agora/v1/tasks/kill: 404); is it an Agora master?", master)
	}
	return fmt.Errorf("the master at %s refused the kill: %s %s", master, resp.Status, strings.TrimSpace(string(b)))
}
