// Command crawler is the mesos-pinspider framework of the seed "how to
// write your own framework on mesos" on Agora's Go SDK, crawling a web
// site instead of Pinterest.
//
//	crawler [flags] URL
//
// Pinspider's scheduler (PinScheduler) keeps a crawl queue and, for each
// entry, launches two tasks whose data is the URL: one on the user-profile
// executor (PinUserProfileExecutor) and one on the user-board executor;
// each executor fetches its information, sends it to the scheduler as a
// framework message and finishes the task. Here the profile executor
// fetches a page and reports its title, and the links executor fetches it
// and reports the links it holds; the scheduler prints each title and
// feeds the links back into the queue, breadth first, from URL: same host
// only, each page crawled once (one GET by each executor), at most
// --max-pages pages. At the end it prints "N pages" and tears the
// framework down.
//
// Framework messages are best effort, so each executor also returns its
// result in its task's TASK_FINISHED data; whichever arrives first is
// used. Both executors are this same program, fetched by the agents from
// an HTTP server the scheduler runs, and started with --executor=profile
// or --executor=links. Pages are read with regular expressions, not an
// HTML parser: enough for the <title> and <a href> of ordinary pages.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/examples/internal/framework"
	"github.com/agora-dev/agora/examples/internal/taskexec"
	"github.com/agora-dev/agora/sdk/scheduler"
)

const name = "crawler"

const usage = `usage: crawler [flags] URL

Crawls the web site at URL breadth first (same host only, each page once)
with two executors on the cluster — one reports each page's title, the
other its links — prints every page's title and URL, then "N pages".

Flags:
  --max-pages=N       crawl at most N pages (default 50)
` + framework.CommonUsage + `
Example:
  crawler --max-pages=20 http://127.0.0.1:8000/
`

// Roles of the two executors.
const (
	roleProfile = "profile"
	roleLinks   = "links"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if role, ok := taskexec.Role(args); ok {
		switch role {
		case roleProfile:
			return taskexec.Main(profile)
		case roleLinks:
			return taskexec.Main(links)
		}
		fmt.Fprintf(stderr, "%s: unknown executor role %q\n", name, role)
		return framework.ExitUsage
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var flags framework.Flags
	flags.Define(fs, 5*time.Minute)
	maxPages := fs.Int("max-pages", 50, "")
	if ok, code := framework.Parse(fs, args, usage, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() != 1 {
		return framework.UsageError(stderr, name, fmt.Errorf("want one URL, got %d arguments", fs.NArg()))
	}
	if *maxPages < 1 {
		return framework.UsageError(stderr, name, errors.New("--max-pages must be at least 1"))
	}
	start, err := url.Parse(fs.Arg(0))
	if err != nil || (start.Scheme != "http" && start.Scheme != "https") || start.Host == "" {
		return framework.UsageError(stderr, name, fmt.Errorf("bad URL %q: want an http or https URL with a host", fs.Arg(0)))
	}

	bin, err := framework.ServeBinary(flags.Serve, name)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return framework.ExitFailure
	}
	defer bin.Close()
	s := &crawler{
		out:      stdout,
		errOut:   stderr,
		outcome:  framework.NewOutcome(),
		host:     strings.ToLower(start.Host),
		maxPages: *maxPages,
		profile:  bin.Executor("profile-executor", roleProfile),
		links:    bin.Executor("links-executor", roleLinks),
		index:    make(map[string]int),
	}
	s.queue.Log = stderr
	s.enqueue(nil, normalize(start))
	sess := &framework.Session{
		Flags:     flags,
		Framework: framework.Info("Crawler"),
		Scheduler: s,
		Outcome:   s.outcome,
		Stderr:    stderr,
	}
	err = sess.Run(context.Background())
	if err == nil {
		s.mu.Lock()
		fmt.Fprintf(stdout, "%d pages\n", s.crawled)
		s.mu.Unlock()
	}
	return framework.Exit(stderr, name, err)
}

// report is what an executor sends back: as a framework message and as
// the data of its TASK_FINISHED update.
type report struct {
	Kind  string   `json:"kind"` // roleProfile or roleLinks
	URL   string   `json:"url"`
	Title string   `json:"title,omitempty"`
	Links []string `json:"links,omitempty"`
}

// page is one page of the crawl.
type page struct {
	url         string
	gotProfile  bool
	gotLinks    bool
	ended       int // tasks ended (of 2)
	failMessage string
}

// crawler is the scheduler: pinspider's PinScheduler.
type crawler struct {
	scheduler.NopScheduler
	out, errOut    io.Writer
	outcome        *framework.Outcome
	host           string
	maxPages       int
	profile, links *mesos.ExecutorInfo
	queue          framework.Queue

	mu      sync.Mutex
	pages   []*page
	index   map[string]int // url → page number
	crawled int            // pages whose profile arrived
}

// enqueue adds a page not seen before, within --max-pages, with its two
// tasks.
func (s *crawler) enqueue(d *scheduler.Driver, u string) {
	s.mu.Lock()
	if _, seen := s.index[u]; seen || len(s.pages) >= s.maxPages {
		s.mu.Unlock()
		return
	}
	n := len(s.pages)
	s.index[u] = n
	s.pages = append(s.pages, &page{url: u})
	s.mu.Unlock()
	task := func(role string, e *mesos.ExecutorInfo) framework.Pending {
		return framework.Pending{
			Task: &mesos.TaskInfo{
				Name:   proto.String(role + " " + u),
				TaskId: &mesos.TaskID{Value: proto.String(fmt.Sprintf("%s-%d", role, n))},
				Data:   []byte(u),
			},
			Want:     scheduler.Resources{Cpus: 0.1, Mem: 32},
			Executor: e,
		}
	}
	s.queue.Add(d, task(roleProfile, s.profile), task(roleLinks, s.links))
}

func (s *crawler) ResourceOffers(d *scheduler.Driver, offers []*mesos.Offer) {
	s.queue.Offers(d, offers)
}

func (s *crawler) ExecutorLost(_ *scheduler.Driver, e *mesos.ExecutorID, a *mesos.AgentID, _ int) {
	s.queue.ExecutorGone(a, e)
}

func (s *crawler) FrameworkMessage(d *scheduler.Driver, _ *mesos.AgentID, _ *mesos.ExecutorID, data []byte) {
	var r report
	if err := json.Unmarshal(data, &r); err != nil {
		fmt.Fprintf(s.errOut, "%s: ignoring a framework message that is not a report: %q\n", name, data)
		return
	}
	s.handle(d, r)
}

// handle takes a report the first time it arrives.
func (s *crawler) handle(d *scheduler.Driver, r report) {
	s.mu.Lock()
	n, ok := s.index[r.URL]
	if !ok {
		s.mu.Unlock()
		return
	}
	p := s.pages[n]
	var follow []string
	switch r.Kind {
	case roleProfile:
		if p.gotProfile {
			s.mu.Unlock()
			return
		}
		p.gotProfile = true
		s.crawled++
		fmt.Fprintf(s.out, "%q %s\n", r.Title, r.URL)
	case roleLinks:
		if p.gotLinks {
			s.mu.Unlock()
			return
		}
		p.gotLinks = true
		follow = r.Links
	}
	s.mu.Unlock()
	for _, l := range follow {
		u, err := url.Parse(l)
		if err != nil || strings.ToLower(u.Host) != s.host || (u.Scheme != "http" && u.Scheme != "https") {
			continue
		}
		s.enqueue(d, normalize(u))
	}
}

func (s *crawler) StatusUpdate(d *scheduler.Driver, st *mesos.TaskStatus) {
	if !framework.Terminal(st.GetState()) {
		return
	}
	role, num, ok := strings.Cut(st.GetTaskId().GetValue(), "-")
	var n int
	if _, err := fmt.Sscanf(num, "%d", &n); !ok || err != nil {
		return
	}
	if st.GetState() == mesos.TaskState_TASK_FINISHED {
		var r report
		if err := json.Unmarshal(st.GetData(), &r); err == nil {
			s.handle(d, r)
		}
	}
	s.mu.Lock()
	if n < 0 || n >= len(s.pages) {
		s.mu.Unlock()
		return
	}
	p := s.pages[n]
	p.ended++
	if st.GetState() != mesos.TaskState_TASK_FINISHED && p.failMessage == "" {
		p.failMessage = framework.Describe(st)
		fmt.Fprintf(s.errOut, "%s: %s (%s task): %s\n", name, p.url, role, p.failMessage)
	}
	done := s.queue.Len() == 0
	for _, p := range s.pages {
		done = done && p.ended == 2
	}
	crawled := s.crawled
	s.mu.Unlock()
	switch {
	case done && crawled == 0:
		s.outcome.Done(errors.New("no page could be crawled"))
	case done:
		s.outcome.Done(nil)
	}
}

func (s *crawler) Progress() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("%d pages found, %d crawled, %d tasks not launched yet", len(s.pages), s.crawled, s.queue.Len())
}

// normalize drops the fragment and gives an empty path "/", so that each
// page has one spelling.
func normalize(u *url.URL) string {
	c := *u
	c.Fragment, c.RawFragment = "", ""
	c.Host = strings.ToLower(c.Host)
	if c.Path == "" {
		c.Path = "/"
	}
	return c.String()
}

var (
	client  = &http.Client{Timeout: time.Minute}
	titleRE = regexp.MustCompile(`(?is)<title[^>]*>(.*?)</title>`)
	hrefRE  = regexp.MustCompile(`(?is)<a\s[^>]*?href\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+))`)
	spaceRE = regexp.MustCompile(`\s+`)
)

const maxPageSize = 4 << 20

// fetch GETs a page for an executor of the given role.
func fetch(ctx context.Context, t *taskexec.Task, role string) (*url.URL, []byte, error) {
	raw := string(t.Info.GetData())
	u, err := url.Parse(raw)
	if err != nil {
		return nil, nil, err
	}
	t.Update(mesos.TaskState_TASK_RUNNING, "")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("User-Agent", "agora-crawler-"+role)
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return nil, nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		if mt, _, _ := mime.ParseMediaType(ct); mt != "text/html" && mt != "application/xhtml+xml" {
			return u, nil, nil // not a page: no title, no links
		}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPageSize))
	return u, body, err
}

// send returns a report both ways: framework message and task data.
func send(t *taskexec.Task, r report) taskexec.Result {
	data, _ := json.Marshal(r)
	t.Message(data)
	return taskexec.Finished(data)
}

// profile is the profile executor's task: the page's title.
func profile(ctx context.Context, t *taskexec.Task) taskexec.Result {
	_, body, err := fetch(ctx, t, roleProfile)
	if err != nil {
		return taskexec.Failed("%v", err)
	}
	r := report{Kind: roleProfile, URL: string(t.Info.GetData())}
	if m := titleRE.FindSubmatch(body); m != nil {
		r.Title = strings.TrimSpace(spaceRE.ReplaceAllString(html.UnescapeString(string(m[1])), " "))
	}
	return send(t, r)
}

// links is the links executor's task: the absolute URLs the page links to.
func links(ctx context.Context, t *taskexec.Task) taskexec.Result {
	base, body, err := fetch(ctx, t, roleLinks)
	if err != nil {
		return taskexec.Failed("%v", err)
	}
	r := report{Kind: roleLinks, URL: string(t.Info.GetData())}
	seen := map[string]bool{}
	for _, m := range hrefRE.FindAllSubmatch(body, -1) {
		ref := strings.TrimSpace(html.UnescapeString(string(m[1]) + string(m[2]) + string(m[3])))
		target, err := base.Parse(ref)
		if err != nil || (target.Scheme != "http" && target.Scheme != "https") {
			continue
		}
		if abs := normalize(target); !seen[abs] {
			seen[abs] = true
			r.Links = append(r.Links, abs)
		}
	}
	return send(t, r)
}
