package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// TestWebUISecurity drives the console in Chromium against a master with
// read-only and read-write authentication on. With the operator's
// credentials (sent by the browser as it would after its Basic prompt)
// the console works. A page of another origin that POSTs a form to the
// master's kill endpoint, with those credentials, kills nothing.
func TestWebUISecurity(t *testing.T) {
	chromiumPath(t)
	work := t.TempDir()
	creds := filepath.Join(work, "credentials.json")
	if err := os.WriteFile(creds, []byte(`{"credentials":[{"principal":"ops","secret":"ops-secret"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	mp := start(t, "master", "--port=0", "--work_dir="+filepath.Join(work, "master"),
		"--authenticate_http_readonly", "--authenticate_http_readwrite", "--credentials="+creds)
	master := mp.waitListening(t)
	start(t, "agent", "--master="+master, "--port=0", "--work_dir="+filepath.Join(work, "agent"),
		"--resources=cpus:2;mem:1024;disk:1024;ports:[31400-31499]").waitListening(t)

	// A task to try to kill.
	s := subscribe(t, master, map[string]any{"user": "nobody", "name": "csrf-target"})
	for agentID, o := range s.offersByAgent(1) {
		s.mustCall(accept(o, commandTask("victim", agentID, "exec sleep 600")))
	}
	s.updates(30*time.Second, func(seen map[string][]string) bool { return last(seen["victim"]) == "TASK_RUNNING" })

	// The page carries no summary when /metrics/snapshot needs
	// credentials: a browser sends none with the page.
	if resp, err := http.Get("http://" + master + "/"); err != nil {
		t.Fatal(err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || strings.Contains(string(b), "agora-summary\"") {
			t.Errorf("GET / with authentication on: %s, carries a summary:\n%s", resp.Status, b)
		}
	}

	ctx := newBrowser(t, 2*time.Minute)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("ops:ops-secret"))
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Authorization": basic}}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+master+"/")); err != nil {
		t.Fatal(err)
	}
	const d = 20 * time.Second
	waitJS(t, ctx, d, "the overview with the agent", textIs("#card-agents-active .n", "1"))
	if hidden := evalJS[bool](t, ctx, `document.querySelector('#security').hidden`); !hidden {
		t.Error("the security banner shows on a master with authentication")
	}

	// The attacker's page, on another origin, posts a form and a no-cors
	// fetch to the kill endpoint.
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<html><body>
<form id="f" method="POST" action="http://%[1]s/agora/v1/tasks/kill" enctype="application/x-www-form-urlencoded" target="sink">
<input name="task_id" value="victim"></form><iframe name="sink"></iframe>
<script>
fetch("http://%[1]s/agora/v1/tasks/kill", {method: "POST", mode: "no-cors", credentials: "include",
  headers: {"Content-Type": "text/plain"}, body: JSON.stringify({task_id: "victim"})}).finally(() => { window.fetched = true; });
document.getElementById("f").submit();
window.submitted = true;
</script></body></html>`, master)
	}))
	defer attacker.Close()
	if err := chromedp.Do(ctx, chromedp.Navigate(attacker.URL)); err != nil {
		t.Fatal(err)
	}
	// Both answers are in once the fetch settled and the form's answer
	// replaced the frame's blank page (a cross-origin document: reading
	// its location throws). The master answers a kill after acting on it.
	waitJS(t, ctx, d, "the attack's answers", `window.submitted === true && window.fetched === true &&
		(() => { try { return frames.sink.location.href !== 'about:blank'; } catch (e) { return true; } })()`)
	if strings.Contains(mp.output(), "operator kills a task") {
		t.Fatalf("the master accepted a cross-site kill:\n%s", mp.output())
	}
	req, _ := http.NewRequest("GET", "http://"+master+"/master/state", nil)
	req.Header.Set("Authorization", basic)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Frameworks []struct {
			Tasks []struct{ ID, State string } `json:"tasks"`
		} `json:"frameworks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || len(st.Frameworks) != 1 || len(st.Frameworks[0].Tasks) != 1 ||
		st.Frameworks[0].Tasks[0].State != "TASK_RUNNING" {
		t.Errorf("after the attack: %+v (%v), want the victim TASK_RUNNING", st, err)
	}
}
