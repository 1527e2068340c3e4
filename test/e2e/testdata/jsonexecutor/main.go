// Command jsonexecutor is a custom executor written from the Mesos v1
// executor API documentation alone: hand-written JSON over HTTP, RecordIO
// parsed by hand, the standard library only, no Agora code. The e2e tests
// fetch it into a sandbox from a tar.gz.
//
// Behaviour, by task name:
//
//	"crash-<n>"   exit with status n at once (the crash test)
//	"finish"      TASK_RUNNING then TASK_FINISHED
//	anything else TASK_RUNNING (message "pid=<pid>") until KILL → TASK_KILLED
//
// A framework message "<x>" is answered with the message "echo:<x>".
// SHUTDOWN kills every live task (TASK_KILLED) and exits 0.
package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
)

var (
	endpoint    = os.Getenv("MESOS_AGENT_ENDPOINT")
	frameworkID = os.Getenv("MESOS_FRAMEWORK_ID")
	executorID  = os.Getenv("MESOS_EXECUTOR_ID")

	mu   sync.Mutex
	live = map[string]bool{}
)

type id struct {
	Value string `json:"value"`
}

type event struct {
	Type   string `json:"type"`
	Launch struct {
		Task struct {
			Name   string `json:"name"`
			TaskID id     `json:"task_id"`
		} `json:"task"`
	} `json:"launch"`
	Kill struct {
		TaskID id `json:"task_id"`
	} `json:"kill"`
	Message struct {
		Data string `json:"data"` // base64
	} `json:"message"`
}

func main() {
	if endpoint == "" || frameworkID == "" || executorID == "" {
		fmt.Fprintln(os.Stderr, "jsonexecutor: MESOS_AGENT_ENDPOINT, MESOS_FRAMEWORK_ID and MESOS_EXECUTOR_ID are required")
		os.Exit(2)
	}
	body := call("SUBSCRIBE", "subscribe", map[string]any{})
	req, _ := http.NewRequest("POST", url(), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fatal("subscribe: %v", err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		fatal("subscribe: %s: %s", resp.Status, b)
	}
	r := bufio.NewReader(resp.Body)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			fatal("event stream ended: %v", err)
		}
		n, err := strconv.Atoi(strings.TrimSpace(line))
		if err != nil {
			fatal("bad RecordIO length %q", line)
		}
		rec := make([]byte, n)
		if _, err := io.ReadFull(r, rec); err != nil {
			fatal("short record: %v", err)
		}
		var ev event
		if err := json.Unmarshal(rec, &ev); err != nil {
			fatal("bad event %q: %v", rec, err)
		}
		handle(ev)
	}
}

func handle(ev event) {
	fmt.Fprintf(os.Stderr, "jsonexecutor: event %s\n", ev.Type)
	switch ev.Type {
	case "LAUNCH":
		t := ev.Launch.Task
		if code, ok := strings.CutPrefix(t.Name, "crash-"); ok {
			n, _ := strconv.Atoi(code)
			fmt.Fprintf(os.Stderr, "jsonexecutor: crashing with status %d\n", n)
			os.Exit(n)
		}
		mu.Lock()
		live[t.TaskID.Value] = true
		mu.Unlock()
		update(t.TaskID.Value, "TASK_RUNNING", "pid="+strconv.Itoa(os.Getpid()))
		if t.Name == "finish" {
			finish(t.TaskID.Value, "TASK_FINISHED")
		}
	case "KILL":
		finish(ev.Kill.TaskID.Value, "TASK_KILLED")
	case "MESSAGE":
		data, _ := base64.StdEncoding.DecodeString(ev.Message.Data)
		post(call("MESSAGE", "message", map[string]any{
			"data": base64.StdEncoding.EncodeToString(append([]byte("echo:"), data...)),
		}))
	case "SHUTDOWN":
		mu.Lock()
		var ids []string
		for tid := range live {
			ids = append(ids, tid)
		}
		mu.Unlock()
		for _, tid := range ids {
			finish(tid, "TASK_KILLED")
		}
		os.Exit(0)
	}
}

func finish(taskID, state string) {
	mu.Lock()
	ok := live[taskID]
	delete(live, taskID)
	mu.Unlock()
	if ok {
		update(taskID, state, "")
	}
}

func update(taskID, state, message string) {
	uuid := make([]byte, 16)
	_, _ = rand.Read(uuid)
	uuid[6] = uuid[6]&0x0f | 0x40
	uuid[8] = uuid[8]&0x3f | 0x80
	status := map[string]any{
		"task_id":     id{taskID},
		"executor_id": id{executorID},
		"state":       state,
		"source":      "SOURCE_EXECUTOR",
		"uuid":        base64.StdEncoding.EncodeToString(uuid),
	}
	if message != "" {
		status["message"] = message
	}
	post(call("UPDATE", "update", map[string]any{"status": status}))
}

func call(typ, field string, body any) []byte {
	b, _ := json.Marshal(map[string]any{
		"type":         typ,
		"framework_id": id{frameworkID},
		"executor_id":  id{executorID},
		field:          body,
	})
	return b
}

func post(body []byte) {
	resp, err := http.Post(url(), "application/json", bytes.NewReader(body))
	if err != nil {
		fatal("call: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 202 {
		b, _ := io.ReadAll(resp.Body)
		fatal("call %s: %s: %s", body, resp.Status, b)
	}
}

func url() string { return "http://" + endpoint + "/api/v1/executor" }

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "jsonexecutor: "+format+"\n", args...)
	os.Exit(1)
}
