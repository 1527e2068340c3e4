package cli

import (
	"context"
	"fmt"
	"io"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	masterpb "github.com/agora-dev/agora/api/mesos/v1/master"
	"google.golang.org/protobuf/proto"
)

const teardownUsage = `usage: agora teardown [--master=HOST:PORT] [--json] FRAMEWORK_ID

Tears a framework down through the operator API's TEARDOWN: its offers are
rescinded, its tasks killed and its executors shut down. FRAMEWORK_ID may be
any unique prefix of a subscribed framework's id.

Flags:
` + opFlagsHelp

// Teardown implements `agora teardown`.
func Teardown(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runOp(ctx, "teardown", teardownUsage, args, stdout, stderr, nil, func(ctx context.Context, c *opClient, args []string) error {
		if len(args) != 1 {
			return usageError("want one FRAMEWORK_ID")
		}
		st, err := c.state(ctx)
		if err != nil {
			return err
		}
		var ids []string
		names := map[string]string{}
		for _, f := range st.GetGetFrameworks().GetFrameworks() {
			id := f.GetFrameworkInfo().GetId().GetValue()
			ids = append(ids, id)
			names[id] = f.GetFrameworkInfo().GetName()
		}
		id, err := resolve("framework", args[0], ids)
		if err != nil {
			return err
		}
		if _, err := c.operator(ctx, &masterpb.Call{
			Type:     masterpb.Call_TEARDOWN.Enum(),
			Teardown: &masterpb.Call_Teardown{FrameworkId: &mesos.FrameworkID{Value: proto.String(id)}},
		}); err != nil {
			return err
		}
		if c.json {
			return writeJSONOut(c.stdout, map[string]string{"framework_id": id, "name": names[id], "result": "torn down"})
		}
		fmt.Fprintf(c.stdout, "framework %s (%s) torn down\n", id, names[id])
		return nil
	})
}
