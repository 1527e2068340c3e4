package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	masterpb "github.com/agora-dev/agora/api/mesos/v1/master"
	"google.golang.org/protobuf/proto"
)

// The operator commands (agents, frameworks, tasks, task, logs, kill,
// teardown) share this: the --master and --json flags, a client of the
// master's v1 operator API (protobuf), unique-prefix ids, and tables.

// errUsage marks an error in the command line (exit status 2).
var errUsage = errors.New("usage")

// opClient is one operator command's connection to the cluster.
type opClient struct {
	master string // host:port or a URL, or a comma list of them
	creds  credentials
	// stream carries calls whose answers last (exec, attach): no timeout.
	stream *http.Client
	// scheme is how agents are reached: https with TLS on.
	scheme string
	json   bool
	http   *http.Client  // agents
	mc     *masterClient // the masters; built from master on first use
	stdout io.Writer
	stderr io.Writer
}

func defaultMaster() string {
	if m := os.Getenv("AGORA_MASTER"); m != "" {
		return m
	}
	return "127.0.0.1:5050"
}

// opFlags is the flag set of an operator command with --master and
// --json; usage is printed for -h.
func opFlags(name, usage string, c *opClient) *flag.FlagSet {
	fs := flag.NewFlagSet("agora "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&c.master, "master", defaultMaster(), "")
	fs.BoolVar(&c.json, "json", false, "")
	c.creds.flags(fs)
	_ = usage
	return fs
}

const opFlagsHelp = `  --master=HOST:PORT[,HOST:PORT...]
                      master to ask, or the masters of a group (the leader
                      is found and followed); default $AGORA_MASTER, else
                      127.0.0.1:5050
  --json              print JSON instead of a table
` + credentialsHelp

// runOp parses args and runs an operator command, turning its errors into
// messages and exit statuses: 0 ok, 1 failure, 2 usage.
func runOp(ctx context.Context, name, usage string, args []string, stdout, stderr io.Writer,
	setup func(fs *flag.FlagSet), run func(ctx context.Context, c *opClient, args []string) error) int {
	c := &opClient{http: &http.Client{Timeout: 30 * time.Second}, stdout: stdout, stderr: stderr}
	fs := opFlags(name, usage, c)
	if setup != nil {
		setup(fs)
	}
	// Flags may follow the ids too: "agora task ID --json".
	var positional []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				_, _ = io.WriteString(stdout, usage)
				return 0
			}
			fmt.Fprintf(stderr, "agora %s: %v\nRun 'agora %s -h' for usage.\n", name, err, name)
			return exitUsage
		}
		rest = fs.Args()
		if len(rest) == 0 {
			break
		}
		positional = append(positional, rest[0])
		rest = rest[1:]
	}
	rt, err := c.creds.transport(&http.Transport{})
	if err != nil {
		fmt.Fprintf(stderr, "agora %s: %v\n", name, err)
		return exitUsage
	}
	tc, _ := c.creds.tlsConfig()
	c.scheme = tc.Scheme()
	c.http.Transport = rt
	c.stream = &http.Client{Transport: rt}
	err = run(ctx, c, positional)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "agora %s: %v\nRun 'agora %s -h' for usage.\n", name, strings.TrimSuffix(err.Error(), ": usage"), name)
		return exitUsage
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.As(err, new(exitStatus)):
		var st exitStatus
		errors.As(err, &st)
		return int(st)
	default:
		fmt.Fprintf(stderr, "agora %s: %v\n", name, err)
		return exitFailure
	}
}

// usageError is a command-line error.
func usageError(format string, a ...any) error {
	return fmt.Errorf(format+": %w", append(a, errUsage)...)
}

// masters returns the client of the masters named by --master.
func (c *opClient) masters() (*masterClient, error) {
	if c.mc == nil {
		tc, err := c.creds.tlsConfig()
		if err != nil {
			return nil, usageError("%v", err)
		}
		mc, err := newMasterClient(c.master, 30*time.Second, &tc)
		if err != nil {
			return nil, usageError("--master: %v", err)
		}
		if mc.authorization, err = c.creds.header(); err != nil {
			return nil, usageError("%v", err)
		}
		c.mc = mc
	}
	return c.mc, nil
}

// leaderDo sends one request to the leading master.
func (c *opClient) leaderDo(ctx context.Context, method, path string, body []byte, hdr http.Header) (*http.Response, string, error) {
	mc, err := c.masters()
	if err != nil {
		return nil, "", err
	}
	resp, base, err := mc.do(ctx, method, path, body, hdr)
	if err != nil {
		return nil, base, c.reachError(err)
	}
	return resp, strings.TrimPrefix(base, "http://"), nil
}

// getJSON GETs a JSON document from the leading master.
func (c *opClient) getJSON(ctx context.Context, path string, v any) error {
	resp, _, err := c.leaderDo(ctx, http.MethodGet, path, nil, http.Header{"Accept": {"application/json"}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return &httpError{url: path, code: resp.StatusCode, body: strings.TrimSpace(string(b))}
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// reachError explains a failed connection to the master.
func (c *opClient) reachError(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	why := err.Error()
	var errno syscall.Errno
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.As(err, &errno):
		why = errno.Error()
	case errors.As(err, &dnsErr):
		why = dnsErr.Error()
	case errors.As(err, &netErr) && netErr.Timeout():
		why = "timed out"
	}
	return fmt.Errorf("cannot reach the master at %s: %s; is `agora local` running? set --master or AGORA_MASTER", c.master, why)
}

// operator sends one call to the master's v1 operator API.
func (c *opClient) operator(ctx context.Context, call *masterpb.Call) (*masterpb.Response, error) {
	body, err := proto.Marshal(call)
	if err != nil {
		return nil, err
	}
	resp, master, err := c.leaderDo(ctx, http.MethodPost, "/api/v1", body, http.Header{
		"Content-Type": {codec.MediaProtobuf},
		"Accept":       {codec.MediaProtobuf},
	})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, c.reachError(err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the master at %s refused %s: %s %s", master, call.GetType(), resp.Status, strings.TrimSpace(string(b)))
	}
	out := &masterpb.Response{}
	if len(b) > 0 {
		if err := proto.Unmarshal(b, out); err != nil {
			return nil, fmt.Errorf("the master at %s sent a %s response that is not protobuf: %v", master, call.GetType(), err)
		}
	}
	return out, nil
}

// state is GET_STATE: agents, frameworks, tasks and executors at once.
func (c *opClient) state(ctx context.Context) (*masterpb.Response_GetState, error) {
	resp, err := c.operator(ctx, &masterpb.Call{Type: masterpb.Call_GET_STATE.Enum()})
	if err != nil {
		return nil, err
	}
	return resp.GetGetState(), nil
}

// launchTimes reads Agora's GET /agora/v1/tasks: when each live task was
// launched. A master without it answers an empty map.
func (c *opClient) launchTimes(ctx context.Context) map[string]time.Time {
	var r struct {
		Tasks []struct {
			FrameworkID string  `json:"framework_id"`
			TaskID      string  `json:"task_id"`
			Launched    float64 `json:"launched_time"`
		} `json:"tasks"`
	}
	out := make(map[string]time.Time)
	if err := c.getJSON(ctx, "/agora/v1/tasks", &r); err != nil {
		return out
	}
	for _, t := range r.Tasks {
		if t.Launched > 0 {
			out[t.FrameworkID+"/"+t.TaskID] = fromSecs(t.Launched)
		}
	}
	return out
}

// resolve finds the one id among ids that equals or starts with prefix.
func resolve(kind, prefix string, ids []string) (string, error) {
	if prefix == "" {
		return "", usageError("no %s id given", kind)
	}
	var matches []string
	for _, id := range ids {
		if id == prefix {
			return id, nil
		}
		if strings.HasPrefix(id, prefix) {
			matches = append(matches, id)
		}
	}
	slices.Sort(matches)
	matches = slices.Compact(matches)
	switch len(matches) {
	case 0:
		return "", fmt.Errorf("no %s matches %q", kind, prefix)
	case 1:
		return matches[0], nil
	}
	shown := matches
	if len(shown) > 10 {
		shown = append(shown[:10:10], fmt.Sprintf("and %d more", len(matches)-10))
	}
	return "", fmt.Errorf("%s id %q is ambiguous: it matches %s; give more of the id", kind, prefix, strings.Join(shown, ", "))
}

// table writes aligned columns.
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) { fmt.Fprintln(t.tw, strings.Join(cells, "\t")) }

func (t *table) flush() error { return t.tw.Flush() }

// writeJSONOut prints v as indented JSON.
func writeJSONOut(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// scalars sums the scalar resources by name.
func scalars(res []*mesos.Resource) map[string]float64 {
	out := make(map[string]float64)
	for _, r := range res {
		if r.GetType() == mesos.Value_SCALAR {
			out[r.GetName()] += r.GetScalar().GetValue()
		}
	}
	return out
}

// describeResources renders resources as "cpus:0.1;mem:32;ports:[...]".
func describeResources(res []*mesos.Resource) string {
	s := scalars(res)
	var parts []string
	for _, name := range []string{"cpus", "gpus", "mem", "disk"} {
		if v, ok := s[name]; ok && v != 0 {
			parts = append(parts, name+":"+fmtNum(v))
		}
	}
	var other []string
	for _, r := range res {
		switch r.GetType() {
		case mesos.Value_RANGES:
			var rs []string
			for _, x := range r.GetRanges().GetRange() {
				rs = append(rs, fmt.Sprintf("%d-%d", x.GetBegin(), x.GetEnd()))
			}
			other = append(other, r.GetName()+":["+strings.Join(rs, ",")+"]")
		case mesos.Value_SCALAR:
			if n := r.GetName(); n != "cpus" && n != "gpus" && n != "mem" && n != "disk" {
				other = append(other, n+":"+fmtNum(r.GetScalar().GetValue()))
			}
		case mesos.Value_SET:
			other = append(other, r.GetName()+":{"+strings.Join(r.GetSet().GetItem(), ",")+"}")
		}
	}
	sort.Strings(other)
	return strings.Join(append(parts, other...), ";")
}

func fmtNum(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// usedOf renders "used/total", e.g. "0.2/2".
func usedOf(used, total float64) string { return fmtNum(round3(used)) + "/" + fmtNum(round3(total)) }

func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }

func fromSecs(s float64) time.Time {
	return time.Unix(0, int64(s*1e9))
}

// age renders a duration the way people read it: 45s, 3m12s, 2h5m, 3d4h.
func age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

// agentAddress reads host:port out of an agent's pid "slave(1)@host:port".
func agentAddress(a *masterpb.Response_GetAgents_Agent) string {
	if _, addr, ok := strings.Cut(a.GetPid(), "@"); ok {
		return addr
	}
	info := a.GetAgentInfo()
	if info.GetPort() != 0 {
		return net.JoinHostPort(info.GetHostname(), strconv.Itoa(int(info.GetPort())))
	}
	return ""
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// view indexes a GET_STATE answer.
type view struct {
	st         *masterpb.Response_GetState
	agents     map[string]*masterpb.Response_GetAgents_Agent
	frameworks map[string]*masterpb.Response_GetFrameworks_Framework
	// live are the tasks not yet terminal, including unreachable ones;
	// completed the terminal ones the master still remembers.
	live, completed []*mesos.Task
}

func newView(st *masterpb.Response_GetState) *view {
	v := &view{st: st, agents: map[string]*masterpb.Response_GetAgents_Agent{},
		frameworks: map[string]*masterpb.Response_GetFrameworks_Framework{}}
	for _, a := range st.GetGetAgents().GetAgents() {
		v.agents[a.GetAgentInfo().GetId().GetValue()] = a
	}
	fws := st.GetGetFrameworks()
	for _, f := range append(append([]*masterpb.Response_GetFrameworks_Framework{}, fws.GetFrameworks()...), fws.GetCompletedFrameworks()...) {
		if _, ok := v.frameworks[f.GetFrameworkInfo().GetId().GetValue()]; !ok {
			v.frameworks[f.GetFrameworkInfo().GetId().GetValue()] = f
		}
	}
	ts := st.GetGetTasks()
	v.live = append(append(v.live, ts.GetTasks()...), ts.GetUnreachableTasks()...)
	v.completed = ts.GetCompletedTasks()
	return v
}

func (v *view) frameworkName(id string) string {
	return v.frameworks[id].GetFrameworkInfo().GetName()
}

func (v *view) agentHostname(id string) string {
	if a := v.agents[id]; a != nil {
		return a.GetAgentInfo().GetHostname()
	}
	return id
}

// findTask resolves a task id prefix among the tasks the master knows,
// live and completed; a live task wins over a completed one with the same
// id.
func (v *view) findTask(prefix string) (*mesos.Task, error) {
	var ids []string
	for _, t := range append(slices.Clone(v.live), v.completed...) {
		ids = append(ids, t.GetTaskId().GetValue())
	}
	id, err := resolve("task", prefix, ids)
	if err != nil {
		if !errors.Is(err, errUsage) && strings.HasPrefix(err.Error(), "no task") {
			return nil, fmt.Errorf("no task matches %q; `agora tasks --all` lists the tasks the master knows (tasks refused at launch with TASK_ERROR or TASK_DROPPED are reported only to their framework)", prefix)
		}
		return nil, err
	}
	for _, set := range [][]*mesos.Task{v.live, v.completed} {
		var found []*mesos.Task
		for _, t := range set {
			if t.GetTaskId().GetValue() == id {
				found = append(found, t)
			}
		}
		switch {
		case len(found) == 1:
			return found[0], nil
		case len(found) > 1:
			var fids []string
			for _, t := range found {
				fids = append(fids, t.GetFrameworkId().GetValue())
			}
			return nil, fmt.Errorf("task %q exists in several frameworks (%s)", id, strings.Join(fids, ", "))
		}
	}
	return nil, fmt.Errorf("no task matches %q", prefix)
}

func compareStrings(a, b string) int { return strings.Compare(a, b) }
