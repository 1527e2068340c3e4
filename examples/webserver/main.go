// Command webserver is the long-running task of the seed "Mesos Execution
// In Java": an HTTP server, started by a custom executor, that serves a
// directory listing.
//
//	webserver [flags]
//
// In the post, the scheduler launches a task on a custom executor
// (MesosExecutor) that sends TASK_RUNNING and starts a Python server
// serving a directory listing on port 8080. Here the scheduler takes a
// port from the offer's "ports" resource instead of assuming 8080, and
// the executor — this same program, fetched by the agent from an HTTP
// server the scheduler runs, started with --executor — serves a listing of
// its sandbox on the agent's IP and that port, and sends TASK_RUNNING once
// it listens. The scheduler then prints the server's URL (http://IP:PORT)
// and keeps the task running until Ctrl-C (or SIGTERM), which kills the
// task, waits for TASK_KILLED and tears the framework down.
//
// The TaskInfo carries an HTTP health check on the server's port, so that
// an agent that evaluates health checks reports the task's health.
package main

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
	"strconv"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/examples/internal/framework"
	"github.com/agora-dev/agora/examples/internal/taskexec"
	"github.com/agora-dev/agora/sdk/scheduler"
)

const (
	name   = "webserver"
	taskID = "webserver"
)

const usage = `usage: webserver [flags]

Runs an HTTP server as a task on the cluster, serving a listing of the
task's sandbox on a port taken from an offer; prints its URL and runs until
Ctrl-C, which kills the task and tears the framework down.

Flags:
  --timeout=DURATION  give up if the server is not running within DURATION
                      (default 2m)
` + framework.CommonUsage

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if _, ok := taskexec.Role(args); ok {
		return taskexec.Main(serve)
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var flags framework.Flags
	flags.Define(fs, 2*time.Minute)
	if ok, code := framework.Parse(fs, args, usage, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return framework.UsageError(stderr, name, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}

	bin, err := framework.ServeBinary(flags.Serve, name)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return framework.ExitFailure
	}
	defer bin.Close()
	s := &webserver{
		out:      stdout,
		outcome:  framework.NewOutcome(),
		executor: bin.Executor("webserver-executor", "http"),
		killed:   make(chan struct{}),
	}
	// --timeout bounds the start only: once running, the server runs
	// until interrupted.
	startTimeout := flags.Timeout
	flags.Timeout = 0
	if startTimeout > 0 {
		t := time.AfterFunc(startTimeout, func() {
			s.outcome.Done(fmt.Errorf("timed out after %v: %s", startTimeout, s.Progress()))
		})
		defer t.Stop()
	}
	sess := &framework.Session{
		Flags:     flags,
		Framework: framework.Info("Web server"),
		Scheduler: s,
		Outcome:   s.outcome,
		Stderr:    stderr,
		Cleanup:   s.kill,
	}
	err = sess.Run(context.Background())
	if errors.Is(err, framework.ErrInterrupted) {
		fmt.Fprintf(stderr, "%s: stopped\n", name)
		return framework.ExitOK
	}
	return framework.Exit(stderr, name, err)
}

// server is the task's data: where to listen.
type server struct {
	IP   string `json:"ip"`
	Port uint64 `json:"port"`
}

func (sv server) url() string {
	return "http://" + net.JoinHostPort(sv.IP, strconv.FormatUint(sv.Port, 10))
}

// webserver is the scheduler.
type webserver struct {
	scheduler.NopScheduler
	out      io.Writer
	outcome  *framework.Outcome
	executor *mesos.ExecutorInfo
	killed   chan struct{} // closed at the task's terminal update

	mu       sync.Mutex
	launched bool
	running  bool
	ended    bool
	agent    *mesos.AgentID
	offers   int
}

func (s *webserver) ResourceOffers(d *scheduler.Driver, offers []*mesos.Offer) {
	var decline []*mesos.OfferID
	for _, offer := range offers {
		s.mu.Lock()
		launched := s.launched
		s.offers++
		s.mu.Unlock()
		if launched {
			decline = append(decline, offer.GetId())
			continue
		}
		task, ok := s.task(offer)
		if !ok {
			decline = append(decline, offer.GetId())
			continue
		}
		if err := d.LaunchTasks([]*mesos.OfferID{offer.GetId()}, []*mesos.TaskInfo{task}, scheduler.RefuseSeconds(3600)); err != nil {
			fmt.Fprintf(os.Stderr, "%s: launching on agent %s: %v\n", name, offer.GetAgentId().GetValue(), err)
			continue
		}
		s.mu.Lock()
		s.launched, s.agent = true, offer.GetAgentId()
		s.mu.Unlock()
	}
	if len(decline) > 0 {
		s.mu.Lock()
		refuse := 1.0
		if s.launched {
			refuse = 3600
		}
		s.mu.Unlock()
		_ = d.DeclineOffers(decline, scheduler.RefuseSeconds(refuse))
	}
}

// task builds the server's task on an offer with a free port.
func (s *webserver) task(offer *mesos.Offer) (*mesos.TaskInfo, bool) {
	p := scheduler.NewPacker(offer)
	execRes, ok := p.Reserve(framework.ExecutorResources)
	if !ok {
		return nil, false
	}
	res, ok := p.Reserve(scheduler.Resources{Cpus: 0.1, Mem: 32, Ports: 1})
	if !ok {
		return nil, false
	}
	ports := scheduler.RangesOf(res, "ports")
	sv := server{IP: offer.GetUrl().GetAddress().GetIp(), Port: ports[0][0]}
	if sv.IP == "" {
		sv.IP = offer.GetHostname()
	}
	data, _ := json.Marshal(sv)
	exec := proto.Clone(s.executor).(*mesos.ExecutorInfo)
	exec.Resources = execRes
	return &mesos.TaskInfo{
		Name:      proto.String("web server"),
		TaskId:    &mesos.TaskID{Value: proto.String(taskID)},
		AgentId:   offer.GetAgentId(),
		Resources: res,
		Executor:  exec,
		Data:      data,
		HealthCheck: &mesos.HealthCheck{
			Type: mesos.HealthCheck_HTTP.Enum(),
			Http: &mesos.HealthCheck_HTTPCheckInfo{
				Port: proto.Uint32(uint32(sv.Port)),
				Path: proto.String("/"),
			},
			DelaySeconds:        proto.Float64(1),
			IntervalSeconds:     proto.Float64(10),
			TimeoutSeconds:      proto.Float64(5),
			GracePeriodSeconds:  proto.Float64(10),
			ConsecutiveFailures: proto.Uint32(3),
		},
	}, true
}

func (s *webserver) StatusUpdate(d *scheduler.Driver, st *mesos.TaskStatus) {
	if st.GetTaskId().GetValue() != taskID {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case st.GetState() == mesos.TaskState_TASK_RUNNING && !s.running:
		s.running = true
		var sv server
		if err := json.Unmarshal(st.GetData(), &sv); err != nil {
			s.outcome.Done(fmt.Errorf("the executor did not say where it listens: %q", st.GetData()))
			return
		}
		fmt.Fprintf(s.out, "%s\n", sv.url())
	case st.GetState() == mesos.TaskState_TASK_RUNNING && st.Healthy != nil:
		// A health check result, when the agent evaluates them.
		if !st.GetHealthy() {
			fmt.Fprintf(s.out, "health check failed: %s\n", st.GetMessage())
		}
	case framework.Terminal(st.GetState()) && !s.ended:
		s.ended = true
		fmt.Fprintf(s.out, "task %s %s\n", taskID, framework.Describe(st))
		close(s.killed)
		s.outcome.Done(fmt.Errorf("the server ended: %s", framework.Describe(st)))
	}
}

// kill kills the task and waits for its end, before the teardown.
func (s *webserver) kill(ctx context.Context, d *scheduler.Driver) {
	s.mu.Lock()
	launched, ended, agent := s.launched, s.ended, s.agent
	s.mu.Unlock()
	if !launched || ended {
		return
	}
	if err := d.KillTask(&mesos.TaskID{Value: proto.String(taskID)}, agent); err != nil {
		fmt.Fprintf(os.Stderr, "%s: killing the task: %v\n", name, err)
		return
	}
	select {
	case <-s.killed:
	case <-ctx.Done():
		fmt.Fprintf(os.Stderr, "%s: no TASK_KILLED yet; tearing down anyway\n", name)
	}
}

func (s *webserver) Progress() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.launched:
		return "the task was launched but is not running yet"
	case s.offers > 0:
		return fmt.Sprintf("none of %d offers had cpus:%g;mem:%g and a port free", s.offers, 0.1+framework.ExecutorResources.Cpus, 32+framework.ExecutorResources.Mem)
	default:
		return "no offer yet"
	}
}

// serve is the executor's side: listen where the task says, report
// TASK_RUNNING with the address, and serve the sandbox until killed.
func serve(ctx context.Context, t *taskexec.Task) taskexec.Result {
	var sv server
	if err := json.Unmarshal(t.Info.GetData(), &sv); err != nil {
		return taskexec.Failed("bad task data: %v", err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(sv.IP, strconv.FormatUint(sv.Port, 10)))
	if err != nil {
		return taskexec.Failed("%v", err)
	}
	dir, err := os.Getwd()
	if err != nil {
		return taskexec.Failed("%v", err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(dir)), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	data, _ := json.Marshal(sv)
	t.UpdateData(mesos.TaskState_TASK_RUNNING, "serving "+sv.url(), data)
	select {
	case err := <-served:
		return taskexec.Failed("server stopped: %v", err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		return taskexec.Result{State: mesos.TaskState_TASK_KILLED, Message: "server stopped"}
	}
}
