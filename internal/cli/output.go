package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/agora-dev/agora/sdk/scheduler"
)

// outputStreamer copies a task's stdout and stderr from its sandbox on the
// agent, through the agent's /state (to find the sandbox) and
// /files/read endpoints, as the Mesos web UI does.
type outputStreamer struct {
	base        string // agent URL, http://ip:port
	frameworkID string
	taskID      string
	files       [2]sandboxFile
	client      *http.Client
	log         *slog.Logger
	dir         string

	cancel context.CancelFunc
	done   chan struct{}
}

type sandboxFile struct {
	name   string
	w      io.Writer
	offset int64
}

func newOutput(base, frameworkID, taskID string, rt http.RoundTripper, stdout, stderr io.Writer, log *slog.Logger) *outputStreamer {
	return &outputStreamer{
		base:        base,
		frameworkID: frameworkID,
		taskID:      taskID,
		files:       [2]sandboxFile{{name: "stdout", w: stdout}, {name: "stderr", w: stderr}},
		client:      &http.Client{Timeout: 10 * time.Second, Transport: rt},
		log:         log,
	}
}

// startOutput polls the task's output in the background until stop.
func startOutput(base, frameworkID, taskID string, rt http.RoundTripper, stdout, stderr io.Writer, log *slog.Logger) *outputStreamer {
	s := newOutput(base, frameworkID, taskID, rt, stdout, stderr, log)
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(pollInterval)
		defer t.Stop()
		for {
			s.poll(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// stop ends background polling and waits for it; drain may follow.
func (s *outputStreamer) stop() {
	if s.cancel != nil {
		s.cancel()
		<-s.done
		s.cancel = nil
	}
}

// drain reads until both files are exhausted, the sandbox cannot be found,
// or ctx ends.
func (s *outputStreamer) drain(ctx context.Context) {
	for s.dir == "" {
		if err := s.findSandbox(ctx); err == nil {
			break
		} else {
			s.log.Debug("agora run: sandbox not found", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pollInterval):
		}
	}
	for i := range s.files {
		for ctx.Err() == nil {
			n, err := s.read(ctx, &s.files[i])
			if err != nil || n == 0 {
				break
			}
		}
	}
}

// poll copies whatever is new in both files.
func (s *outputStreamer) poll(ctx context.Context) {
	if s.dir == "" {
		if err := s.findSandbox(ctx); err != nil {
			s.log.Debug("agora run: sandbox not found yet", "error", err)
			return
		}
	}
	for i := range s.files {
		for range 16 { // catch up on a burst, a bounded number of reads
			n, err := s.read(ctx, &s.files[i])
			if err != nil {
				s.log.Debug("agora run: reading sandbox file", "file", s.files[i].name, "error", err)
			}
			if err != nil || n == 0 {
				break
			}
		}
	}
}

type agentState struct {
	Frameworks          []agentFramework `json:"frameworks"`
	CompletedFrameworks []agentFramework `json:"completed_frameworks"`
}

type agentFramework struct {
	ID                 string          `json:"id"`
	Executors          []agentExecutor `json:"executors"`
	CompletedExecutors []agentExecutor `json:"completed_executors"`
}

type agentExecutor struct {
	ID        string `json:"id"`
	Directory string `json:"directory"`
}

// findSandbox looks the command executor (whose id is the task id) up in
// the agent's /state.
func (s *outputStreamer) findSandbox(ctx context.Context) error {
	var st agentState
	if err := getJSON(ctx, s.client, s.base+"/state", &st); err != nil {
		return err
	}
	for _, fw := range append(st.Frameworks, st.CompletedFrameworks...) {
		if fw.ID != s.frameworkID {
			continue
		}
		for _, ex := range append(fw.Executors, fw.CompletedExecutors...) {
			if ex.ID == s.taskID && ex.Directory != "" {
				s.dir = ex.Directory
				return nil
			}
		}
	}
	return fmt.Errorf("no executor %q of framework %q on agent %s", s.taskID, s.frameworkID, s.base)
}

type filesRead struct {
	Data   string `json:"data"`
	Offset int64  `json:"offset"`
}

// read copies the next chunk of one file and returns its length; a file
// that does not exist yet reads as empty.
func (s *outputStreamer) read(ctx context.Context, f *sandboxFile) (int, error) {
	q := url.Values{}
	q.Set("path", strings.TrimSuffix(s.dir, "/")+"/"+f.name)
	q.Set("offset", fmt.Sprint(f.offset))
	var r filesRead
	err := getJSON(ctx, s.client, s.base+"/files/read?"+q.Encode(), &r)
	if err != nil {
		if he, ok := err.(*httpError); ok && he.code == http.StatusNotFound {
			return 0, nil
		}
		return 0, err
	}
	if r.Data == "" {
		return 0, nil
	}
	if _, err := io.WriteString(f.w, r.Data); err != nil {
		return 0, err
	}
	f.offset += int64(len(r.Data))
	return len(r.Data), nil
}

type httpError struct {
	url  string
	code int
	body string
}

func (e *httpError) Error() string {
	return fmt.Sprintf("GET %s: %d %s %s", e.url, e.code, http.StatusText(e.code), e.body)
}

func getJSON(ctx context.Context, client *http.Client, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return &httpError{url: u, code: resp.StatusCode, body: strings.TrimSpace(string(b))}
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// clusterWhy asks the leading master for its state (GET_STATE, as `agora
// task` does) and explains why no offer fitting the task reaches the
// framework fid.
func (r *runner) clusterWhy(fid string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	oc := &opClient{master: r.opts.master}
	st, err := oc.state(ctx)
	if err != nil {
		return fmt.Sprintf("the cluster's state is unavailable (%v)", err)
	}
	return whyNoOffer(newView(st), r.opts.want, r.opts.role, fid)
}

// waitMessage is what agora run prints while no offer fits.
func (r *runner) waitMessage(waited time.Duration, fid string) string {
	return fmt.Sprintf("no offer fitting %s after %v: %s", r.opts.want, waited, r.clusterWhy(fid))
}

// noOfferMessage explains why no offer fitted within --timeout.
func (r *runner) noOfferMessage(drv *scheduler.Driver) string {
	if !r.isRegistered() {
		msg := fmt.Sprintf("could not subscribe to master %s within %v", r.opts.master, r.opts.timeout)
		if err := drv.LastError(); err != nil {
			msg += ": " + err.Error()
		}
		return msg
	}
	msg := fmt.Sprintf("no offer fitting %s within %v", r.opts.want, r.opts.timeout)
	msg += ": " + r.clusterWhy(drv.FrameworkID().GetValue())
	r.mu.Lock()
	seen, largest := r.offersSeen, r.largest
	r.mu.Unlock()
	if seen > 0 {
		msg += fmt.Sprintf("; %d offer(s) did not fit, the largest: %s", seen, scheduler.Describe(largest.GetResources()))
	} else {
		msg += "; no offers were received"
	}
	if r.opts.role != "*" {
		msg += fmt.Sprintf(" (for role %q)", r.opts.role)
	}
	return msg
}
