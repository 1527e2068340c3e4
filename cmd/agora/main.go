// Command agora is Agora's single binary: the master, the agent, a whole
// local cluster, the built-in command executor, and the command-line
// tools. Each subcommand turns its flags into a package's Config and runs
// it; the logic lives in internal/.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/agora-dev/agora/internal/tlsconf"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/agora-dev/agora/internal/agent"
	"github.com/agora-dev/agora/internal/cli"
	"github.com/agora-dev/agora/internal/executor"
	"github.com/agora-dev/agora/internal/executor/defaultexec"
	"github.com/agora-dev/agora/internal/fetcher"
	"github.com/agora-dev/agora/internal/flags"
	"github.com/agora-dev/agora/internal/local"
	"github.com/agora-dev/agora/internal/master"
	"github.com/agora-dev/agora/internal/sim"
	"github.com/agora-dev/agora/internal/supervise"
	"github.com/agora-dev/agora/internal/version"
)

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string) int
}

var commands = []command{
	{"local", "run a master and N agents in this process (the embedded default)", runLocal},
	{"master", "run a master", runMaster},
	{"agent", "run an agent", runAgent},
	{"sim", "run N simulated agents (no processes) against a master, for capacity planning", runSim},
	{"run", "run one command on the cluster and follow it to its end", func(ctx context.Context, args []string) int {
		return cli.Run(ctx, args, os.Stdout, os.Stderr)
	}},
	{"agents", "list the agents", func(ctx context.Context, args []string) int { return cli.Agents(ctx, args, os.Stdout, os.Stderr) }},
	{"frameworks", "list the frameworks", func(ctx context.Context, args []string) int { return cli.Frameworks(ctx, args, os.Stdout, os.Stderr) }},
	{"tasks", "list the tasks (--all: with completed ones)", func(ctx context.Context, args []string) int { return cli.Tasks(ctx, args, os.Stdout, os.Stderr) }},
	{"task", "show one task, and why it is not running", func(ctx context.Context, args []string) int { return cli.Task(ctx, args, os.Stdout, os.Stderr) }},
	{"logs", "print (-f: follow) a task's stdout or stderr", func(ctx context.Context, args []string) int { return cli.Logs(ctx, args, os.Stdout, os.Stderr) }},
	{"exec", "run a command in a running task's container (-t: on a pty)", func(ctx context.Context, args []string) int {
		return cli.Exec(ctx, args, os.Stdin, os.Stdout, os.Stderr)
	}},
	{"attach", "attach to the output (and, with a tty, the input) of a running task", func(ctx context.Context, args []string) int {
		return cli.Attach(ctx, args, os.Stdin, os.Stdout, os.Stderr)
	}},
	{"kill", "kill a task", func(ctx context.Context, args []string) int { return cli.Kill(ctx, args, os.Stdout, os.Stderr) }},
	{"teardown", "tear a framework down", func(ctx context.Context, args []string) int { return cli.Teardown(ctx, args, os.Stdout, os.Stderr) }},
	{"executor", "the built-in command executor (started by agents)", func(ctx context.Context, args []string) int {
		return executor.Main(ctx, os.Getenv, newLogger("warn", os.Stderr))
	}},
	{"default-executor", "the built-in default executor for task groups (started by agents)", func(ctx context.Context, args []string) int {
		return defaultexec.Main(ctx, os.Getenv, newLogger("warn", os.Stderr))
	}},
	{"supervise", "the supervisor of a command task the agent runs itself (started by agents)", func(_ context.Context, args []string) int {
		return supervise.Main(args)
	}},
	{"version", "print the version", func(context.Context, []string) int {
		fmt.Printf("agora %s (Mesos API %s)\n", version.Agora, version.Mesos)
		return 0
	}},
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage(os.Stdout)
		os.Exit(0)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for _, c := range commands {
		if c.name == os.Args[1] {
			os.Exit(c.run(ctx, os.Args[2:]))
		}
	}
	fmt.Fprintf(os.Stderr, "agora: unknown command %q\n\n", os.Args[1])
	usage(os.Stderr)
	os.Exit(2)
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: agora COMMAND [FLAGS]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'agora COMMAND -h' for a command's flags.\n")
}

func newLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// mesosFlags is how the daemons read flags, as Mesos's do: also from
// $AGORA_<FLAG> and $MESOS_<FLAG>, `file://` values read from files,
// `--no-FLAG` for booleans, and Mesos's legacy names.
var mesosFlags = flags.Options{
	Env: true,
	Aliases: map[string]string{
		"slave_ping_timeout":           "agent_ping_timeout",
		"max_slave_ping_timeouts":      "max_agent_ping_timeouts",
		"slave_reregister_timeout":     "agent_reregister_timeout",
		"recovery_slave_removal_limit": "recovery_agent_removal_limit",
		"authenticate_http":            "authenticate_http_readwrite",
		"authenticate_slaves":          "authenticate_agents",
		"executor_secret_key":          "jwt_secret_key",
	},
	// Paths that the flag's owner reads itself (Mesos's Path flags).
	Verbatim: []string{"master", "masters", "credentials", "credential", "http_credentials", "jwt_secret_key", "acls", "raft_secret_file"},
}

// parse parses flags, printing errors the way users expect.
func parse(fs *flag.FlagSet, args []string) bool {
	fs.SetOutput(os.Stderr)
	if err := flags.Parse(fs, args, mesosFlags); err != nil {
		if !errors.Is(err, flag.ErrHelp) && !strings.Contains(err.Error(), "flag provided but not defined") {
			fmt.Fprintf(os.Stderr, "agora %s: %v\n", fs.Name(), err)
		}
		return false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "agora %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return false
	}
	return true
}

// tlsConfig is the TLS of a daemon: LIBPROCESS_SSL_* with the --tls_*
// flags over them. Warnings go to stderr; false means the settings are
// wrong (said on stderr).
func tlsConfig(tf *tlsconf.Flags, name string) (tlsconf.Config, bool) {
	c, warnings, err := tf.Config(os.Environ())
	for _, w := range warnings {
		fmt.Fprintf(os.Stderr, "agora %s: warning: %s\n", name, w)
	}
	if err == nil {
		err = c.Validate()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "agora %s: %v\n", name, err)
		return c, false
	}
	return c, true
}

func exitCode(err error) int {
	if err == nil || errors.Is(err, context.Canceled) {
		return 0
	}
	fmt.Fprintf(os.Stderr, "agora: %v\n", err)
	return 1
}

func masterFlags(fs *flag.FlagSet, c *master.Config) {
	fs.StringVar(&c.IP, "ip", c.IP, "IP address to listen on")
	masterAuthFlags(fs, &c.Auth)
	masterACLFlags(fs, c)
	fs.IntVar(&c.Port, "port", c.Port, "port to listen on")
	fs.Func("registry_port", "ignored: the registry's Raft traffic now uses the master's --port", func(string) error {
		fmt.Fprintln(os.Stderr, "agora master: --registry_port is ignored: the registry's Raft traffic uses --port")
		return nil
	})
	fs.StringVar(&c.Hostname, "hostname", c.Hostname, "hostname advertised to frameworks and agents (default: the IP)")
	flags.DurationVar(fs, &c.AllocationInterval, "allocation_interval", c.AllocationInterval, "period of the batched allocation cycle")
	flags.DurationVar(fs, &c.AgentPingTimeout, "agent_ping_timeout", c.AgentPingTimeout, "interval of agent pings")
	fs.IntVar(&c.MaxAgentPingTimeouts, "max_agent_ping_timeouts", c.MaxAgentPingTimeouts, "unanswered pings after which an agent is removed")
	flags.DurationVar(fs, &c.OfferTimeout, "offer_timeout", c.OfferTimeout, "rescind offers unused for this long (0: never)")
	flags.DurationVar(fs, &c.AgentReregisterTimeout, "agent_reregister_timeout", c.AgentReregisterTimeout,
		"after a failover, how long the new leader waits for the registry's agents to re-subscribe before marking them unreachable")
	flags.PercentVar(fs, &c.RecoveryAgentRemovalLimit, "recovery_agent_removal_limit", c.RecoveryAgentRemovalLimit,
		"the share of the registry's agents that may be marked unreachable after a failover; above it the master exits")
	flags.DurationVar(fs, &c.RaftTimeout, "raft_timeout", c.RaftTimeout,
		"the registry's Raft heartbeat and election timeout in a group of masters; a leader cut off from the others steps down after half of it")
}

func runMaster(ctx context.Context, args []string) int {
	cfg := master.DefaultConfig()
	fs := flag.NewFlagSet("master", flag.ContinueOnError)
	masterFlags(fs, &cfg)
	tf := tlsconf.RegisterFlags(fs)
	fs.StringVar(&cfg.WorkDir, "work_dir", "", "directory for the master's files; the registry persists under <work_dir>/registry (default: none, the registry is kept in memory and lost on restart)")
	masters := fs.String("masters", "", "host:port of every master of the group, this one included, the same list on each (comma-separated, or file:///path holding the list); default: a group of one")
	logLevel := fs.String("log_level", "info", "debug, info, warn or error")
	if !parse(fs, args) {
		return 2
	}
	var ok bool
	if cfg.TLS, ok = tlsConfig(tf, "master"); !ok {
		return 2
	}
	if *masters != "" {
		list, err := flags.Addresses(*masters)
		if err != nil {
			fmt.Fprintf(os.Stderr, "agora master: --masters: %v\n", err)
			return 2
		}
		cfg.Masters = list
	}
	if cfg.WorkDir != "" {
		if err := os.MkdirAll(cfg.WorkDir, 0o755); err != nil {
			return exitCode(err)
		}
	}
	m, err := master.New(cfg, newLogger(*logLevel, os.Stderr))
	if err != nil {
		return exitCode(err)
	}
	if len(cfg.Masters) > 1 {
		fmt.Fprintf(os.Stderr, "agora master listening on %s://%s, one of the group %s\n", cfg.TLS.Scheme(), m.Addr(), strings.Join(cfg.Masters, ","))
	} else {
		fmt.Fprintf(os.Stderr, "agora master listening on %s://%s\n", cfg.TLS.Scheme(), m.Addr())
	}
	return exitCode(m.Run(ctx))
}

func masterAuthFlags(fs *flag.FlagSet, a *master.AuthConfig) {
	fs.BoolVar(&a.AuthenticateHTTPFrameworks, "authenticate_http_frameworks", false,
		"frameworks must authenticate to the scheduler API (realm mesos-master-scheduler); needs --http_framework_authenticators=basic and --credentials")
	fs.StringVar(&a.HTTPFrameworkAuthenticators, "http_framework_authenticators", "", "authenticator of the scheduler API: basic")
	fs.BoolVar(&a.AuthenticateHTTPReadonly, "authenticate_http_readonly", false,
		"authenticate the read-only endpoints (/state, /metrics/snapshot, /files/*, ...; realm mesos-master-readonly)")
	fs.BoolVar(&a.AuthenticateHTTPReadwrite, "authenticate_http_readwrite", false,
		"authenticate the operator API /api/v1 and the endpoints that change state (realm mesos-master-readwrite); alias --authenticate_http")
	fs.StringVar(&a.HTTPAuthenticators, "http_authenticators", "basic", "authenticator of the read-only and read-write realms: basic")
	fs.BoolVar(&a.AuthenticateAgents, "authenticate_agents", false,
		"agents must authenticate (their --credential) before they are admitted; alias --authenticate_slaves")
	fs.StringVar(&a.Credentials, "credentials", "", `path (or file:///path) of the JSON credentials: {"credentials":[{"principal":"ops","secret":"..."}]}`)
	fs.StringVar(&a.RateLimits, "rate_limits", "",
		`per-principal rate of scheduler calls, Mesos's JSON (inline, path or file://): {"limits":[{"principal":"p","qps":50,"capacity":100}],"aggregate_default_qps":20}; over it a call gets 429 with Retry-After`)
	fs.IntVar(&a.MaxStreamsPerPrincipal, "max_streams_per_principal", 0, "most SUBSCRIBE streams one principal may hold open (0: no cap); over it 429")
	fs.StringVar(&a.RaftSecretFile, "raft_secret_file", "", "path of the secret every master of the group shares: Raft connections without it are refused")
}

func masterACLFlags(fs *flag.FlagSet, c *master.Config) {
	fs.StringVar(&c.ACLs, "acls", "", `Mesos's ACL JSON, inline or a path (or file:///path): {"permissive":false,"run_tasks":[...],...}; see docs/security.md`)
	fs.StringVar(&c.Authorizers, "authorizers", "local", "authorizer: local (the ACLs of --acls)")
}

func agentAuthFlags(fs *flag.FlagSet, c *agent.Config) {
	a := &c.Auth
	fs.BoolVar(&a.AuthenticateHTTPReadonly, "authenticate_http_readonly", false,
		"authenticate /state, /flags, /metrics/snapshot and /files/* (realm mesos-agent-readonly); needs --http_credentials")
	fs.BoolVar(&a.AuthenticateHTTPReadwrite, "authenticate_http_readwrite", false,
		"authenticate the operator API /api/v1 (realm mesos-agent-readwrite); needs --http_credentials")
	fs.BoolVar(&a.AuthenticateHTTPExecutors, "authenticate_http_executors", false,
		"executors must present their token on /api/v1/executor (realm mesos-agent-executor); needs --jwt_secret_key")
	fs.StringVar(&a.HTTPAuthenticators, "http_authenticators", "", "authenticators of the agent's realms: basic, jwt (default basic; basic,jwt with --authenticate_http_executors)")
	fs.StringVar(&a.HTTPCredentials, "http_credentials", "", `path (or file:///path) of the JSON credentials for Basic: {"credentials":[{"principal":"ops","secret":"..."}]}`)
	fs.StringVar(&c.ACLs, "acls", "", `Mesos's ACL JSON, inline or a path (or file:///path): view_*, access_sandboxes, get_endpoints and the nested-container actions are checked here; see docs/security.md`)
	fs.StringVar(&c.Authorizer, "authorizer", "local", "authorizer: local (the ACLs of --acls)")
	fs.StringVar(&a.JWTSecretKey, "jwt_secret_key", "", "path of the key that signs executor tokens (MESOS_EXECUTOR_AUTHENTICATION_TOKEN); alias --executor_secret_key")
}

func agentFlags(fs *flag.FlagSet, c *agent.Config) {
	fs.StringVar(&c.Resources, "resources", c.Resources, "resources in Mesos syntax, e.g. 'cpus:2;mem:1024;ports:[31000-32000]' (unset ones are detected)")
	fs.StringVar(&c.Attributes, "attributes", c.Attributes, "attributes, e.g. 'rack:r1;zone:a'")
	flags.DurationVar(fs, &c.ExecutorRegistrationTimeout, "executor_registration_timeout", c.ExecutorRegistrationTimeout, "time an executor has to subscribe")
	flags.DurationVar(fs, &c.ExecutorShutdownGracePeriod, "executor_shutdown_grace_period", c.ExecutorShutdownGracePeriod, "default time an executor has to exit after SHUTDOWN")
	fs.StringVar(&c.FetcherCacheDir, "fetcher_cache_dir", c.FetcherCacheDir, "directory of the fetcher cache (default <work_dir>/fetcher-cache)")
	fs.Func("fetcher_cache_size", "size bound of the fetcher cache, e.g. 2GB or 512MB (default 2GB)", func(s string) error {
		n, err := fetcher.ParseBytes(s)
		c.FetcherCacheSize = n
		return err
	})
	fs.BoolVar(&c.SwitchUser, "switch_user", true, "run executors and tasks as CommandInfo.user, else FrameworkInfo.user (--no-switch_user: as the agent's user)")
	fs.StringVar(&c.LauncherDir, "launcher_dir", c.LauncherDir,
		"directory holding agora-executor, the built-in executors' binary (default: beside this binary; without one there, this binary is the executor)")
	fs.StringVar(&c.CommandExecutor, "command_executor", agent.CommandExecutorAgent,
		"who runs a command task: agent (the agent is its command executor, with a small agora-supervisor process per task) or process (a command executor process per task, as Mesos does); tasks with a health check or a tty always get the process")
	fs.StringVar(&c.Isolation, "isolation", c.Isolation, "executor isolation: auto (cgroups when writable, else posix), cgroups or posix")
	flags.DurationVar(fs, &c.GCDelay, "gc_delay", c.GCDelay,
		"how long the sandboxes of ended executors and removed frameworks are kept, e.g. 1weeks or 3days (less when the disk fills up)")
	flags.DurationVar(fs, &c.DiskWatchInterval, "disk_watch_interval", c.DiskWatchInterval,
		"how often the disk usage of work_dir is checked to remove sandboxes sooner")
	fs.Float64Var(&c.GCDiskHeadroom, "gc_disk_headroom", c.GCDiskHeadroom,
		"0.0-1.0: sandboxes older than gc_delay * max(0, 1 - gc_disk_headroom - disk usage) are removed at each disk check")
}

func runAgent(ctx context.Context, args []string) int {
	cfg := agent.DefaultConfig()
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.StringVar(&cfg.Master, "master", "127.0.0.1:5050",
		"host:port of the master, or of every master of a group (HOST:PORT,HOST:PORT,...), or file:///path of a file holding that list")
	flags.DurationVar(fs, &cfg.LeaderCheckInterval, "leader_check_interval", cfg.LeaderCheckInterval,
		"with several masters, how often to ask another master who leads (to leave a paused or cut-off leader quickly)")
	fs.StringVar(&cfg.IP, "ip", cfg.IP, "IP address to listen on")
	fs.IntVar(&cfg.Port, "port", cfg.Port, "port to listen on")
	fs.StringVar(&cfg.Hostname, "hostname", cfg.Hostname, "hostname advertised to the master")
	fs.StringVar(&cfg.WorkDir, "work_dir", cfg.WorkDir, "directory for sandboxes")
	fs.StringVar(&cfg.Credential, "credential", "", `path (or file:///path) of the agent's credential for the master: {"principal":"agent","secret":"..."}`)
	agentFlags(fs, &cfg)
	agentAuthFlags(fs, &cfg)
	tf := tlsconf.RegisterFlags(fs)
	logLevel := fs.String("log_level", "info", "debug, info, warn or error")
	if !parse(fs, args) {
		return 2
	}
	var ok bool
	if cfg.TLS, ok = tlsConfig(tf, "agent"); !ok {
		return 2
	}
	a, err := agent.New(cfg, newLogger(*logLevel, os.Stderr))
	if err != nil {
		return exitCode(err)
	}
	fmt.Fprintf(os.Stderr, "agora agent listening on %s://%s, master %s\n", cfg.TLS.Scheme(), a.Addr(), cfg.Master)
	return exitCode(a.Run(ctx))
}

func runSim(ctx context.Context, args []string) int {
	cfg := sim.DefaultConfig()
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	masters := fs.String("master", "127.0.0.1:5050", "host:port of the master, or of every master of a group (HOST:PORT,HOST:PORT,...)")
	fs.IntVar(&cfg.Agents, "agents", cfg.Agents, "number of simulated agents")
	fs.StringVar(&cfg.Resources, "resources", cfg.Resources, "each agent's resources in Mesos syntax")
	fs.StringVar(&cfg.Attributes, "attributes", cfg.Attributes, "each agent's attributes in Mesos syntax (rack:r1;zone:z)")
	flags.DurationVar(fs, &cfg.TaskDuration, "task_duration", cfg.TaskDuration,
		"how long a task runs before TASK_FINISHED unless its label 'duration' says otherwise (0: until killed)")
	fs.Float64Var(&cfg.SubscribeRate, "subscribe_rate", cfg.SubscribeRate, "first subscriptions per second (0: all at once)")
	fs.StringVar(&cfg.Hostname, "hostname", cfg.Hostname, "base of the agents' hostnames (<hostname>-00042)")
	flags.DurationVar(fs, &cfg.BackoffMin, "backoff_min", cfg.BackoffMin, "first (jittered) wait before re-subscribing after a round of failed attempts")
	flags.DurationVar(fs, &cfg.BackoffMax, "backoff_max", cfg.BackoffMax, "longest wait between re-subscription rounds")
	flags.DurationVar(fs, &cfg.StatusUpdateRetry, "status_update_retry", cfg.StatusUpdateRetry, "first resend interval of an unacknowledged status update")
	var progress time.Duration
	flags.DurationVar(fs, &progress, "progress_interval", time.Second, "how often to print progress")
	logLevel := fs.String("log_level", "warn", "debug, info, warn or error")
	if !parse(fs, args) {
		return 2
	}
	list, err := flags.Addresses(*masters)
	if err != nil {
		fmt.Fprintf(os.Stderr, "agora sim: --master: %v\n", err)
		return 2
	}
	cfg.Masters = list
	s, err := sim.New(cfg, newLogger(*logLevel, os.Stderr))
	if err != nil {
		return exitCode(err)
	}
	fmt.Printf("sim: %d agents (%s) against %s\n", cfg.Agents, cfg.Resources, strings.Join(list, ","))
	done := make(chan struct{})
	go func() { defer close(done); s.Report(ctx, os.Stdout, progress) }()
	err = s.Run(ctx)
	<-done
	s.Summary(os.Stdout)
	return exitCode(err)
}

func runLocal(ctx context.Context, args []string) int {
	cfg := local.Config{Master: master.DefaultConfig(), Agent: agent.DefaultConfig()}
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	fs.StringVar(&cfg.IP, "ip", "127.0.0.1", "IP address to listen on")
	fs.IntVar(&cfg.Port, "port", 5050, "master port")
	fs.IntVar(&cfg.Agents, "agents", 2, "number of agents")
	fs.IntVar(&cfg.Masters, "masters", 1, "number of masters in the group (ports --port, --port+1, …); 3 gives a group that survives losing one")
	fs.StringVar(&cfg.WorkDir, "work_dir", "", "root of the work directories (default: a new temporary directory)")
	fs.StringVar(&cfg.Resources, "resources", "", "each agent's resources in Mesos syntax (default: detected)")
	fs.BoolVar(&cfg.Agent.SwitchUser, "switch_user", false, "run tasks as their user (off by default in local mode: tasks run as your user)")
	logLevel := fs.String("log_level", "warn", "debug, info, warn or error")
	if !parse(fs, args) {
		return 2
	}
	start := time.Now()
	c, err := local.New(cfg, newLogger(*logLevel, os.Stderr))
	if err != nil {
		return exitCode(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	readyCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = c.WaitReady(readyCtx)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "agora local: the cluster did not come up: %v\n", err)
		return exitCode(<-done)
	}
	leader := c.Leader()
	var group []string
	for i, m := range c.Masters {
		group = append(group, m.Addr())
		role := ""
		if len(c.Masters) > 1 {
			role = " standby"
			if m == leader {
				role = " leader"
			}
			fmt.Printf("agora local: master %d http://%s%s (id %s)\n", i, m.Addr(), role, m.ID())
			continue
		}
		fmt.Printf("agora local: master http://%s (id %s)\n", m.Addr(), m.ID())
	}
	for i, a := range c.Agents {
		fmt.Printf("agora local: agent %d http://%s\n", i, a.Addr())
	}
	fmt.Printf("agora local: web console http://%s/\n", leader.Addr())
	if c.AgentResources != "" {
		fmt.Printf("agora local: each agent offers its share of this machine: %s (--resources to choose)\n", c.AgentResources)
	}
	if cfg.Agent.SwitchUser {
		fmt.Printf("agora local: tasks run as their user (--switch_user)\n")
	} else {
		fmt.Printf("agora local: tasks run as your user, not as their framework's user (--switch_user=false; --switch_user to change)\n")
	}
	fmt.Printf("agora local: work dir %s\n", c.WorkDir)
	fmt.Printf("agora local: ready in %s; try: agora run --master=%s -- echo hello\n", time.Since(start).Round(time.Millisecond), strings.Join(group, ","))
	err = <-done
	if c.TempWorkDir && (err == nil || errors.Is(err, context.Canceled)) {
		// A clean exit leaves nothing behind; --work_dir is the user's.
		if rerr := os.RemoveAll(c.WorkDir); rerr != nil {
			fmt.Fprintf(os.Stderr, "agora local: cannot remove the work dir %s: %v\n", c.WorkDir, rerr)
		}
	}
	return exitCode(err)
}
