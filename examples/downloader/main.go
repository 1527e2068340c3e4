// Command downloader is the scalable downloader of the seed "Lab 3 -
// Building an Executor" on Agora's Go SDK: one task per URL, run by a
// custom executor that downloads the URL into its sandbox.
//
//	downloader [flags] URL...
//
// As in the lab, the task's data is the URL; the executor (the lab's
// DownloaderExecutor) sends TASK_STARTING, issues the GET, sends
// TASK_RUNNING when the answer arrives, saves the body in its sandbox
// under the URL's last path segment, sends the framework message
// "movie <uri> returned <status>" and ends the task TASK_FINISHED. The
// scheduler (DownloaderScheduler) prints every framework message. Unlike
// the lab, an answer that is not 2xx ends the task TASK_FAILED, and the
// program exits 0 only if every download succeeded.
//
// The executor is this same program: the lab's "executor-all.jar" served
// on port 8000 becomes an HTTP server the scheduler itself runs, from
// which the agent fetches the binary into the sandbox (CommandInfo.URI,
// executable) and starts it with --executor. When every task has ended the
// framework is torn down.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/examples/internal/framework"
	"github.com/agora-dev/agora/examples/internal/taskexec"
	"github.com/agora-dev/agora/sdk/scheduler"
)

const name = "downloader"

const usage = `usage: downloader [flags] URL...

Downloads each URL (http or https) into the sandbox of a task on the
cluster, prints the executor's message "movie <uri> returned <status>" for
each, and exits 0 only if every download answered 2xx.

Flags:
` + framework.CommonUsage + `
Example:
  downloader http://example.com/trailer.mp4 http://example.com/poster.jpg
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if _, ok := taskexec.Role(args); ok {
		return taskexec.Main(download)
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var flags framework.Flags
	flags.Define(fs, 5*time.Minute)
	if ok, code := framework.Parse(fs, args, usage, stdout, stderr); !ok {
		return code
	}
	urls := fs.Args()
	if len(urls) == 0 {
		return framework.UsageError(stderr, name, errors.New("no URL given"))
	}
	for _, u := range urls {
		if err := checkURL(u); err != nil {
			return framework.UsageError(stderr, name, err)
		}
	}

	bin, err := framework.ServeBinary(flags.Serve, name)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return framework.ExitFailure
	}
	defer bin.Close()
	s := &downloader{out: stdout, outcome: framework.NewOutcome(), urls: urls, ended: make(map[int]bool)}
	s.queue.Log = stderr
	exec := bin.Executor("downloader-executor", "download")
	for i, u := range urls {
		s.queue.Add(nil, framework.Pending{
			Task: &mesos.TaskInfo{
				Name:   proto.String("download " + u),
				TaskId: &mesos.TaskID{Value: proto.String(fmt.Sprintf("download-%d", i))},
				Data:   []byte(u),
			},
			Want:     scheduler.Resources{Cpus: 0.1, Mem: 32},
			Executor: exec,
		})
	}
	sess := &framework.Session{
		Flags:     flags,
		Framework: framework.Info("Downloader"),
		Scheduler: s,
		Outcome:   s.outcome,
		Stderr:    stderr,
	}
	return framework.Exit(stderr, name, sess.Run(context.Background()))
}

func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("bad URL %q: %v", raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("bad URL %q: want an http or https URL with a host", raw)
	}
	return nil
}

// downloader is the scheduler.
type downloader struct {
	scheduler.NopScheduler
	out     io.Writer
	outcome *framework.Outcome
	urls    []string
	queue   framework.Queue

	mu     sync.Mutex
	ended  map[int]bool // task index → succeeded
	failed int
}

func (s *downloader) ResourceOffers(d *scheduler.Driver, offers []*mesos.Offer) {
	s.queue.Offers(d, offers)
}

func (s *downloader) ExecutorLost(_ *scheduler.Driver, e *mesos.ExecutorID, a *mesos.AgentID, _ int) {
	s.queue.ExecutorGone(a, e)
}

// FrameworkMessage prints what the executor reports, as the lab does.
func (s *downloader) FrameworkMessage(_ *scheduler.Driver, _ *mesos.AgentID, _ *mesos.ExecutorID, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.out, "%s\n", data)
}

func (s *downloader) StatusUpdate(d *scheduler.Driver, st *mesos.TaskStatus) {
	var i int
	if _, err := fmt.Sscanf(st.GetTaskId().GetValue(), "download-%d", &i); err != nil || i < 0 || i >= len(s.urls) {
		return
	}
	if !framework.Terminal(st.GetState()) {
		return
	}
	s.mu.Lock()
	if _, seen := s.ended[i]; seen {
		s.mu.Unlock()
		return
	}
	ok := st.GetState() == mesos.TaskState_TASK_FINISHED
	s.ended[i] = ok
	if !ok {
		s.failed++
		fmt.Fprintf(s.out, "%s: %s\n", s.urls[i], framework.Describe(st))
	}
	done, failed := len(s.ended) == len(s.urls), s.failed
	s.mu.Unlock()
	if done && failed > 0 {
		s.outcome.Done(fmt.Errorf("%d of %d downloads failed", failed, len(s.urls)))
	} else if done {
		s.outcome.Done(nil)
	}
}

func (s *downloader) Progress() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("%d of %d downloads ended, %d not launched yet", len(s.ended), len(s.urls), s.queue.Len())
}

var client = &http.Client{Timeout: 10 * time.Minute}

// download is the executor's side: the lab's DownloaderExecutor.launchTask.
func download(ctx context.Context, t *taskexec.Task) taskexec.Result {
	uri := string(t.Info.GetData())
	if err := checkURL(uri); err != nil {
		return taskexec.Failed("%v", err)
	}
	t.Update(mesos.TaskState_TASK_STARTING, "")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return taskexec.Failed("%v", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Message(fmt.Appendf(nil, "movie %s failed: %v", uri, err))
		return taskexec.Failed("GET %s: %v", uri, err)
	}
	defer resp.Body.Close()
	t.Update(mesos.TaskState_TASK_RUNNING, "")
	file := fileName(uri)
	n, err := save(file, resp.Body)
	if err != nil {
		t.Message(fmt.Appendf(nil, "movie %s failed: %v", uri, err))
		return taskexec.Failed("saving %s: %v", uri, err)
	}
	t.Message(fmt.Appendf(nil, "movie %s returned %d", uri, resp.StatusCode))
	if resp.StatusCode/100 != 2 {
		return taskexec.Failed("GET %s: HTTP %s", uri, resp.Status)
	}
	return taskexec.Result{State: mesos.TaskState_TASK_FINISHED, Message: fmt.Sprintf("saved %d bytes as %s", n, file)}
}

// fileName is the lab's "." + uri.substring(uri.lastIndexOf("/")), kept
// inside the sandbox.
func fileName(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return "download"
	}
	base := path.Base(u.Path)
	if base == "" || base == "." || base == "/" || base == ".." {
		return "index.html"
	}
	return base
}

func save(file string, r io.Reader) (int64, error) {
	f, err := os.Create(file)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}
