package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agora-dev/agora/internal/testutil"
	"github.com/chromedp/chromedp"
)

// The web console, driven in a real headless Chromium through the Chrome
// DevTools protocol (github.com/chromedp/chromedp).

// chromiumPath finds a Chromium; without one the browser tests skip, except
// in CI, where .ci/run installs it and they must run.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testutil.Require(t, "chromium", false, "not installed (apt-get install chromium); the web console tests drive it")
	return ""
}

// newBrowser starts a headless Chromium with a fresh profile; the returned
// context is bounded by d.
func newBrowser(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		// Without these Chromium's own connections are refused on the CI
		// machine and it stalls.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	ctx, cancel := context.WithTimeout(bctx, d)
	t.Cleanup(func() { cancel(); cancelBrowser(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// waitJS waits (polling in the page) until the JavaScript expression is
// true, or fails the test after d.
func waitJS(t *testing.T, ctx context.Context, d time.Duration, what, expr string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(d), chromedp.WithPollingInterval(25*time.Millisecond))); err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('main').innerText.slice(0, 2000)`))
		t.Fatalf("waiting for %s (%s): %v\npage:\n%s", what, expr, err, body)
	}
}

func evalJS[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// screenshot saves the page as a PNG under $AGORA_WEBUI_SCREENSHOTS (used
// to refresh docs/images); without it, nothing is written.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("AGORA_WEBUI_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

const jsText = `(sel) => { const e = document.querySelector(sel); return e ? e.textContent : ''; }`

func textIs(sel, want string) string {
	return fmt.Sprintf(`(%s)(%q) === %q`, jsText, sel, want)
}

func textHas(sel, want string) string {
	return fmt.Sprintf(`(%s)(%q).includes(%q)`, jsText, sel, want)
}

// TestWebUI follows a framework and its tasks through the console in a
// browser, without reloading the page: agents on the overview, the framework
// appearing, a task reaching RUNNING, its stdout in the sandbox tail (escaped),
// a kill, and the banner while the master is down and its disappearance when
// the master is back.
func TestWebUI(t *testing.T) {
	chromiumPath(t)
	work := t.TempDir()
	mp := start(t, "master", "--port=0", "--work_dir="+filepath.Join(work, "master"))
	master := mp.waitListening(t)
	for i := 0; i < 2; i++ {
		a := start(t, "agent", "--master="+master, "--port=0", "--work_dir="+filepath.Join(work, "agent"+strconv.Itoa(i)),
			"--resources=cpus:2;mem:1024;disk:2048;ports:[31000-31099]")
		a.waitListening(t)
	}
	ctx := newBrowser(t, 3*time.Minute)
	base := "http://" + master + "/"
	if err := chromedp.Do(ctx, chromedp.Navigate(base)); err != nil {
		t.Fatal(err)
	}
	const d = 20 * time.Second
	waitJS(t, ctx, d, "the overview to show two active agents", textIs("#card-agents-active .n", "2"))
	waitJS(t, ctx, d, "the live indicator", textIs("#conn", "live"))
	// A marker that survives only if the page is never reloaded.
	evalJS[any](t, ctx, `window.agoraNoReload = 1`)

	// A framework appears.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"#/frameworks")); err != nil {
		t.Fatal(err)
	}
	s := subscribe(t, master, map[string]any{"user": "nobody", "name": "webui-e2e"})
	waitJS(t, ctx, d, "the framework in the list", textHas("#frameworks-table", "webui-e2e"))

	// Open the task's page before the task exists; it must appear, reach
	// RUNNING and show its output without a reload.
	marker := "webui-marker-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"#/tasks/"+s.id+"/echoer")); err != nil {
		t.Fatal(err)
	}
	offers := s.offersByAgent(1)
	var offer map[string]any
	var agentID string
	for id, o := range offers {
		agentID, offer = id, o
	}
	script := `<script>window.agoraPwned=1</script><img src=x onerror="window.agoraPwned=2">`
	s.mustCall(accept(offer, commandTask("echoer", agentID,
		fmt.Sprintf("echo %s '%s'; echo %s-err >&2; exec sleep 600", marker, script, marker))))
	s.updates(d, func(seen map[string][]string) bool { return last(seen["echoer"]) == "TASK_RUNNING" })
	waitJS(t, ctx, d, "the task to be RUNNING", textIs("#task-state", "TASK_RUNNING"))
	waitJS(t, ctx, d, "stdout in the sandbox tail", textHas("#tail-stdout", marker+" "+script))
	waitJS(t, ctx, d, "stderr in the sandbox tail", textHas("#tail-stderr", marker+"-err"))
	waitJS(t, ctx, d, "the sandbox listing", textHas("#sandbox-files", "stdout"))
	if n := evalJS[float64](t, ctx, `document.querySelectorAll('#tail-stdout *').length`); n != 0 {
		t.Errorf("the tail holds %v elements: task output became markup", n)
	}
	if v := evalJS[bool](t, ctx, `window.agoraPwned === undefined`); !v {
		t.Error("script from the task's output ran in the console")
	}
	screenshot(t, ctx, "webui-task")

	// The download link goes through the master's proxy.
	href := evalJS[string](t, ctx, `document.querySelector('#tail-stdout').parentElement.querySelector('a[download]').href`)
	if !strings.HasPrefix(href, base+"agora/v1/sandbox/"+agentID+"/files/download?path=") {
		t.Errorf("download link %q does not go through the master", href)
	}
	resp, err := http.Get(href)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), marker) || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("download: %s %q %q", resp.Status, resp.Header.Get("Content-Disposition"), body)
	}

	// The task list finds it by name and shows its history.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"#/tasks"),
		chromedp.WaitVisible(chromedp.CSS("#task-search")),
		chromedp.SendKeys(chromedp.CSS("#task-search"), "echoer")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, d, "the task list to show the task's history", textHas("#tasks-table", "STAGING → STARTING → RUNNING"))

	// Killed: the state changes on the open page.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"#/tasks/"+s.id+"/echoer")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, d, "the task page", textIs("#task-state", "TASK_RUNNING"))
	s.mustCall(map[string]any{"type": "KILL", "kill": map[string]any{"task_id": map[string]any{"value": "echoer"}}})
	s.updates(d, func(seen map[string][]string) bool { return strings.HasPrefix(last(seen["echoer"]), "TASK_KILLED") })
	waitJS(t, ctx, d, "the task to be KILLED", textIs("#task-state", "TASK_KILLED"))
	waitJS(t, ctx, d, "the kill in the history", textHas("#task-history", "TASK_KILLED"))

	if err := chromedp.Do(ctx, chromedp.Navigate(base+"#/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, d, "the killed task counted", textIs("#card-TASK_KILLED .n", "1"))
	waitJS(t, ctx, d, "no active tasks on the overview", textHas("#overview-tasks", "No active tasks."))
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"#/frameworks/"+s.id)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, d, "the framework's completed tasks", textHas("#framework-completed-tasks", "echoer"))
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"#/frameworks")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, d, "the framework list", textHas("#frameworks-table", "webui-e2e"))
	screenshot(t, ctx, "webui-frameworks")
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"#/agents/"+agentID)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, d, "the agent's page", textHas("#agent-resources", "cpus"))
	if v := evalJS[float64](t, ctx, `window.agoraNoReload || 0`); v != 1 {
		t.Fatal("the page was reloaded")
	}

	// The master goes away: the banner shows; it comes back: the banner goes.
	s.cancel()
	<-s.streamEnd
	if err := mp.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-mp.done
	waitJS(t, ctx, d, "the unreachable banner", `!document.querySelector('#banner').hidden`)
	_, port, _ := strings.Cut(master, ":")
	mp2 := start(t, "master", "--port="+port, "--work_dir="+filepath.Join(work, "master"))
	mp2.waitListening(t)
	waitJS(t, ctx, 30*time.Second, "the banner to go once the master is back", `document.querySelector('#banner').hidden`)
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"#/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, d, "the agents back", textIs("#card-agents-active .n", "2"))
	if v := evalJS[float64](t, ctx, `window.agoraNoReload || 0`); v != 1 {
		t.Fatal("the page was reloaded")
	}
}

// TestWebUIOverview checks the landing page's lists: the active tasks
// (with their framework, host and age, each id linking to the task's page)
// and the active frameworks, paged (?page_size=2 makes five tasks three
// pages), updated live as a task is killed and the framework torn down.
func TestWebUIOverview(t *testing.T) {
	chromiumPath(t)
	work := t.TempDir()
	mp := start(t, "master", "--port=0", "--work_dir="+filepath.Join(work, "master"))
	master := mp.waitListening(t)
	a := start(t, "agent", "--master="+master, "--port=0", "--work_dir="+filepath.Join(work, "agent"),
		"--resources=cpus:2;mem:1024;disk:1024;ports:[31000-31099]")
	a.waitListening(t)
	s := subscribe(t, master, map[string]any{"user": "nobody", "name": "overview-e2e"})
	var offer map[string]any
	var agentID string
	for id, o := range s.offersByAgent(1) {
		agentID, offer = id, o
	}
	const n = 5
	var tasks []map[string]any
	for i := 0; i < n; i++ {
		tasks = append(tasks, commandTask("ov-"+strconv.Itoa(i), agentID, "exec sleep 600"))
	}
	s.mustCall(accept(offer, tasks...))
	s.updates(30*time.Second, func(seen map[string][]string) bool {
		for i := 0; i < n; i++ {
			if last(seen["ov-"+strconv.Itoa(i)]) != "TASK_RUNNING" {
				return false
			}
		}
		return true
	})
	var st struct{ Slaves []struct{ Hostname string } }
	if err := getJSON(t, "http://"+master+"/master/state", &st); err != nil || len(st.Slaves) != 1 {
		t.Fatalf("state: %+v %v", st, err)
	}
	host := st.Slaves[0].Hostname

	ctx := newBrowser(t, 3*time.Minute)
	base := "http://" + master + "/"
	const d = 20 * time.Second
	if err := chromedp.Do(ctx, chromedp.Navigate(base)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, d, "the framework on the overview", textHas("#overview-frameworks", "overview-e2e"))
	waitJS(t, ctx, d, "five active tasks on one page", `document.querySelectorAll('#overview-tasks tbody tr').length === 5 && `+
		`document.querySelector('#overview-tasks .pager').hidden`)
	screenshot(t, ctx, "webui-overview")

	// The framework row: its link, name and task count.
	if got := evalJS[string](t, ctx, `document.querySelector('#overview-frameworks tbody a').getAttribute('href')`); got != "#/frameworks/"+s.id {
		t.Errorf("framework link %q, want #/frameworks/%s", got, s.id)
	}
	if got := evalJS[string](t, ctx, `document.querySelector('#overview-frameworks tbody tr').cells[5].textContent`); got != "5" {
		t.Errorf("framework active tasks %q, want 5", got)
	}
	// A task row: id linking to its page, name, framework, state, host, age.
	row := evalJS[[]string](t, ctx, `[...document.querySelector('#overview-tasks tbody tr').cells].map((c) => c.textContent)`)
	if len(row) < 6 || !strings.HasPrefix(row[0], "ov-") || row[1] != row[0] || row[2] != s.id || row[3] != "TASK_RUNNING" || row[4] != host ||
		!strings.HasSuffix(row[5], "s") {
		t.Errorf("task row %q: want id, name, framework %s, TASK_RUNNING, host %s, age", row, s.id, host)
	}

	// Paging: two a page.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"#/?page_size=2")); err != nil {
		t.Fatal(err)
	}
	pageIDs := `[...document.querySelectorAll('#overview-tasks tbody tr td:first-child a')].map((a) => a.textContent)`
	seen := map[string]bool{}
	for i, want := range []string{"1–2 of 5", "3–4 of 5", "5–5 of 5"} {
		if i > 0 {
			evalJS[any](t, ctx, `document.querySelector('#overview-tasks button.next').click()`)
		}
		waitJS(t, ctx, d, "page "+want, textIs("#overview-tasks .pager span", want))
		for _, id := range evalJS[[]string](t, ctx, pageIDs) {
			if seen[id] {
				t.Errorf("task %s on two pages", id)
			}
			seen[id] = true
		}
	}
	if len(seen) != n {
		t.Errorf("the pages listed %v, want %d tasks", seen, n)
	}
	if !evalJS[bool](t, ctx, `document.querySelector('#overview-tasks button.next').disabled`) {
		t.Error("Next is enabled on the last page")
	}
	evalJS[any](t, ctx, `document.querySelector('#overview-tasks button.prev').click()`)
	waitJS(t, ctx, d, "Prev back to page 2", textIs("#overview-tasks .pager span", "3–4 of 5"))

	// A task's id opens its page.
	id := evalJS[string](t, ctx, `document.querySelector('#overview-tasks tbody a').textContent`)
	evalJS[any](t, ctx, `document.querySelector('#overview-tasks tbody a').click()`)
	waitJS(t, ctx, d, "the task's page", textIs("#task-state", "TASK_RUNNING"))
	if got, want := evalJS[string](t, ctx, `location.hash`), "#/tasks/"+s.id+"/"+id; got != want {
		t.Errorf("task link went to %q, want %q", got, want)
	}
	// The framework's link opens its page.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"#/?page_size=2")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, d, "the framework on the overview", textHas("#overview-frameworks", "overview-e2e"))
	evalJS[any](t, ctx, `document.querySelector('#overview-frameworks tbody a').click()`)
	waitJS(t, ctx, d, "the framework's page with its tasks", textHas("#framework-active-tasks", "ov-"))

	// Live: a killed task leaves the list, the torn-down framework too.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"#/?page_size=2")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, d, "five tasks", textIs("#overview-tasks .pager span", "1–2 of 5"))
	s.mustCall(map[string]any{"type": "KILL", "kill": map[string]any{"task_id": map[string]any{"value": "ov-0"}}})
	waitJS(t, ctx, d, "four tasks after a kill", textIs("#overview-tasks .pager span", "1–2 of 4"))
	s.mustCall(map[string]any{"type": "TEARDOWN"})
	waitJS(t, ctx, d, "no active tasks after the teardown", textHas("#overview-tasks", "No active tasks."))
	waitJS(t, ctx, d, "no active frameworks after the teardown", textHas("#overview-frameworks", "No active frameworks."))
}

// TestWebUIEndpoints checks the console's headers and the sandbox proxy's
// limits without a browser.
func TestWebUIEndpoints(t *testing.T) {
	master, _ := cluster(t, 1)
	var st struct{ Slaves []struct{ ID string } }
	if err := getJSON(t, "http://"+master+"/master/state", &st); err != nil {
		t.Fatal(err)
	}
	agentID := st.Slaves[0].ID
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Get("http://" + master + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for _, p := range []string{"/", "/static/app.js", "/static/app.css"} {
		resp, body := get(p)
		csp := resp.Header.Get("Content-Security-Policy")
		if resp.StatusCode != 200 || !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe-inline") ||
			resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: %s CSP %q nosniff %q", p, resp.Status, csp, resp.Header.Get("X-Content-Type-Options"))
		}
		if p == "/" && (strings.Contains(body, "<script>") || !strings.Contains(body, `src="/static/app.js"`)) {
			t.Errorf("index.html must load its script from a file and have none inline:\n%s", body)
		}
	}
	// The page carries the summary the overview shows first: the master's
	// /metrics/snapshot, in a data block that is not run.
	_, page := get("/")
	_, block, ok := strings.Cut(page, `<script type="application/json" id="agora-summary">`)
	block, _, _ = strings.Cut(block, "</script>")
	var summary map[string]float64
	if !ok || json.Unmarshal([]byte(block), &summary) != nil || summary["master/elected"] != 1 || summary["master/slaves_active"] != 1 {
		t.Errorf("the page's summary: %v %v\n%s", ok, summary, page)
	}
	if resp, _ := get("/"); resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("ETag") != "" {
		t.Errorf("a page with a summary: Cache-Control %q, ETag %q", resp.Header.Get("Cache-Control"), resp.Header.Get("ETag"))
	}
	if resp, body := get("/static/app.js"); strings.Contains(body, "jsonp") || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
		t.Errorf("app.js: Content-Type %q; uses JSONP: %v", resp.Header.Get("Content-Type"), strings.Contains(body, "jsonp"))
	}
	for path, want := range map[string]int{
		"/nonexistent":      404,
		"/static/../go.mod": 404,
		"/agora/v1/sandbox/" + agentID + "/state":                    200,
		"/agora/v1/sandbox/" + agentID + "/files/browse?path=/":      404, // not an attached sandbox
		"/agora/v1/sandbox/" + agentID + "/files/debug?path=/":       404, // only browse, read, download
		"/agora/v1/sandbox/" + agentID + "/files/read":               400, // path required
		"/agora/v1/sandbox/no-such-agent/files/read?path=/etc/hosts": 404,
		"/agora/v1/sandbox/a%20b/files/read?path=/etc/hosts":         400,
		"/agora/v1/sandbox/" + agentID + "/metrics/snapshot":         404,
		"/agora/v1/leader": 200,
	} {
		if resp, body := get(path); resp.StatusCode != want {
			t.Errorf("GET %s: %s, want %d: %.200s", path, resp.Status, want, body)
		}
	}
	var leader struct {
		Leader  string
		Elected bool
	}
	if err := getJSON(t, "http://"+master+"/agora/v1/leader", &leader); err != nil || !leader.Elected || leader.Leader == "" {
		t.Errorf("leader: %+v %v", leader, err)
	}
}
