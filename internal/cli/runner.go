package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/protobuf/proto"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/sdk/scheduler"
	"net/http"
)

// runner is the scheduler of `agora run`: it launches one task on the first
// offer that fits and follows it. Callbacks run on the driver's goroutine;
// they hand what the main loop needs over channels.
type runner struct {
	scheduler.NopScheduler
	opts   runOptions
	stdout io.Writer
	stderr io.Writer
	log    *slog.Logger
	taskID string
	// agentRT carries requests to agents, whose sandboxes the output is
	// read from: the CLI's TLS and credentials.
	agentRT http.RoundTripper

	started  chan struct{}          // closed at the first non-terminal update
	terminal chan *mesos.TaskStatus // the task's terminal status
	fatal    chan string            // the run cannot go on
	startOne sync.Once

	mu         sync.Mutex
	launched   bool
	offer      *mesos.Offer // the offer the task was launched on
	registered string       // framework id of the first registration
	lastState  mesos.TaskState
	seenState  bool
	offersSeen int
	stopping   bool         // the run is over; the driver is being stopped
	largest    *mesos.Offer // the largest offer seen that did not fit
}

func newRunner(opts runOptions, stdout, stderr io.Writer, log *slog.Logger) *runner {
	return &runner{
		opts:     opts,
		stdout:   stdout,
		stderr:   stderr,
		log:      log,
		taskID:   taskIDFor(opts.name),
		started:  make(chan struct{}),
		terminal: make(chan *mesos.TaskStatus, 1),
		fatal:    make(chan string, 1),
	}
}

func (r *runner) printf(format string, args ...any) {
	fmt.Fprintf(r.stderr, "agora run: "+format+"\n", args...)
}

func (r *runner) fail(msg string) {
	select {
	case r.fatal <- msg:
	default:
	}
}

func (r *runner) framework() *mesos.FrameworkInfo {
	fw := &mesos.FrameworkInfo{
		User:            proto.String(currentUser()),
		Name:            proto.String("agora-run"),
		FailoverTimeout: proto.Float64(0),
		Roles:           []string{r.opts.role},
		Capabilities: []*mesos.FrameworkInfo_Capability{
			{Type: mesos.FrameworkInfo_Capability_MULTI_ROLE.Enum()},
		},
	}
	if h, err := os.Hostname(); err == nil {
		fw.Hostname = proto.String(h)
	}
	return fw
}

func (r *runner) taskInfo(offer *mesos.Offer, res []*mesos.Resource) *mesos.TaskInfo {
	cmd := &mesos.CommandInfo{}
	if r.opts.shell {
		cmd.Shell = proto.Bool(true)
		cmd.Value = proto.String(strings.Join(r.opts.command, " "))
	} else {
		cmd.Shell = proto.Bool(false)
		cmd.Value = proto.String(r.opts.command[0])
		cmd.Arguments = append([]string(nil), r.opts.command...)
	}
	if len(r.opts.env) > 0 {
		cmd.Environment = &mesos.Environment{Variables: r.opts.env}
	}
	return &mesos.TaskInfo{
		Name:      proto.String(r.opts.name),
		TaskId:    &mesos.TaskID{Value: proto.String(r.taskID)},
		AgentId:   offer.GetAgentId(),
		Resources: res,
		Command:   cmd,
	}
}

// Registered notices a second registration: with failover_timeout 0 the
// master removed the first framework, and the task with it.
func (r *runner) Registered(d *scheduler.Driver, id *mesos.FrameworkID, _ *mesos.MasterInfo) {
	r.mu.Lock()
	first := r.registered == ""
	if first {
		r.registered = id.GetValue()
	}
	launched := r.launched
	r.mu.Unlock()
	if first {
		r.log.Info("agora run: registered", "framework_id", id.GetValue())
		return
	}
	if launched {
		r.fail(fmt.Sprintf("lost the connection to the master, which removed the framework and task %q", r.taskID))
	}
}

func (r *runner) Disconnected(*scheduler.Driver) {
	r.mu.Lock()
	done := r.stopping || r.seenState && mesos.IsTerminal(r.lastState)
	r.mu.Unlock()
	if done {
		return // the stream closes because the run is over
	}
	r.printf("lost the connection to the master; reconnecting")
}

func (r *runner) ResourceOffers(d *scheduler.Driver, offers []*mesos.Offer) {
	var decline []*mesos.OfferID
	for _, offer := range offers {
		r.mu.Lock()
		launched := r.launched
		r.mu.Unlock()
		if launched {
			decline = append(decline, offer.GetId())
			continue
		}
		res, ok := scheduler.NewPacker(offer).Reserve(r.opts.want)
		if !ok {
			r.mu.Lock()
			r.offersSeen++
			if r.largest == nil || scheduler.ScalarSum(offer.GetResources(), "cpus") > scheduler.ScalarSum(r.largest.GetResources(), "cpus") {
				r.largest = offer
			}
			r.mu.Unlock()
			// Ask for it again soon: resources may be freed.
			if err := d.DeclineOffer(offer.GetId(), scheduler.RefuseSeconds(1)); err != nil {
				r.log.Warn("agora run: decline failed", "error", err)
			}
			continue
		}
		task := r.taskInfo(offer, res)
		if err := d.LaunchTasks([]*mesos.OfferID{offer.GetId()}, []*mesos.TaskInfo{task}, scheduler.RefuseSeconds(3600)); err != nil {
			r.printf("launching on agent %s (%s) failed: %v", offer.GetAgentId().GetValue(), offer.GetHostname(), err)
			continue
		}
		r.mu.Lock()
		r.launched = true
		r.offer = offer
		r.mu.Unlock()
		r.printf("%s launching task %s (%s) on agent %s (%s)", now(), r.taskID, r.opts.want, offer.GetAgentId().GetValue(), offer.GetHostname())
		if err := d.SuppressOffers(); err != nil {
			r.log.Warn("agora run: suppress failed", "error", err)
		}
	}
	if len(decline) > 0 {
		if err := d.DeclineOffers(decline, scheduler.RefuseSeconds(3600)); err != nil {
			r.log.Warn("agora run: decline failed", "error", err)
		}
	}
}

func now() string { return time.Now().Format("15:04:05.000") }

func (r *runner) StatusUpdate(d *scheduler.Driver, st *mesos.TaskStatus) {
	if len(st.GetUuid()) > 0 {
		if err := d.AcknowledgeStatusUpdate(st); err != nil {
			r.log.Warn("agora run: acknowledging status update failed", "error", err)
		}
	}
	if st.GetTaskId().GetValue() != r.taskID {
		return
	}
	r.mu.Lock()
	changed := !r.seenState || r.lastState != st.GetState()
	r.seenState, r.lastState = true, st.GetState()
	host := r.offer.GetHostname()
	r.mu.Unlock()
	if changed {
		line := fmt.Sprintf("%s %v on agent %s (%s)", now(), st.GetState(), st.GetAgentId().GetValue(), host)
		if st.GetState() != mesos.TaskState_TASK_FINISHED && st.GetState() != mesos.TaskState_TASK_RUNNING {
			if st.Reason != nil {
				line += " " + st.GetReason().String()
			}
			if msg := st.GetMessage(); msg != "" {
				line += ": " + msg
			}
		}
		r.printf("%s", line)
	}
	if mesos.IsTerminal(st.GetState()) {
		select {
		case r.terminal <- st:
		default:
		}
		return
	}
	r.startOne.Do(func() { close(r.started) })
}

func (r *runner) AgentLost(_ *scheduler.Driver, id *mesos.AgentID) {
	r.mu.Lock()
	ours := r.offer != nil && r.offer.GetAgentId().GetValue() == id.GetValue()
	r.mu.Unlock()
	if ours {
		r.printf("%s agent %s running the task was lost", now(), id.GetValue())
	}
}

func (r *runner) Error(_ *scheduler.Driver, msg string) {
	r.fail(fmt.Sprintf("the master refused the framework: %s", msg))
}

var (
	exitedRE   = regexp.MustCompile(`exited with status (\d+)`)
	signaledRE = regexp.MustCompile(`(?:terminated|killed) (?:with|by) signal:? *([A-Za-z0-9 /_-]+)`)
)

// exitCode maps a terminal status to agora run's exit status.
func exitCode(st *mesos.TaskStatus) int {
	switch st.GetState() {
	case mesos.TaskState_TASK_FINISHED:
		return 0
	case mesos.TaskState_TASK_FAILED:
		msg := st.GetMessage()
		if m := exitedRE.FindStringSubmatch(msg); m != nil {
			if n, err := strconv.Atoi(m[1]); err == nil && n >= 0 && n < 256 {
				return n
			}
		}
		if m := signaledRE.FindStringSubmatch(msg); m != nil {
			if sig := signalNumber(m[1]); sig > 0 {
				return 128 + sig
			}
		}
	}
	return exitFailure
}

// signalNumber understands "9", "SIGKILL", "KILL" and strsignal's
// "Killed" (what Mesos's command executor writes).
func signalNumber(name string) int {
	name = strings.TrimSpace(name)
	if n, err := strconv.Atoi(name); err == nil && n > 0 && n < 65 {
		return n
	}
	upper := strings.TrimPrefix(strings.ToUpper(name), "SIG")
	for _, s := range []struct {
		name string
		n    int
	}{{"HUP", 1}, {"INT", 2}, {"QUIT", 3}, {"ILL", 4}, {"TRAP", 5}, {"ABRT", 6}, {"BUS", 7}, {"FPE", 8},
		{"KILL", 9}, {"USR1", 10}, {"SEGV", 11}, {"USR2", 12}, {"PIPE", 13}, {"ALRM", 14}, {"TERM", 15}} {
		if upper == s.name {
			return s.n
		}
	}
	for n := 1; n < 65; n++ {
		if strings.EqualFold(syscall.Signal(n).String(), name) {
			return n
		}
	}
	return 0
}

// agentBase returns the base URL of the agent of an offer.
func agentBase(offer *mesos.Offer) string {
	u := offer.GetUrl()
	scheme := u.GetScheme()
	if scheme == "" {
		scheme = "http"
	}
	host := u.GetAddress().GetIp()
	if host == "" {
		host = u.GetAddress().GetHostname()
	}
	if host == "" {
		host = offer.GetHostname()
	}
	port := int(u.GetAddress().GetPort())
	if port == 0 {
		port = 5051
	}
	return scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port))
}

// run drives the whole of `agora run` and returns its exit status.
func (r *runner) run(ctx context.Context) int {
	secret, err := r.opts.creds.secret()
	if err != nil {
		r.printf("%v", err)
		return exitUsage
	}
	tc, err := r.opts.creds.tlsConfig()
	if err == nil {
		r.agentRT, err = r.opts.creds.transport(&http.Transport{})
	}
	if err != nil {
		r.printf("%v", err)
		return exitUsage
	}
	masters := r.opts.master
	var client *http.Client
	if tc.On() {
		bases, err := parseMasterBases(masters, tc.Scheme())
		if err != nil {
			r.printf("--master: %v", err)
			return exitUsage
		}
		masters = strings.Join(bases, ",")
		client = &http.Client{Transport: tc.MustTransport(&http.Transport{})}
	}
	drv, err := scheduler.NewDriver(scheduler.Config{
		Principal:  r.opts.creds.principal,
		Secret:     secret,
		Master:     masters,
		HTTPClient: client,
		Framework:  r.framework(),
		Codec:      r.opts.codec,
		Logger:     r.log,
		// StatusUpdate acknowledges before it hands a terminal state to
		// the main loop, so that the last update is acknowledged before
		// the teardown.
		ManualAcknowledge: true,
	}, r)
	if err != nil {
		r.printf("%v", err)
		return exitUsage
	}
	runCtx, cancelRun := context.WithCancel(context.Background())
	defer cancelRun()
	runDone := make(chan error, 1)
	go func() { runDone <- drv.Run(runCtx) }()
	driverExited := false

	// Whatever happens, tear the framework down so nothing is left behind.
	defer func() {
		if !driverExited {
			r.mu.Lock()
			r.stopping = true
			r.mu.Unlock()
			if err := drv.Stop(false); err != nil {
				r.log.Info("agora run: teardown", "error", err)
			}
			select {
			case <-runDone:
			case <-time.After(teardownWait):
				cancelRun()
			}
		}
	}()

	var timeout <-chan time.Time
	if r.opts.timeout > 0 {
		t := time.NewTimer(r.opts.timeout)
		defer t.Stop()
		timeout = t.C
	}
	waiting := time.NewTicker(time.Second)
	defer waiting.Stop()
	var lastWaitMsg string
	// While no offer fits, ask the master what it sees, off the loop.
	began := time.Now()
	whyTimer := time.NewTimer(whyFirst)
	defer whyTimer.Stop()
	whyMsg := make(chan string, 1)
	asking := false // a question to the master is under way

	started := r.started // nil once streaming has begun
	var out *outputStreamer
	stopStreaming := func() {
		if out != nil {
			out.stop()
		}
	}
	defer stopStreaming()

	for {
		select {
		case st := <-r.terminal:
			r.finishOutput(drv, out, st)
			return exitCode(st)
		case msg := <-r.fatal:
			stopStreaming()
			r.printf("%s", msg)
			return exitFailure
		case err := <-runDone:
			driverExited = true
			stopStreaming()
			r.printf("%v", err)
			return exitFailure
		case <-timeout:
			if !r.isLaunched() {
				r.printf("%s", r.noOfferMessage(drv))
				return exitFailure
			}
		case <-whyTimer.C:
			if r.isLaunched() {
				continue
			}
			whyTimer.Reset(whyEvery)
			if !r.isRegistered() || asking {
				continue // the waiting ticker reports the master's errors
			}
			asking = true
			waited := time.Since(began).Round(time.Second)
			fid := drv.FrameworkID().GetValue()
			go func() { whyMsg <- r.waitMessage(waited, fid) }()
		case msg := <-whyMsg:
			asking = false
			if !r.isLaunched() {
				r.printf("%s", msg)
			}
		case <-waiting.C:
			if r.isRegistered() {
				continue
			}
			if err := drv.LastError(); err != nil && err.Error() != lastWaitMsg {
				lastWaitMsg = err.Error()
				r.printf("waiting for master %s: %v", r.opts.master, err)
			}
		case <-started:
			started = nil
			r.mu.Lock()
			offer := r.offer
			r.mu.Unlock()
			if offer != nil && out == nil {
				out = startOutput(agentBase(offer), drv.FrameworkID().GetValue(), r.taskID, r.agentRT, r.stdout, r.stderr, r.log)
			}
		case <-ctx.Done():
			return r.interrupted(drv, out)
		}
	}
}

func (r *runner) isLaunched() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.launched
}

func (r *runner) isRegistered() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.registered != ""
}

// finishOutput drains what the task wrote before it ended.
func (r *runner) finishOutput(drv *scheduler.Driver, out *outputStreamer, st *mesos.TaskStatus) {
	r.mu.Lock()
	offer := r.offer
	r.mu.Unlock()
	if out == nil {
		if offer == nil || st.GetState() == mesos.TaskState_TASK_ERROR || st.GetState() == mesos.TaskState_TASK_DROPPED {
			return
		}
		// The task ended before we saw it running: read it all now.
		out = newOutput(agentBase(offer), drv.FrameworkID().GetValue(), r.taskID, r.agentRT, r.stdout, r.stderr, r.log)
	} else {
		out.stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), drainWait)
	defer cancel()
	out.drain(ctx)
}

// interrupted kills the task, waits a bounded time for its end, and
// returns the exit status for an interrupted run.
func (r *runner) interrupted(drv *scheduler.Driver, out *outputStreamer) int {
	r.mu.Lock()
	offer := r.offer
	r.mu.Unlock()
	if offer == nil {
		r.printf("interrupted")
		if out != nil {
			out.stop()
		}
		return exitInterrupted
	}
	r.printf("%s interrupted; killing task %s", now(), r.taskID)
	if err := drv.KillTask(&mesos.TaskID{Value: proto.String(r.taskID)}, offer.GetAgentId()); err != nil {
		// Without a master there is nobody to wait for; agora run's
		// framework has failover_timeout 0, so the master removes it, and
		// its task, when it notices the connection gone.
		r.printf("kill failed: %v (the master removes the task with the framework)", err)
		if out != nil {
			out.stop()
		}
		return exitInterrupted
	}
	t := time.NewTimer(killWait)
	defer t.Stop()
	select {
	case st := <-r.terminal:
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if out != nil {
			out.stop()
			out.drain(ctx)
		}
		_ = st
	case <-t.C:
		r.printf("task %s did not end within %v; tearing the framework down", r.taskID, killWait)
		if out != nil {
			out.stop()
		}
	}
	return exitInterrupted
}
