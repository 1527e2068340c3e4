package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The example frameworks of examples/, each built once (with -race) and
// run against a real cluster: a master and two agents as processes.

var (
	exampleMu   sync.Mutex
	exampleBins = map[string]string{}
)

// exampleBin builds examples/<name> next to the agora binary (removed by
// TestMain).
func exampleBin(t *testing.T, name string) string {
	t.Helper()
	exampleMu.Lock()
	defer exampleMu.Unlock()
	if bin, ok := exampleBins[name]; ok {
		return bin
	}
	bin := filepath.Join(filepath.Dir(agoraBin), name)
	out, err := exec.Command("go", "build", "-race", "-o", bin, "github.com/agora-dev/agora/examples/"+name).CombinedOutput()
	if err != nil {
		t.Fatalf("building examples/%s: %v\n%s", name, err, out)
	}
	exampleBins[name] = bin
	return bin
}

// runExample runs an example to its end within a minute.
func runExample(t *testing.T, name string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	bin := exampleBin(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s %v: %v", name, args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %v did not end within its deadline\nstdout:\n%s\nstderr:\n%s", name, args, o.String(), e.String())
	}
	t.Logf("%s %s: exit %d\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), code, o.String(), e.String())
	return o.String(), e.String(), code
}

// assertClean waits until the master knows no framework and no running
// task, and no agent has a framework (every executor has exited).
func assertClean(t *testing.T, master string, agents []string) {
	t.Helper()
	type fw struct {
		Tasks []struct{ State string }
	}
	var ms struct {
		Frameworks          []fw
		CompletedFrameworks []fw `json:"completed_frameworks"`
	}
	waitFor(t, 20*time.Second, "no framework left on the master", func() bool {
		return getJSON(t, "http://"+master+"/master/state", &ms) == nil && len(ms.Frameworks) == 0
	})
	for _, f := range ms.CompletedFrameworks {
		for _, task := range f.Tasks {
			t.Errorf("completed framework still lists a task in state %s", task.State)
		}
	}
	for _, a := range agents {
		var as struct{ Frameworks []any }
		waitFor(t, 20*time.Second, "no framework left on agent "+a, func() bool {
			return getJSON(t, "http://"+a+"/state", &as) == nil && len(as.Frameworks) == 0
		})
	}
}

func TestExampleMonteCarlo(t *testing.T) {
	master, agents := cluster(t, 2)
	out, errOut, code := runExample(t, "montecarlo", "--master="+master, "--timeout=60s", "--tasks=4", "1x2", "0", "1", "0", "1", "300")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	m := regexp.MustCompile(`(?m)^area=([0-9.e+-]+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no area=<value> in output:\n%s", out)
	}
	area, err := strconv.ParseFloat(m[1], 64)
	// The book's grid: deterministic, within 1% at a few hundred POINTS.
	if err != nil || math.Abs(area-1.0/3) > 0.01/3 {
		t.Errorf("area=%s, want 1/3 ± 1%%", m[1])
	}
	if n := strings.Count(out, "points under the curve"); n != 4 {
		t.Errorf("%d task results, want 4:\n%s", n, out)
	}
	assertClean(t, master, agents)

	// A malformed expression is a usage error, before anything launches.
	_, errOut, code = runExample(t, "montecarlo", "--master="+master, "3x2+", "0", "1", "0", "1", "100")
	if code != 2 || !strings.Contains(errOut, "bad expression") {
		t.Errorf("malformed expression: exit %d, stderr %q", code, errOut)
	}
	var ms struct {
		CompletedFrameworks []any `json:"completed_frameworks"`
	}
	if err := getJSON(t, "http://"+master+"/master/state", &ms); err != nil || len(ms.CompletedFrameworks) != 1 {
		t.Errorf("after the malformed expression: %d completed frameworks (err %v), want 1", len(ms.CompletedFrameworks), err)
	}
}

func TestExampleFunctions(t *testing.T) {
	master, agents := cluster(t, 2)
	out, errOut, code := runExample(t, "functions", "--master="+master, "--timeout=60s", "--count=4")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for i := range 4 {
		if want := fmt.Sprintf("greet(%d) = \"hi%d\"\n", i, i); !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "fib(25) = 75025\n") {
		t.Errorf("output lacks fib(25) = 75025:\n%s", out)
	}
	assertClean(t, master, agents)
}

func TestExampleDownloader(t *testing.T) {
	master, agents := cluster(t, 2)
	files := map[string]string{"/movies/a.mp4": "movie a", "/movies/b.mp4": strings.Repeat("b", 100000), "/poster.jpg": "poster"}
	var mu sync.Mutex
	hits := map[string]int{}
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[r.URL.Path]++
		mu.Unlock()
		body, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(body))
	}))
	defer site.Close()

	var urls []string
	for p := range files {
		urls = append(urls, site.URL+p)
	}
	out, errOut, code := runExample(t, "downloader", append([]string{"--master=" + master, "--timeout=60s"}, urls...)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, u := range urls {
		if want := "movie " + u + " returned 200\n"; !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	mu.Lock()
	for p := range files {
		if hits[p] != 1 {
			t.Errorf("%s downloaded %d times, want once", p, hits[p])
		}
	}
	mu.Unlock()
	assertClean(t, master, agents)
	// The executor reported each download STARTING, RUNNING, FINISHED.
	var ms struct {
		CompletedFrameworks []struct {
			CompletedTasks []struct {
				ID       string
				Statuses []struct{ State string }
			} `json:"completed_tasks"`
		} `json:"completed_frameworks"`
	}
	if err := getJSON(t, "http://"+master+"/master/state", &ms); err != nil || len(ms.CompletedFrameworks) != 1 {
		t.Fatalf("completed frameworks: %v (err %v)", ms, err)
	}
	for _, task := range ms.CompletedFrameworks[0].CompletedTasks {
		var states []string
		for _, st := range task.Statuses {
			states = append(states, st.State)
		}
		if got := strings.Join(states, ","); got != "TASK_STARTING,TASK_RUNNING,TASK_FINISHED" {
			t.Errorf("task %s went through %s", task.ID, got)
		}
	}
	if n := len(ms.CompletedFrameworks[0].CompletedTasks); n != len(files) {
		t.Errorf("%d completed tasks, want %d", n, len(files))
	}

	// One missing file: its task fails and the program exits non-zero.
	missing := site.URL + "/movies/missing.mp4"
	out, errOut, code = runExample(t, "downloader", "--master="+master, "--timeout=60s", urls[0], missing)
	if code == 0 || !strings.Contains(out, "movie "+missing+" returned 404\n") || !strings.Contains(out, "movie "+urls[0]+" returned 200\n") ||
		!strings.Contains(out, missing+": TASK_FAILED") || !strings.Contains(errOut, "1 of 2 downloads failed") {
		t.Errorf("with a 404: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	assertClean(t, master, agents)

	// A URL that is not http(s) is a usage error.
	if _, errOut, code := runExample(t, "downloader", "--master="+master, "ftp://example.com/x"); code != 2 || !strings.Contains(errOut, "bad URL") {
		t.Errorf("ftp URL: exit %d, stderr %q", code, errOut)
	}
}

func TestExampleCrawler(t *testing.T) {
	master, agents := cluster(t, 2)
	// Six linked pages, with cycles, duplicate links, relative links, a
	// fragment and a link to another host (not followed).
	pages := map[string]string{
		"/":         `<html><head><title>Home</title></head><body><a href="/a.html">A</a> <a href='b.html'>B</a> <a href="http://other.invalid/x">away</a></body></html>`,
		"/a.html":   `<title>Page A</title><a href="/">home</a><a href="/c/">C</a><a href="/a.html#top">self</a>`,
		"/b.html":   `<title>Page &amp; B</title><a href="/a.html">A</a><a href=/c/d.html>D</a>`,
		"/c/":       `<title>C</title><a href="d.html">D</a><a href="../e.html">E</a>`,
		"/c/d.html": `<title>D</title><a href="/">home</a><a href="/c/">C</a>`,
		"/e.html":   `<title>E</title><a href="/b.html">B</a>`,
	}
	var mu sync.Mutex
	hits := map[string]int{}
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[r.UserAgent()+" "+r.URL.Path]++
		mu.Unlock()
		body, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(body))
	}))
	defer site.Close()

	out, errOut, code := runExample(t, "crawler", "--master="+master, "--timeout=60s", site.URL+"/")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if !strings.HasSuffix(out, "\n6 pages\n") {
		t.Errorf("output does not end with \"6 pages\":\n%s", out)
	}
	for p, title := range map[string]string{"/": "Home", "/a.html": "Page A", "/b.html": "Page & B", "/c/": "C", "/c/d.html": "D", "/e.html": "E"} {
		if want := fmt.Sprintf("%q %s%s\n", title, site.URL, p); !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	mu.Lock()
	for p := range pages {
		for _, ua := range []string{"agora-crawler-profile", "agora-crawler-links"} {
			if n := hits[ua+" "+p]; n != 1 {
				t.Errorf("%s fetched %s %d times, want once", ua, p, n)
			}
		}
	}
	if len(hits) != 2*len(pages) {
		t.Errorf("requests %v, want one per page and executor", hits)
	}
	mu.Unlock()
	assertClean(t, master, agents)

	// --max-pages bounds the crawl.
	out, _, code = runExample(t, "crawler", "--master="+master, "--timeout=60s", "--max-pages=2", site.URL)
	if code != 0 || !strings.HasSuffix(out, "\n2 pages\n") {
		t.Errorf("--max-pages=2: exit %d\n%s", code, out)
	}
	assertClean(t, master, agents)
}

func TestExampleWebserver(t *testing.T) {
	master, agents := cluster(t, 2)
	p := &proc{cmd: exec.Command(exampleBin(t, "webserver"), "--master="+master, "--timeout=60s")}
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.done = make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Logf("webserver output:\n%s", p.output())
	})

	var url string
	re := regexp.MustCompile(`(?m)^(http://127\.0\.0\.1:[0-9]+)$`)
	waitFor(t, 60*time.Second, "the server's URL", func() bool {
		if m := re.FindStringSubmatch(p.output()); m != nil {
			url = m[1]
			return true
		}
		return false
	})
	resp, err := http.Get(url + "/")
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `<a href="stdout">stdout</a>`) {
		t.Errorf("GET %s: %s\n%s", url, resp.Status, body)
	}
	var ms struct {
		Frameworks []struct {
			Tasks []struct {
				State       string
				HealthCheck map[string]any `json:"health_check"`
			}
		}
	}
	if err := getJSON(t, "http://"+master+"/master/state", &ms); err != nil || len(ms.Frameworks) != 1 || len(ms.Frameworks[0].Tasks) != 1 {
		t.Fatalf("master state while serving: %+v (err %v)", ms, err)
	}
	if task := ms.Frameworks[0].Tasks[0]; task.State != "TASK_RUNNING" || task.HealthCheck["type"] != "HTTP" {
		t.Errorf("task while serving: %+v", task)
	}

	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("webserver did not exit after SIGINT")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 || !strings.Contains(p.output(), "task webserver TASK_KILLED") {
		t.Errorf("after SIGINT: exit %d\n%s", code, p.output())
	}
	assertClean(t, master, agents)
	if resp, err := http.Get(url + "/"); err == nil {
		resp.Body.Close()
		t.Errorf("the server still answers after the teardown: %s", resp.Status)
	}
}
