// Command launch measures how fast Agora launches command tasks: it builds
// the agora binary, starts `agora local` as a child process (--mode=local)
// or `agora master` and `agora agent` as separate processes
// (--mode=separate, or --processes), registers protobuf v1 schedulers and
// measures
//
//  1. SUBSCRIBE → first TASK_FINISHED: --cold_starts times, a new framework
//     subscribes, launches one task on its first offer and tears down;
//  2. ACCEPT → TASK_RUNNING and ACCEPT → TASK_FINISHED latency of `true`
//     command tasks launched one at a time by one framework, and each
//     such task end to end, from the moment the framework wants to run it
//     (and starts waiting for an offer) to its TASK_FINISHED;
//  3. tasks per second through one agent when every offer is packed with
//     tasks, and
//  4. as a baseline in the same run, a bare fork/exec of the same command.
//
// It ends with the comparison with the Mesos 1.12 figures of
// docs/performance.md, made only where the setup is like for like
// (separate processes, `sh -c true`).
//
// Usage, from the module root:
//
//	go run ./bench/launch [--tasks=200] [--agents=1] [--mode=local|separate] [--shell] [--cold_starts=5] [--concurrency=N] [--json]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/bench/internal/build"
	"google.golang.org/protobuf/proto"
)

// cpuSplit is CPU seconds per task by process: the master, the agents
// themselves, and the agents' reaped children (executors, tasks, shells).
type cpuSplit struct {
	Master   float64 `json:"master"`
	Agents   float64 `json:"agents"`
	Children float64 `json:"executors_and_tasks"`
}

type config struct {
	mode        string
	coldStarts  int
	tasks       int
	tputTasks   int
	agents      int
	concurrency int
	timeout     time.Duration
	jsonOut     bool
	shell       bool
	resources   string
	agoraBin    string
	executorBin bool
	workDir     string
	agoraLog    string
	seq         taskShape
	tput        taskShape
}

// report is everything the benchmark measured; --json prints it.
type report struct {
	Mode        string    `json:"mode"`    // local: one agora local process; separate: agora master + agora agent(s)
	Command     string    `json:"command"` // what each task ran
	Shell       bool      `json:"shell"`
	Agents      int       `json:"agents"`
	Resources   string    `json:"agent_resources"`
	GOMAXPROCS  int       `json:"gomaxprocs"`
	NumCPU      int       `json:"num_cpu"`
	CPU         string    `json:"cpu_model"`
	Kernel      string    `json:"kernel"`
	GoVersion   string    `json:"go_version"`
	Commit      string    `json:"commit,omitempty"`
	Executor    string    `json:"command_executor"` // the program agents ran as the command executor
	WorkDirFS   string    `json:"work_dir_fs"`      // the file system of the agents' work_dir
	Started     time.Time `json:"started"`
	Sequential  int       `json:"sequential_tasks"`
	ColdStarts  int       `json:"cold_starts"`
	EndToEnd    []row     `json:"end_to_end"`
	Latency     []row     `json:"latency"`
	Diagnostics []row     `json:"diagnostics"`

	TputTasks       int       `json:"throughput_tasks"`
	TputConcurrency int       `json:"throughput_concurrency"` // 0: all that fit
	TputAccepts     int       `json:"throughput_accepts"`
	TputWallNS      int64     `json:"throughput_wall_ns"`
	TputRate        float64   `json:"throughput_tasks_per_s"`
	BareRate        float64   `json:"bare_tasks_per_s"`
	AgoraCPUPerTask float64   `json:"agora_cpu_s_per_task"`           // master+agent+executors+tasks
	CPUSplit        *cpuSplit `json:"cpu_split_s_per_task,omitempty"` // separate mode: the same, by process
	Heartbeats      int       `json:"heartbeats"`
	StopNS          int64     `json:"cluster_stop_ns"`
	Warnings        []string  `json:"warnings,omitempty"`
}

func main() {
	var cfg config
	flag.StringVar(&cfg.mode, "mode", "local", "local: one `agora local` process; separate: `agora master` and `agora agent` processes")
	processes := flag.Bool("processes", false, "same as --mode=separate")
	flag.IntVar(&cfg.coldStarts, "cold_starts", 5, "frameworks that each SUBSCRIBE, run one task and tear down (SUBSCRIBE → TASK_FINISHED)")
	flag.IntVar(&cfg.tasks, "tasks", 200, "tasks launched one at a time for the latency measurement (and bare fork/execs)")
	flag.IntVar(&cfg.tputTasks, "throughput_tasks", 0, "tasks for the throughput measurement (default: --tasks)")
	flag.IntVar(&cfg.agents, "agents", 1, "agents in the agora local cluster")
	flag.IntVar(&cfg.concurrency, "concurrency", 0, "throughput: most unfinished tasks at a time (0: as many as fit in the offers)")
	flag.DurationVar(&cfg.timeout, "timeout", 5*time.Minute, "bound on the whole run after the build")
	flag.BoolVar(&cfg.jsonOut, "json", false, "print the results as JSON instead of a table")
	flag.BoolVar(&cfg.shell, "shell", false, "run `true` through /bin/sh -c (shell=true) instead of exec'ing /bin/true (shell=false)")
	flag.StringVar(&cfg.resources, "resources", "cpus:8;mem:4096;disk:1024;ports:[31000-31099]", "each agent's resources")
	flag.StringVar(&cfg.agoraBin, "agora", "", "use this agora binary (and the agora-executor beside it, if any) instead of building ./cmd/agora")
	flag.StringVar(&cfg.workDir, "work_dir", "", "put the agents' work_dir (the sandboxes) under this directory (default: the system's temporary directory)")
	flag.BoolVar(&cfg.executorBin, "executor_binary", true, "build agora-executor beside agora, as `make build` does (false: agents run `agora executor`)")
	flag.StringVar(&cfg.agoraLog, "agora_log", "", "write agora's output, at debug level, to this file")
	flag.Parse()
	if *processes {
		cfg.mode = "separate"
	}
	if flag.NArg() > 0 || cfg.tasks <= 0 || cfg.agents <= 0 || cfg.concurrency < 0 || cfg.coldStarts < 0 ||
		(cfg.mode != "local" && cfg.mode != "separate") {
		flag.Usage()
		os.Exit(2)
	}
	if cfg.tputTasks <= 0 {
		cfg.tputTasks = cfg.tasks
	}
	cfg.seq = taskShape{cpus: 0.1, mem: 32, shell: cfg.shell}
	cfg.tput = taskShape{cpus: 0.01, mem: 16, shell: cfg.shell}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "launch:", err)
		os.Exit(1)
	}
	if cfg.jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		fmt.Print(formatReport(rep))
	}
	for _, w := range rep.Warnings {
		fmt.Fprintln(os.Stderr, "launch: warning:", w)
	}
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "launch: "+format+"\n", args...)
}

func run(ctx context.Context, cfg config) (rep *report, err error) {
	tmp, err := os.MkdirTemp("", "agora-bench-launch-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	bin := cfg.agoraBin
	if bin == "" {
		progress("building ./cmd/agora (and ./cmd/agora-executor: %v)", cfg.executorBin)
		if bin, err = build.Agora(ctx, tmp, cfg.executorBin); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()

	rep = &report{
		Mode: cfg.mode, ColdStarts: cfg.coldStarts, Shell: cfg.shell, Agents: cfg.agents, Resources: cfg.resources,
		GOMAXPROCS: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU(), CPU: cpuModel(), Kernel: kernel(),
		GoVersion: runtime.Version(), Commit: commit(), Started: time.Now(), Executor: build.ExecutorOf(bin),
		Sequential: cfg.tasks, TputTasks: cfg.tputTasks, TputConcurrency: cfg.concurrency,
	}
	argv := commandArgv(cfg.seq.command())
	rep.Command = strings.Join(argv, " ")

	// 3. Baseline first, on a quiet machine.
	progress("bare fork/exec of %s, %d times", rep.Command, cfg.tasks)
	bare, bareWall, err := bareExec(ctx, argv, cfg.tasks)
	if err != nil {
		return nil, err
	}
	rep.BareRate = rate(cfg.tasks, bareWall)
	goBare, _, err := bareExec(ctx, []string{bin, "version"}, min(cfg.tasks, 50))
	if err != nil {
		return nil, err
	}

	work, err := filepath.Abs(filepath.Join(tmp, "work"))
	if cfg.workDir != "" {
		if work, err = os.MkdirTemp(cfg.workDir, "agora-bench-launch-work-"); err == nil {
			defer os.RemoveAll(work)
		}
	}
	if err != nil {
		return nil, err
	}
	rep.WorkDirFS = fsType(work)
	progress("starting agora, mode %s (%d agent(s), %s)", cfg.mode, cfg.agents, cfg.resources)
	var logFile *os.File
	if cfg.agoraLog != "" {
		if logFile, err = os.Create(cfg.agoraLog); err != nil {
			return nil, err
		}
		defer logFile.Close()
	}
	cl, err := startCluster(ctx, cfg.mode, bin, work, cfg.agents, cfg.resources, logFile)
	if err != nil {
		return nil, err
	}
	defer func() {
		took, stopErr := cl.stop()
		if rep != nil {
			rep.StopNS = int64(took)
		}
		if stopErr != nil {
			if err == nil {
				err = stopErr
			} else {
				err = fmt.Errorf("%w (and stopping: %v)", err, stopErr)
			}
		}
		if err != nil {
			err = fmt.Errorf("%w\nlast output of agora:\n%s", err, cl.log)
		}
	}()

	u, err := user.Current()
	if err != nil {
		return nil, err
	}
	// 1. SUBSCRIBE → TASK_FINISHED, before any framework holds offers.
	progress("%d cold starts: SUBSCRIBE, one task, TEARDOWN", cfg.coldStarts)
	cold, err := coldStarts(ctx, cl.master, u.Username, cfg.coldStarts, cfg.seq)
	if err != nil {
		return nil, err
	}
	c, err := subscribe(ctx, cl.master, &mesos.FrameworkInfo{
		User: proto.String(u.Username), Name: proto.String("agora-bench-launch"),
	})
	if err != nil {
		return nil, err
	}
	r := newRunner(c)
	defer func() {
		if tdErr := c.teardown(); tdErr != nil && err == nil {
			rep.Warnings = append(rep.Warnings, "TEARDOWN: "+tdErr.Error())
		}
	}()

	// 1. Sequential latency.
	progress("launching %d tasks one at a time", cfg.tasks)
	seq, err := r.sequential(ctx, cfg.tasks, cfg.seq)
	if err != nil {
		return nil, err
	}
	// 2. Throughput.
	progress("launching %d tasks as fast as the offers allow", cfg.tputTasks)
	cpu0 := cl.cpu()
	split0 := cl.cpuSplit()
	tput, wall, accepts, err := r.throughput(ctx, cfg.tputTasks, cfg.concurrency, cfg.tput)
	if err != nil {
		return nil, err
	}
	cpu1 := cl.cpu()
	split1 := cl.cpuSplit()
	rep.TputAccepts, rep.TputWallNS, rep.TputRate = accepts, int64(wall), rate(len(tput), wall)
	if cpu0 >= 0 && cpu1 >= 0 {
		rep.AgoraCPUPerTask = (cpu1 - cpu0).Seconds() / float64(len(tput))
	}
	if split0 != nil && split1 != nil && cfg.mode == "separate" {
		n := float64(len(tput))
		rep.CPUSplit = &cpuSplit{
			Master:   (split1[0] - split0[0]).Seconds() / n,
			Agents:   (split1[1] - split0[1]).Seconds() / n,
			Children: (split1[2] - split0[2]).Seconds() / n,
		}
	}
	if err := r.declineAll(ctx); err != nil {
		rep.Warnings = append(rep.Warnings, "DECLINE: "+err.Error())
	}
	rep.Heartbeats = r.heartbeats
	rep.Warnings = append(rep.Warnings, r.failures...)

	rep.Latency, rep.Diagnostics = latencyRows(seq, tput, bare, goBare)
	rep.EndToEnd = endToEndRows(cold, seq)
	return rep, nil
}

// coldStart is what one framework saw from its SUBSCRIBE POST.
type coldStart struct {
	subscribed, firstOffer, finished time.Duration
}

// coldStarts subscribes n frameworks one after another; each launches one
// task on its first offers, waits for TASK_FINISHED and tears down.
func coldStarts(ctx context.Context, master, user string, n int, shape taskShape) ([]coldStart, error) {
	var out []coldStart
	for i := range n {
		start := time.Now()
		c, err := subscribe(ctx, master, &mesos.FrameworkInfo{
			User: proto.String(user), Name: proto.String(fmt.Sprintf("agora-bench-cold-%d", i)),
		})
		if err != nil {
			return nil, fmt.Errorf("cold start %d: %w", i, err)
		}
		subscribed := time.Now()
		r := newRunner(c)
		recs, err := r.sequential(ctx, 1, shape)
		tdErr := c.teardown()
		if err != nil {
			return nil, fmt.Errorf("cold start %d: %w", i, err)
		}
		if tdErr != nil {
			return nil, fmt.Errorf("cold start %d: TEARDOWN: %w", i, tdErr)
		}
		fin, ok := recs[0].seen[mesos.TaskState_TASK_FINISHED]
		if !ok {
			return nil, fmt.Errorf("cold start %d: task ended %s", i, recs[0].last)
		}
		out = append(out, coldStart{subscribed: subscribed.Sub(start), firstOffer: r.firstOffer.Sub(start), finished: fin.Sub(start)})
	}
	return out, nil
}

// endToEndRows are the rows measured from a framework's point of view:
// from its SUBSCRIBE, and for each sequential task from the moment it
// wanted to run it.
func endToEndRows(cold []coldStart, seq []*taskRec) []row {
	pick := func(f func(coldStart) time.Duration) summary {
		var d []time.Duration
		for _, c := range cold {
			d = append(d, f(c))
		}
		return summarize(d)
	}
	var wantFin, wantAcc []time.Duration
	for _, t := range seq {
		if fin, ok := t.seen[mesos.TaskState_TASK_FINISHED]; ok && !t.want.IsZero() {
			wantFin = append(wantFin, fin.Sub(t.want))
			wantAcc = append(wantAcc, t.accept.Sub(t.want))
		}
	}
	return []row{
		{"SUBSCRIBE -> SUBSCRIBED", pick(func(c coldStart) time.Duration { return c.subscribed })},
		{"SUBSCRIBE -> first offer", pick(func(c coldStart) time.Duration { return c.firstOffer })},
		{"SUBSCRIBE -> first TASK_FINISHED", pick(func(c coldStart) time.Duration { return c.finished })},
		{"task wanted -> offer taken (ACCEPT)", summarize(wantAcc)},
		{"task wanted -> TASK_FINISHED", summarize(wantFin)},
	}
}

// Mesos 1.12's figures (docs/performance.md §8): standalone master and one
// agent as separate processes, posix launcher, a v1 JSON scheduler
// launching `true` command tasks through the shell, one at a time.
const (
	mesosBareShell    = 900 * time.Microsecond
	mesosRunningP50   = 202 * time.Millisecond
	mesosFinishedP50  = 391 * time.Millisecond
	mesosFinishedP99  = 478 * time.Millisecond
	mesosTasksPerSec  = 5.0
	mesosComparedWith = "Mesos 1.12, docs/performance.md §8 (standalone master + one agent, posix launcher, v1 JSON scheduler, `true` via the shell)"
)

// mesosComparison is the like-for-like comparison, or why there is none.
func mesosComparison(rep *report) string {
	var why []string
	if rep.Mode != "separate" {
		why = append(why, "agora ran as one `agora local` process (Mesos: master and agent processes; use --mode=separate)")
	}
	if !rep.Shell {
		why = append(why, "tasks exec'd /bin/true (Mesos: `true` through /bin/sh -c; use --shell)")
	}
	if rep.Agents != 1 {
		why = append(why, "more than one agent (Mesos: one)")
	}
	var b strings.Builder
	b.WriteString("\ncomparison with " + mesosComparedWith + ":\n")
	if len(why) > 0 {
		b.WriteString("  none: not like for like: " + strings.Join(why, "; ") + "\n")
		return b.String()
	}
	find := func(rows []row, metric string) summary {
		for _, r := range rows {
			if r.Metric == metric {
				return r.Stats
			}
		}
		return summary{}
	}
	run := find(rep.Latency, "ACCEPT -> TASK_RUNNING")
	fin := find(rep.Latency, "ACCEPT -> TASK_FINISHED")
	bare := find(rep.Latency, "bare fork/exec")
	ratio := func(mesos, agora time.Duration) string {
		if agora <= 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f× faster", float64(mesos)/float64(agora))
	}
	cells := [][]string{
		{"measure", "agora", "mesos 1.12", ""},
		{"bare fork/exec of sh -c true, p50", fmtDur(bare.P50), fmtDur(mesosBareShell), "(the machines' floor)"},
		{"ACCEPT -> TASK_RUNNING, p50", fmtDur(run.P50), fmtDur(mesosRunningP50), ratio(mesosRunningP50, run.P50)},
		{"ACCEPT -> TASK_FINISHED, p50", fmtDur(fin.P50), fmtDur(mesosFinishedP50), ratio(mesosFinishedP50, fin.P50)},
		{"ACCEPT -> TASK_FINISHED, p99", fmtDur(fin.P99), fmtDur(mesosFinishedP99), ratio(mesosFinishedP99, fin.P99)},
		{"ACCEPT -> TASK_FINISHED ÷ bare exec, p50", fmt.Sprintf("%.0f×", float64(fin.P50)/float64(max(bare.P50, 1))),
			fmt.Sprintf("%.0f×", float64(mesosFinishedP50)/float64(mesosBareShell)), ""},
		{"command tasks per second through one agent", fmt.Sprintf("%.1f", rep.TputRate), fmt.Sprintf("≈%.0f", mesosTasksPerSec), ""},
	}
	width := make([]int, 4)
	for _, line := range cells {
		for i, c := range line {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	for _, line := range cells {
		var l strings.Builder
		for i, c := range line {
			l.WriteString(c + strings.Repeat(" ", width[i]-len([]rune(c))+2))
		}
		b.WriteString("  " + strings.TrimRight(l.String(), " ") + "\n")
	}
	b.WriteString("  differences that remain: Agora's scheduler here speaks protobuf, Mesos's JSON; Mesos published no\n" +
		"  SUBSCRIBE -> TASK_FINISHED figure, so the end-to-end rows above have no Mesos counterpart.\n")
	return b.String()
}

// latencyRows turns the task records into the table's rows.
func latencyRows(seq, tput []*taskRec, bare, goBare []time.Duration) (lat, diag []row) {
	collect := func(recs []*taskRec, f func(t *taskRec) (time.Duration, bool)) summary {
		var d []time.Duration
		for _, t := range recs {
			if v, ok := f(t); ok {
				d = append(d, v)
			}
		}
		return summarize(d)
	}
	since := func(s mesos.TaskState) func(*taskRec) (time.Duration, bool) {
		return func(t *taskRec) (time.Duration, bool) { return t.since(s) }
	}
	between := func(a, b mesos.TaskState) func(*taskRec) (time.Duration, bool) {
		return func(t *taskRec) (time.Duration, bool) {
			ta, okA := t.seen[a]
			tb, okB := t.seen[b]
			return tb.Sub(ta), okA && okB
		}
	}
	created := func(s mesos.TaskState) func(*taskRec) (time.Duration, bool) {
		return func(t *taskRec) (time.Duration, bool) {
			g, ok := t.generated[s]
			return g.Sub(t.accept), ok
		}
	}
	lag := func(s mesos.TaskState) func(*taskRec) (time.Duration, bool) {
		return func(t *taskRec) (time.Duration, bool) {
			g, okG := t.generated[s]
			r, okR := t.seen[s]
			return r.Sub(g), okG && okR
		}
	}
	running, finished := mesos.TaskState_TASK_RUNNING, mesos.TaskState_TASK_FINISHED
	starting := mesos.TaskState_TASK_STARTING
	lat = []row{
		{"ACCEPT -> TASK_RUNNING", collect(seq, since(running))},
		{"ACCEPT -> TASK_FINISHED", collect(seq, since(finished))},
		{"bare fork/exec", summarize(bare)},
	}
	diag = []row{
		{"ACCEPT POST -> 202", collect(seq, func(t *taskRec) (time.Duration, bool) { return t.accepted.Sub(t.accept), true })},
		{"ACCEPT -> TASK_STARTING", collect(seq, since(starting))},
		{"TASK_STARTING -> TASK_RUNNING", collect(seq, between(starting, running))},
		{"TASK_RUNNING -> TASK_FINISHED", collect(seq, between(running, finished))},
		{"ACCEPT -> RUNNING created*", collect(seq, created(running))},
		{"RUNNING created -> received*", collect(seq, lag(running))},
		{"FINISHED created -> received*", collect(seq, lag(finished))},
		{"throughput ACCEPT -> STARTING", collect(tput, since(starting))},
		{"throughput ACCEPT -> RUNNING", collect(tput, since(running))},
		{"throughput ACCEPT -> FINISHED", collect(tput, since(finished))},
		{"throughput STARTING created*", collect(tput, created(starting))},
		{"throughput FINISHED created*", collect(tput, created(finished))},
		{"bare fork/exec `agora version`", summarize(goBare)},
	}
	return lat, diag
}

func formatReport(rep *report) string {
	var b strings.Builder
	where := "agora local, one process"
	if rep.Mode == "separate" {
		where = "agora master + agora agent, separate processes"
	}
	fmt.Fprintf(&b, "launch benchmark: %d tasks of %s (shell=%t) on %s (%d agent(s), %s), GOMAXPROCS=%d, %d CPUs, %s\n",
		rep.Sequential, rep.Command, rep.Shell, where, rep.Agents, rep.Resources, rep.GOMAXPROCS, rep.NumCPU, rep.CPU)
	fmt.Fprintf(&b, "%s, kernel %s", rep.GoVersion, rep.Kernel)
	if rep.Commit != "" {
		fmt.Fprintf(&b, ", commit %s", rep.Commit)
	}
	fmt.Fprintf(&b, ", %s\ncommand executor: %s; sandboxes on %s\n\n", rep.Started.Format(time.RFC3339), rep.Executor, rep.WorkDirFS)
	fmt.Fprintf(&b, "end to end, as a framework sees it (%d cold starts; sequential tasks):\n", rep.ColdStarts)
	b.WriteString(formatTable(rep.EndToEnd))
	b.WriteString("\nlaunch latency, offers already held (sequential tasks):\n")
	b.WriteString(formatTable(rep.Latency))
	fmt.Fprintf(&b, "throughput: agora %.1f tasks/s (%d tasks, %d ACCEPTs, %s wall, concurrency %s), bare fork/exec %.0f tasks/s\n",
		rep.TputRate, rep.TputTasks, rep.TputAccepts, fmtDur(time.Duration(rep.TputWallNS)), concurrencyName(rep.TputConcurrency), rep.BareRate)
	if rep.AgoraCPUPerTask > 0 {
		fmt.Fprintf(&b, "agora CPU per task in the throughput run (master+agent+executors+tasks): %.1f ms\n", rep.AgoraCPUPerTask*1000)
		if c := rep.CPUSplit; c != nil {
			fmt.Fprintf(&b, "  of which master %.1f ms, agent %.1f ms, executors and tasks (the agent's reaped children) %.1f ms\n",
				c.Master*1000, c.Agents*1000, c.Children*1000)
		}
	}
	b.WriteString("\ndiagnostics (sequential tasks unless named):\n")
	b.WriteString(formatTable(rep.Diagnostics))
	b.WriteString("* created = the update's status.timestamp; percentiles are nearest-rank; latencies run from just\n" +
		"  before the ACCEPT POST to the moment the UPDATE record was read off the event stream.\n")
	fmt.Fprintf(&b, "cluster stopped in %s\n", fmtDur(time.Duration(rep.StopNS)))
	b.WriteString(mesosComparison(rep))
	return b.String()
}

func concurrencyName(c int) string {
	if c == 0 {
		return "all that fit"
	}
	return strconv.Itoa(c)
}

// commandArgv is the argv a CommandInfo runs.
func commandArgv(c *mesos.CommandInfo) []string {
	if c.GetShell() {
		return []string{"/bin/sh", "-c", c.GetValue()}
	}
	return append([]string{c.GetValue()}, c.GetArguments()[1:]...)
}

// bareExec runs argv n times in a row and returns each run's latency and
// the total wall time.
func bareExec(ctx context.Context, argv []string, n int) ([]time.Duration, time.Duration, error) {
	out := make([]time.Duration, 0, n)
	start := time.Now()
	for i := range n {
		if err := ctx.Err(); err != nil {
			return nil, 0, fmt.Errorf("bare fork/exec of %v stopped after %d of %d runs: %w", argv, i, n, err)
		}
		t := time.Now()
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Args = argv
		if err := cmd.Run(); err != nil {
			return nil, 0, fmt.Errorf("bare exec of %v: %w", argv, err)
		}
		out = append(out, time.Since(t))
	}
	return out, time.Since(start), nil
}

// procCPU is the CPU time of a process and its reaped descendants (Linux;
// -1 if unknown). Executors and their tasks are children the agent reaps,
// so they are included once they have exited.
func procCPU(pid int) time.Duration {
	self, children := procCPUSplit(pid)
	if self < 0 {
		return -1
	}
	return self + children
}

// procCPUSplit is procCPU as the process's own CPU time and that of its
// reaped descendants.
func procCPUSplit(pid int) (self, children time.Duration) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1, -1
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return -1, -1
	}
	f := strings.Fields(s[i+1:])
	// After the command name: state is field 3, utime..cstime 14..17.
	if len(f) < 15 {
		return -1, -1
	}
	var ticks [4]int64
	for k, v := range f[11:15] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return -1, -1
		}
		ticks[k] = n
	}
	const clkTck = 100 // USER_HZ on every Linux Go supports
	return time.Duration(ticks[0]+ticks[1]) * time.Second / clkTck, time.Duration(ticks[2]+ticks[3]) * time.Second / clkTck
}

// fsType names the file system dir is on, as /proc/self/mounts has it
// (the longest mount point that is a prefix of dir).
func fsType(dir string) string {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return "unknown"
	}
	best, typ := "", "unknown"
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		mp := f[1]
		if (dir == mp || strings.HasPrefix(dir, strings.TrimSuffix(mp, "/")+"/")) && len(mp) >= len(best) {
			best, typ = mp, f[2]
		}
	}
	return typ + " (" + best + ")"
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return runtime.GOOS
	}
	return strings.TrimSpace(string(b))
}

func commit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
