// Package agent is Agora's agent daemon (the mesos-agent equivalent).
//
// An Agent advertises the resources and attributes of its machine to a
// master over the internal agora.agent.v1 protocol, runs the executors the
// master asks for in sandboxes under its work directory, serves the Mesos v1
// executor API (/api/v1/executor) to them, forwards their status updates to
// the master reliably (one update in flight per task, retried until the
// master acknowledges it), and serves the v0 JSON endpoints tools poll
// (/state, /metrics/snapshot, /health, /files/...).
//
// Concurrency: one goroutine, the loop started by Run, owns all mutable
// state (frameworks, executors, tasks, status update streams). HTTP
// handlers, the master connection, process waiters and timers never touch
// that state: they hand closures to the loop through Agent.post or
// Agent.do. Blocking work (HTTP to the master, fetching URIs, writing to
// executor streams) happens off the loop.
//
// Lifecycle of an executor as the agent sees it:
//
//	RUN_TASK ─▶ launching ──SUBSCRIBE──▶ running ──SHUTDOWN──▶ terminating
//	               │                        │                      │
//	               │ registration timeout   │ process exits        │ grace over: kill group
//	               ▼                        ▼                      ▼
//	               └──────────────────▶ terminated (completed_executors)
package agent

import (
	"context"
	"errors"
	"fmt"
	"github.com/agora-dev/agora/internal/auth"
	"github.com/agora-dev/agora/internal/authz"
	"github.com/agora-dev/agora/internal/httpapi"
	"github.com/agora-dev/agora/internal/tlsconf"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"github.com/agora-dev/agora/internal/fetcher"
	"github.com/agora-dev/agora/internal/files"
	"github.com/agora-dev/agora/internal/isolation"
)

// Version is the version the agent reports in /state and to the master.
const Version = "1.12.0"

// Config configures an Agent. Start from DefaultConfig.
type Config struct {
	// Credential is the agent's --credential file ({"principal","secret"}),
	// sent to the master with every call; "" sends none.
	Credential string
	// Auth is the agent's HTTP authentication (realms, executor tokens).
	Auth AuthConfig
	// TLS is the agent's listener's and clients' TLS (LIBPROCESS_SSL_*,
	// --tls_*); executors get it as LIBPROCESS_SSL_* variables. The zero
	// value is plaintext.
	TLS tlsconf.Config
	// ACLs is Mesos's ACL JSON (--acls), Authorizer --authorizer (only
	// "local"); "" authorizes everything.
	ACLs       string
	Authorizer string
	// Master lists the masters of the group: "host:port" for one,
	// "A,B,C" for several (the agent asks any of them and follows the
	// leader), or "file:///path" naming a file that holds such a list; the
	// file is read again on each reconnection.
	Master     string
	IP         string // listen IP; 0.0.0.0 listens everywhere
	Port       int    // 0 = any free port
	Hostname   string // advertised; default os.Hostname()
	WorkDir    string
	Resources  string // Mesos syntax, merged over detected defaults
	Attributes string // Mesos syntax: "name:value;..."

	// ExecutorPath is the program run as the command executor for tasks
	// without an ExecutorInfo, with ExecutorArgs after it; default
	// LauncherDir's agora-executor, else os.Executable(), with ["executor"].
	ExecutorPath string
	ExecutorArgs []string
	// LauncherDir is where the agent looks for the agora-executor binary
	// (Mesos's --launcher_dir, where it finds mesos-executor); default the
	// directory of the agent's own binary, where the agent falls back to
	// running its own binary as the executor when agora-executor is not
	// there. Set explicitly, agora-executor must be in it.
	LauncherDir string
	// DefaultExecutorArgs follow ExecutorPath to start the default
	// executor, which runs task groups; default ["default-executor"].
	DefaultExecutorArgs []string
	// CommandExecutor is who plays the command executor of a task without
	// an ExecutorInfo: CommandExecutorAgent (the default) has the agent do
	// it, with a small supervisor process per task (SupervisorPath);
	// CommandExecutorProcess starts a command executor process per task
	// (ExecutorPath), as Mesos does. Tasks with a health check or a tty
	// always get the process.
	CommandExecutor string
	// SupervisorPath, with SupervisorArgs after it, is the supervisor of
	// the command tasks the agent runs itself (internal/supervise);
	// default LauncherDir's agora-supervisor, else the agora-supervisor
	// beside the agent's binary, else ExecutorPath with ["supervise"]
	// when ExecutorPath is itself a default. Without one, command tasks
	// get a command executor process.
	SupervisorPath string
	SupervisorArgs []string
	// ExecutorEnv is added to the environment of command and default
	// executors ("NAME=value" entries).
	ExecutorEnv []string
	// SwitchUser runs executors and their tasks as CommandInfo.user, else
	// FrameworkInfo.user (Mesos's --switch_user). The zero value is off;
	// `agora agent` turns it on by default, as Mesos does.
	SwitchUser bool

	ExecutorRegistrationTimeout time.Duration // default 1m
	// ExecutorReregistrationTimeout is how long an executor recovered after
	// an agent restart has to SUBSCRIBE again; default 10s.
	ExecutorReregistrationTimeout time.Duration
	ExecutorShutdownGracePeriod   time.Duration // default 5s
	// ProcessKillGrace is how long a process group gets between SIGTERM and
	// SIGKILL when the agent destroys an executor; default 1s.
	ProcessKillGrace time.Duration
	// StatusUpdateRetry is the first retry interval of a status update the
	// master has not acknowledged; it doubles up to StatusUpdateRetryMax.
	StatusUpdateRetry    time.Duration // default 10s
	StatusUpdateRetryMax time.Duration // default 10m

	// Reconnection backoff to the master (exponential with jitter).
	BackoffMin time.Duration // default 100ms
	BackoffMax time.Duration // default 5s
	// SubscribeTimeout bounds the wait for the master's SUBSCRIBED (and for
	// any event before the first PING interval is known); default 30s.
	SubscribeTimeout time.Duration
	// LeaderCheckInterval is how often, with several masters, the agent
	// asks another master of the list who leads (GET /agora/v1/leader),
	// so that it leaves a paused or partitioned leader within seconds
	// instead of after the ping timeout; default 1s.
	LeaderCheckInterval time.Duration
	// ExecutorHeartbeat is the interval of HEARTBEAT events on executor
	// streams; default 30m (some executors crash on unknown events).
	ExecutorHeartbeat time.Duration
	// MaxCompletedFrameworks, MaxCompletedExecutors (per framework) and
	// MaxCompletedTasks (per executor) bound the history kept for /state.
	MaxCompletedFrameworks int // default 50
	MaxCompletedExecutors  int // default 150
	MaxCompletedTasks      int // default 1000

	// FetcherCacheDir holds the fetcher cache, shared by the tasks of this
	// agent; default <WorkDir>/fetcher-cache.
	FetcherCacheDir string
	// FetcherCacheSize bounds the fetcher cache in bytes (least recently
	// used downloads are evicted beyond it); default 2 GiB.
	FetcherCacheSize int64

	// Isolation chooses how executors are confined: "cgroups" (a cgroup
	// per container with its memory and CPU shares; the agent fails to
	// start without writable cgroups), "posix" (rlimits and a /proc sweep)
	// or "auto" (cgroups when available, else posix); default auto.
	Isolation string

	// GCDelay is how long the sandboxes of ended executors and the
	// directories of removed frameworks are kept (Mesos's --gc_delay);
	// less when the disk fills up (GCDiskHeadroom); 0 means the default,
	// 1 week.
	GCDelay time.Duration
	// DiskWatchInterval is how often the disk usage of WorkDir is checked
	// to remove sandboxes sooner (Mesos's --disk_watch_interval); 0 means
	// the default, 1 minute.
	DiskWatchInterval time.Duration
	// GCDiskHeadroom (0..1): at each disk check, paths older than
	// GCDelay * max(0, 1 - GCDiskHeadroom - disk usage) are removed
	// (Mesos's --gc_disk_headroom); DefaultConfig sets 0.1, and 0 is
	// kept as 0.
	GCDiskHeadroom float64
}

// DefaultConfig returns the defaults of every field.
func DefaultConfig() Config {
	return Config{
		IP:                            "127.0.0.1",
		Port:                          5051,
		WorkDir:                       "/tmp/agora/agent",
		ExecutorArgs:                  []string{"executor"},
		DefaultExecutorArgs:           []string{"default-executor"},
		ExecutorRegistrationTimeout:   time.Minute,
		ExecutorReregistrationTimeout: 10 * time.Second,
		ExecutorShutdownGracePeriod:   5 * time.Second,
		ProcessKillGrace:              time.Second,
		StatusUpdateRetry:             10 * time.Second,
		StatusUpdateRetryMax:          10 * time.Minute,
		BackoffMin:                    100 * time.Millisecond,
		BackoffMax:                    5 * time.Second,
		SubscribeTimeout:              30 * time.Second,
		LeaderCheckInterval:           time.Second,
		ExecutorHeartbeat:             30 * time.Minute,
		MaxCompletedFrameworks:        50,
		MaxCompletedExecutors:         150,
		MaxCompletedTasks:             1000,
		FetcherCacheSize:              fetcher.DefaultCacheSize,
		Isolation:                     string(isolation.Auto),
		GCDelay:                       7 * 24 * time.Hour,
		DiskWatchInterval:             time.Minute,
		GCDiskHeadroom:                0.1,
	}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.Master == "":
		return errors.New("agent: master address is required")
	case c.WorkDir == "":
		return errors.New("agent: work_dir is required")
	case c.Port < 0 || c.Port > 65535:
		return fmt.Errorf("agent: port %d out of range", c.Port)
	case c.IP != "" && net.ParseIP(c.IP) == nil:
		return fmt.Errorf("agent: ip %q is not an IP address", c.IP)
	case c.ExecutorRegistrationTimeout < 0, c.ExecutorShutdownGracePeriod < 0, c.ProcessKillGrace < 0:
		return errors.New("agent: executor timeouts must not be negative")
	case c.StatusUpdateRetry < 0, c.StatusUpdateRetryMax < 0, c.BackoffMin < 0, c.BackoffMax < 0, c.LeaderCheckInterval < 0:
		return errors.New("agent: retry intervals must not be negative")
	case c.GCDelay < 0, c.DiskWatchInterval < 0:
		return errors.New("agent: gc_delay and disk_watch_interval must not be negative")
	case !(c.GCDiskHeadroom >= 0 && c.GCDiskHeadroom <= 1):
		return fmt.Errorf("agent: gc_disk_headroom %v is not between 0.0 and 1.0", c.GCDiskHeadroom)
	case c.FetcherCacheSize < 0:
		return errors.New("agent: fetcher cache size must not be negative")
	}
	switch c.CommandExecutor {
	case "", CommandExecutorAgent, CommandExecutorProcess:
	default:
		return fmt.Errorf("agent: command_executor %q is neither %q nor %q", c.CommandExecutor,
			CommandExecutorAgent, CommandExecutorProcess)
	}
	if _, err := isolation.ParseMode(c.Isolation); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if c.LauncherDir != "" && c.ExecutorPath == "" && !isExecutable(filepath.Join(c.LauncherDir, ExecutorBinary)) {
		return fmt.Errorf("agent: launcher_dir %s: no executable %s in it (build it with `make build`, or leave --launcher_dir unset to run the agent's own binary as the executor)",
			c.LauncherDir, ExecutorBinary)
	}
	if _, err := ParseMasters(c.Master); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	return nil
}

// withDefaults fills zero fields with their defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.IP == "" {
		c.IP = d.IP
	}
	if c.Hostname == "" {
		if h, err := os.Hostname(); err == nil {
			c.Hostname = h
		} else {
			c.Hostname = "localhost"
		}
	}
	if c.SupervisorPath == "" {
		if p := defaultSupervisorPath(c.LauncherDir); p != "" {
			c.SupervisorPath, c.SupervisorArgs = p, nil
		} else if c.ExecutorPath == "" {
			// agora-executor and agora both have `supervise`.
			c.SupervisorPath, c.SupervisorArgs = defaultExecutorPath(c.LauncherDir), []string{"supervise"}
		}
	}
	if c.CommandExecutor == "" {
		c.CommandExecutor = CommandExecutorAgent
	}
	if c.ExecutorPath == "" {
		c.ExecutorPath = defaultExecutorPath(c.LauncherDir)
	}
	if c.ExecutorArgs == nil {
		c.ExecutorArgs = d.ExecutorArgs
	}
	if c.DefaultExecutorArgs == nil {
		c.DefaultExecutorArgs = d.DefaultExecutorArgs
	}
	setDur := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setDur(&c.ExecutorRegistrationTimeout, d.ExecutorRegistrationTimeout)
	setDur(&c.ExecutorReregistrationTimeout, d.ExecutorReregistrationTimeout)
	setDur(&c.ExecutorShutdownGracePeriod, d.ExecutorShutdownGracePeriod)
	setDur(&c.ProcessKillGrace, d.ProcessKillGrace)
	setDur(&c.StatusUpdateRetry, d.StatusUpdateRetry)
	setDur(&c.StatusUpdateRetryMax, d.StatusUpdateRetryMax)
	setDur(&c.BackoffMin, d.BackoffMin)
	setDur(&c.BackoffMax, d.BackoffMax)
	setDur(&c.SubscribeTimeout, d.SubscribeTimeout)
	setDur(&c.LeaderCheckInterval, d.LeaderCheckInterval)
	setDur(&c.ExecutorHeartbeat, d.ExecutorHeartbeat)
	setDur(&c.GCDelay, d.GCDelay)
	setDur(&c.DiskWatchInterval, d.DiskWatchInterval)
	setInt := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setInt(&c.MaxCompletedFrameworks, d.MaxCompletedFrameworks)
	setInt(&c.MaxCompletedExecutors, d.MaxCompletedExecutors)
	setInt(&c.MaxCompletedTasks, d.MaxCompletedTasks)
	if c.FetcherCacheSize == 0 {
		c.FetcherCacheSize = d.FetcherCacheSize
	}
	if c.FetcherCacheDir == "" {
		c.FetcherCacheDir = filepath.Join(c.WorkDir, "fetcher-cache")
	}
	return c
}

// Agent is a running agent. Create it with New and start it with Run.
type Agent struct {
	// The IO switchboards of containers (sessions.go), by switchKey,
	// and the nested container sessions started, for WAIT_NESTED_CONTAINER.
	iosMu        sync.Mutex
	ios          map[string]*ioSwitch
	sessions     map[string]*session
	sessionOrder []string

	// sweep kills what is left of a container without exact cgroups
	// (sweepContainer; replaced in a fuzz test).
	sweep     func(containerID, sandbox string) int
	cfg       Config
	log       *slog.Logger
	authn     *authn
	authz     *authz.Authorizer // nil: no --acls, everything allowed
	owners    sandboxOwners     // the users of the sandboxes under /files
	ln        net.Listener
	addr      string // ip:port bound
	endpoint  string // ip:port advertised to executors and the master
	port      int
	startTime time.Time

	resources  []*mesos.Resource
	attributes []*mesos.Attribute

	files   sandboxFiles
	iso     isolation.Isolator
	fetcher *fetcher.Fetcher // CommandInfo.uris, with the agent's cache
	inbox   chan func()
	done    chan struct{} // closed when the loop has stopped
	conn    *masterConn
	// Launches in flight (sandbox, fetch, start) run off the loop under
	// launchCtx; shutdownAll cancels and waits for them.
	launchCtx    context.Context
	stopLaunches context.CancelFunc
	launchWG     sync.WaitGroup

	// gcMu is held by a sandbox removal from its claim to its end and by a
	// launch while it creates its sandbox (gc.go).
	gcMu sync.Mutex

	runMu  sync.Mutex
	ran    bool
	loopWG sync.WaitGroup

	// Everything below is owned by the loop goroutine.
	st *state
}

// New validates cfg, detects resources and listens on cfg.IP:cfg.Port, so
// that Addr is known before Run.
func New(cfg Config, logger *slog.Logger) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.WorkDir, 0o755); err != nil {
		return nil, fmt.Errorf("agent: create work_dir %q: %w", cfg.WorkDir, err)
	}
	res, attrs, err := agentResources(cfg, logger)
	if err != nil {
		return nil, err
	}
	ft, err := fetcher.New(fetcher.Config{CacheDir: cfg.FetcherCacheDir, CacheSize: cfg.FetcherCacheSize,
		Log: logger.With("component", "fetcher")})
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	mode, _ := isolation.ParseMode(cfg.Isolation)
	iso, err := isolation.New(mode)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if why := isolation.FallbackReason(iso); why != nil {
		logger.Info("isolation", "isolator", iso.Name(), "why_not_cgroups", why.Error())
	} else {
		logger.Info("isolation", "isolator", iso.Name())
	}
	an, err := newAuthn(cfg.Auth, logger)
	if err != nil {
		return nil, err
	}
	az, err := authz.Local(cfg.ACLs, cfg.Authorizer, "authorizer", logger)
	if err != nil {
		return nil, err
	}
	if _, err := cfg.TLS.Server(); cfg.TLS.On() && err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if _, err := cfg.TLS.Client(); cfg.TLS.On() && err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.IP, strconv.Itoa(cfg.Port)))
	if err != nil {
		return nil, fmt.Errorf("agent: listen on %s:%d: %w", cfg.IP, cfg.Port, err)
	}
	tcp := ln.Addr().(*net.TCPAddr)
	a := &Agent{
		sweep:      sweepContainer,
		cfg:        cfg,
		log:        logger,
		authn:      an,
		authz:      az,
		ln:         ln,
		addr:       tcp.String(),
		port:       tcp.Port,
		startTime:  time.Now(),
		resources:  res,
		attributes: attrs,
		files:      &files.Files{},
		fetcher:    ft,
		iso:        iso,
		inbox:      make(chan func(), 64),
		done:       make(chan struct{}),
	}
	a.launchCtx, a.stopLaunches = context.WithCancel(context.Background())
	a.endpoint = a.addr
	if tcp.IP.IsUnspecified() {
		// Executors run here, so loopback always reaches us; the master
		// needs an address it can route to.
		a.endpoint = net.JoinHostPort(advertisedIP(cfg.Hostname), strconv.Itoa(tcp.Port))
	}
	a.st = newState(a)
	a.conn = newMasterConn(a)
	if cfg.Credential != "" {
		cred, err := auth.LoadCredential(cfg.Credential, logger)
		if err != nil {
			_ = ln.Close()
			return nil, err
		}
		a.conn.principal = cred.Principal
		a.conn.authorization = auth.BasicHeader(cred.Principal, cred.Secret)
	}
	return a, nil
}

// advertisedIP picks a routable IP for an agent listening on all
// interfaces: the hostname's first non-loopback address, else loopback.
func advertisedIP(hostname string) string {
	if ips, err := net.LookupIP(hostname); err == nil {
		for _, ip := range ips {
			if ip.To4() != nil && !ip.IsLoopback() {
				return ip.String()
			}
		}
	}
	return "127.0.0.1"
}

// Addr returns the ip:port the agent's HTTP server is bound to.
func (a *Agent) Addr() string { return a.addr }

// pid is the libprocess-style id tools expect, slave(1)@ip:port.
func (a *Agent) pid() string { return "slave(1)@" + a.endpoint }

// Run serves HTTP and talks to the master until ctx is done. On return it
// has killed every executor process group it started.
func (a *Agent) Run(ctx context.Context) error {
	a.runMu.Lock()
	if a.ran {
		a.runMu.Unlock()
		return errors.New("agent: Run called twice")
	}
	a.ran = true
	a.runMu.Unlock()

	a.log.Info("agent starting", "addr", a.addr, "master", a.cfg.Master, "work_dir", a.cfg.WorkDir)
	a.warnIfOpen()
	// Recover before the loop, the server and the master connection start.
	adopted, err := a.st.recoverState()
	if err != nil {
		_ = a.ln.Close()
		close(a.done)
		return err
	}
	a.st.startRecovered(adopted)
	a.st.gcRecover()
	srv := &http.Server{Handler: auth.Middleware(a.realmOf, a.routes()), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: httpapi.IdleTimeout,
		ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelDebug)}
	srvLn, err := a.cfg.TLS.Listen(a.ln)
	if err != nil {
		_ = a.ln.Close()
		close(a.done)
		return err
	}
	for _, w := range a.cfg.TLS.Warnings() {
		a.log.Warn("SECURITY: " + w)
	}
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(srvLn) }()

	loopCtx, stopLoop := context.WithCancel(context.Background())
	a.loopWG.Add(1)
	go a.loop(loopCtx)
	go a.watchDisk(loopCtx)

	connCtx, stopConn := context.WithCancel(ctx)
	connDone := make(chan struct{})
	go func() { defer close(connDone); a.conn.run(connCtx) }()

	select {
	case <-ctx.Done():
	case err = <-srvErr:
		err = fmt.Errorf("agent: http server: %w", err)
	case err = <-a.conn.fatal:
		err = fmt.Errorf("agent: %w", err)
	}
	stopConn()
	<-connDone

	// Stop executors while the loop still runs, so that exits are
	// processed; then stop the loop and the server.
	a.shutdownAll()
	stopLoop()
	a.loopWG.Wait()
	shutCtx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = srv.Shutdown(shutCtx)
	_ = srv.Close()
	a.log.Info("agent stopped")
	return err
}

// maxLoopBatch bounds the loop functions run between two checkpoints.
const maxLoopBatch = 64

// loop is the single owner of a.st.
func (a *Agent) loop(ctx context.Context) {
	defer a.loopWG.Done()
	defer close(a.done)
	for {
		select {
		case f := <-a.inbox:
			a.runSafely(f)
			// What else is queued runs before the checkpoint, which costs
			// as much as the checkpointed tasks: under load one write
			// covers a batch. Paths that must be durable before they
			// answer (an executor's status update) checkpoint themselves.
		batch:
			for range maxLoopBatch {
				select {
				case f := <-a.inbox:
					a.runSafely(f)
				default:
					break batch
				}
			}
			a.runSafely(a.st.checkpoint)
		case <-ctx.Done():
			a.st.stopTimers()
			return
		}
	}
}

// runSafely runs f, turning a panic into a logged error so that one bad
// input cannot take the agent (and with it every task's supervision) down.
func (a *Agent) runSafely(f func()) {
	defer func() {
		if r := recover(); r != nil {
			a.log.Error("internal error in agent loop", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	f()
}

// post hands f to the loop without waiting for it to run. It drops f when
// the loop has stopped.
func (a *Agent) post(f func()) {
	select {
	case a.inbox <- f:
	case <-a.done:
	}
}

// do runs f on the loop and waits for it. It reports false when the loop
// has stopped or ctx ended first.
func (a *Agent) do(ctx context.Context, f func()) bool {
	ran := make(chan struct{})
	select {
	case a.inbox <- func() { f(); close(ran) }:
	case <-a.done:
		return false
	case <-ctx.Done():
		return false
	}
	select {
	case <-ran:
		return true
	case <-a.done:
		return false
	case <-ctx.Done():
		return false
	}
}

// afterFunc runs f on the loop after d.
func (a *Agent) afterFunc(d time.Duration, f func()) *time.Timer {
	return time.AfterFunc(d, func() { a.post(f) })
}

// shutdownAll ends every executor and waits for its processes: SHUTDOWN
// to subscribed executors, then after ExecutorShutdownGracePeriod SIGTERM
// and SIGKILL (ProcessKillGrace) to every group, then a sweep of each
// container for processes that left the group.
func (a *Agent) shutdownAll() {
	type container struct {
		p        processHandle
		c        isolation.Container
		cid, dir string
	}
	var cs []container
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a.do(ctx, func() { a.st.shuttingDown = true })
	a.stopLaunches()
	a.launchWG.Wait()
	a.do(ctx, func() {
		for _, e := range a.st.killAllExecutors() {
			cs = append(cs, container{e.proc.p, e.container, e.containerID, e.directory})
		}
	})
	waitAll := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		for _, c := range cs {
			select {
			case <-c.p.Done():
			case <-t.C:
				return false
			}
		}
		return true
	}
	if !waitAll(a.cfg.ExecutorShutdownGracePeriod) {
		for _, c := range cs {
			c.p.Kill(a.cfg.ProcessKillGrace)
		}
		if !waitAll(a.cfg.ProcessKillGrace + 5*time.Second) {
			a.log.Error("executor processes did not exit after SIGKILL")
		}
	}
	for _, c := range cs {
		a.destroyContainer(c.c, c.cid, c.dir)
	}
}
