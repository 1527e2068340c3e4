package scheduler

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/agora-dev/agora/api/codec"
	mesos "github.com/agora-dev/agora/api/mesos/v1"
	schedpb "github.com/agora-dev/agora/api/mesos/v1/scheduler"
	"github.com/agora-dev/agora/api/recordio"
)

// Defaults of the Config fields left zero.
const (
	DefaultHeartbeatTimeoutFactor = 5
	DefaultBackoffMin             = 250 * time.Millisecond
	DefaultBackoffMax             = 15 * time.Second
	DefaultCallTimeout            = 30 * time.Second
	DefaultLeaderCheckInterval    = time.Second
)

// maxRedirects bounds how many 307s one subscription attempt follows.
const maxRedirects = 8

// streamIDHeader is the header that ties calls to a subscription.
const streamIDHeader = "Mesos-Stream-Id"

// Errors returned by the Driver.
var (
	// ErrNotSubscribed is returned by calls made while the driver has no
	// subscription (before SUBSCRIBED, between resubscriptions, after Stop).
	ErrNotSubscribed = errors.New("scheduler: not subscribed to a master")
	// ErrAborted is returned by Run after Abort.
	ErrAborted = errors.New("scheduler: driver aborted")
)

// Config configures a Driver. Only Master and Framework are required.
type Config struct {
	// Master is the master's address: "host:port" or a URL such as
	// "http://host:port" (https works too). The path /api/v1/scheduler is
	// appended unless the URL already ends with it. A comma-separated list
	// ("A,B,C") names several masters of a group: the driver asks one, follows
	// its 307 to the leader, and moves on to the next one on a 503 or a
	// connection error.
	Master string
	// Masters lists more masters of the group, in the same forms; they come
	// after those of Master, and either may be empty.
	Masters []string
	// Framework describes the framework. User and Name are required. Set
	// Id to fail over from a previous instance of the framework; set
	// FailoverTimeout > 0 to keep the framework id (and its tasks) across
	// resubscriptions.
	Framework *mesos.FrameworkInfo
	// Codec selects the wire encoding; nil means codec.Protobuf.
	Codec codec.Codec
	// HTTPClient makes the requests; nil means a client with no overall
	// timeout (the event stream is long-lived). The driver never lets it
	// follow redirects itself.
	HTTPClient *http.Client
	// Logger receives the driver's diagnostics; nil means none.
	Logger *slog.Logger
	// ManualAcknowledge turns off automatic acknowledgement: by default the
	// driver acknowledges every status update that carries a uuid after
	// StatusUpdate returns; with ManualAcknowledge the framework must call
	// AcknowledgeStatusUpdate itself.
	ManualAcknowledge bool
	// HeartbeatTimeoutFactor is how many heartbeat intervals may pass
	// without any event before the driver drops the subscription and
	// resubscribes (default 5; negative disables the watchdog).
	HeartbeatTimeoutFactor float64
	// BackoffMin and BackoffMax bound the jittered exponential backoff
	// between subscription attempts (defaults 250ms and 15s).
	BackoffMin, BackoffMax time.Duration
	// CallTimeout bounds each call other than SUBSCRIBE (default 30s).
	CallTimeout time.Duration
	// LeaderCheckInterval applies with several masters: that often the
	// driver asks another master of the list who leads (GET
	// /agora/v1/leader, Agora's; masters without it are ignored), and when
	// a newly elected leader confirms itself it drops its subscription and
	// subscribes there at once, so that it leaves a paused or cut-off
	// leader within seconds rather than after the heartbeat timeout.
	// Default 1s; negative turns it off.
	LeaderCheckInterval time.Duration
	// SuppressedRoles are sent with every SUBSCRIBE.
	SuppressedRoles []string
	// Principal and Secret authenticate every call with HTTP Basic (for a
	// master run with --authenticate_http_frameworks). When Framework has
	// no principal, Principal becomes it.
	Principal, Secret string
}

// Driver connects a Scheduler to a master. Create it with NewDriver, serve
// it with Run, and use its methods to act on offers and tasks.
type Driver struct {
	sched    Scheduler
	cfg      Config
	codec    codec.Codec
	client   *http.Client
	log      *slog.Logger
	origins  []*url.URL // the configured masters
	hbFactor float64
	autoAck  bool

	mu          sync.Mutex
	next        int // index in origins of the master to try after endpoint
	endpoint    *url.URL
	dropID      bool   // a resubscription with the id was refused: register anew
	pinned      bool   // a call's 307 named the leader: resubscribe there first
	switchTo    string // host:port of a new leader found by detect
	maxTerm     uint64 // highest term a confirmed leader reported
	frameworkID *mesos.FrameworkID
	registered  bool // a SUBSCRIBED has been received
	streamID    string
	drop        context.CancelFunc // ends the current subscription attempt
	lastErr     error
	started     bool
	finished    bool
	result      error // what Run returns after Stop/Abort
	done        chan struct{}
}

// NewDriver checks cfg and returns a driver for sched.
func NewDriver(cfg Config, sched Scheduler) (*Driver, error) {
	if sched == nil {
		return nil, errors.New("scheduler: nil Scheduler")
	}
	if cfg.Framework == nil {
		return nil, errors.New("scheduler: Config.Framework is required")
	}
	if cfg.Framework.GetName() == "" {
		return nil, errors.New("scheduler: framework name is required")
	}
	if cfg.Framework.User == nil {
		return nil, errors.New("scheduler: framework user is required")
	}
	origins, err := endpointURLs(cfg.Master, cfg.Masters)
	if err != nil {
		return nil, err
	}
	d := &Driver{
		sched:    sched,
		cfg:      cfg,
		codec:    cfg.Codec,
		log:      cfg.Logger,
		origins:  origins,
		endpoint: origins[0],
		next:     1 % len(origins),
		hbFactor: cfg.HeartbeatTimeoutFactor,
		autoAck:  !cfg.ManualAcknowledge,
		done:     make(chan struct{}),
	}
	d.cfg.Framework = proto.Clone(cfg.Framework).(*mesos.FrameworkInfo)
	if cfg.Principal != "" && d.cfg.Framework.Principal == nil {
		p := cfg.Principal
		d.cfg.Framework.Principal = &p
	}
	if d.codec == nil {
		d.codec = codec.Protobuf
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.hbFactor == 0 {
		d.hbFactor = DefaultHeartbeatTimeoutFactor
	}
	if d.cfg.BackoffMin <= 0 {
		d.cfg.BackoffMin = DefaultBackoffMin
	}
	if d.cfg.BackoffMax <= 0 {
		d.cfg.BackoffMax = DefaultBackoffMax
	}
	if d.cfg.BackoffMax < d.cfg.BackoffMin {
		d.cfg.BackoffMax = d.cfg.BackoffMin
	}
	if d.cfg.CallTimeout <= 0 {
		d.cfg.CallTimeout = DefaultCallTimeout
	}
	if d.cfg.LeaderCheckInterval == 0 {
		d.cfg.LeaderCheckInterval = DefaultLeaderCheckInterval
	}
	var client http.Client
	if cfg.HTTPClient != nil {
		client = *cfg.HTTPClient
	}
	if client.Transport == nil {
		// http.DefaultTransport keeps 2 idle connections per host: a
		// framework that acknowledges or accepts from many goroutines
		// would dial (and close) a connection for most of its calls.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = DefaultMaxIdleConns
		client.Transport = t
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	d.client = &client
	if id := d.cfg.Framework.GetId(); id.GetValue() != "" {
		d.frameworkID = id
	}
	return d, nil
}

// DefaultMaxIdleConns is how many idle connections to each master the
// driver keeps for its calls when Config.HTTPClient brings no Transport.
const DefaultMaxIdleConns = 64

// endpointURLs turns Config.Master and Config.Masters into the scheduler
// endpoints' URLs.
func endpointURLs(master string, more []string) ([]*url.URL, error) {
	var out []*url.URL
	for _, list := range append([]string{master}, more...) {
		for _, m := range strings.Split(list, ",") {
			if m = strings.TrimSpace(m); m == "" {
				continue
			}
			u, err := endpointURL(m)
			if err != nil {
				return nil, err
			}
			out = append(out, u)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("scheduler: Config.Master is required")
	}
	return out, nil
}

// endpointURL turns one master address into the scheduler endpoint's URL.
func endpointURL(master string) (*url.URL, error) {
	raw := master
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("scheduler: bad master address %q: %w", master, err)
	}
	if u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("scheduler: bad master address %q: want host:port or http(s)://host:port", master)
	}
	if !strings.HasSuffix(u.Path, "/api/v1/scheduler") {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/api/v1/scheduler"
	}
	u.RawPath = ""
	return u, nil
}

// FrameworkID returns the framework's id: the one assigned by the last
// SUBSCRIBED, or Config.Framework.Id before that; nil if neither exists.
func (d *Driver) FrameworkID() *mesos.FrameworkID {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.frameworkID
}

// Connected reports whether the driver currently holds a subscription.
func (d *Driver) Connected() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.streamID != ""
}

// LastError returns why the last subscription attempt failed, or nil once a
// subscription succeeds. It lets a program explain why it is still waiting.
func (d *Driver) LastError() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lastErr
}

// Run subscribes and serves events to the Scheduler until Stop or Abort is
// called, ctx ends, or the master sends an ERROR (such as "Framework has
// been removed"). It resubscribes, with backoff, whenever the subscription
// is lost. It returns nil after Stop, ErrAborted after Abort, ctx.Err()
// when ctx ends, and a descriptive error for an ERROR event. Run may be
// called only once.
func (d *Driver) Run(ctx context.Context) error {
	d.mu.Lock()
	if d.started {
		d.mu.Unlock()
		return errors.New("scheduler: Run called twice")
	}
	d.started = true
	d.mu.Unlock()

	if len(d.origins) > 1 && d.cfg.LeaderCheckInterval > 0 {
		dctx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); d.detect(dctx) }()
		defer wg.Wait()
		defer stop()
	}

	backoff := d.cfg.BackoffMin
	tried := 0 // masters tried since the last subscription or backoff
	for {
		if err, ok := d.outcome(ctx); ok {
			return err
		}
		subscribed, err := d.subscribeOnce(ctx)
		var fatal *fatalError
		if errors.As(err, &fatal) {
			d.finish(err)
			return err
		}
		if err, ok := d.outcome(ctx); ok {
			return err
		}
		d.mu.Lock()
		d.lastErr = err
		d.mu.Unlock()
		failed := d.currentEndpoint().Host
		if subscribed {
			backoff = d.cfg.BackoffMin
			tried = 0
			d.log.Warn("scheduler: subscription lost; resubscribing", "master", failed, "error", err)
			d.sched.Disconnected(d)
		}
		if leader := d.takeSwitch(); leader != "" {
			d.log.Info("scheduler: following new leading master", "old", failed, "new", leader)
			if err := d.redirect("//" + leader); err == nil {
				tried = 0
				continue // at once
			}
		}
		if errors.Is(err, errRegisterAnew) {
			continue // at once, without the framework id
		}
		// The next attempt goes to the next configured master; only
		// after every one has failed does the driver back off.
		if !d.unpin() {
			d.rotate()
		}
		tried++
		if tried < len(d.origins) {
			d.log.Info("scheduler: master unavailable; trying the next one", "master", failed, "error", err,
				"next", d.currentEndpoint().Host)
			continue
		}
		tried = 0
		if !subscribed {
			d.log.Warn("scheduler: subscribing failed", "master", failed, "error", err, "retry_in", backoff)
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		backoff = min(2*backoff, d.cfg.BackoffMax)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		case <-d.done:
			t.Stop()
		}
	}
}

// outcome reports whether Run must return, and with what.
func (d *Driver) outcome(ctx context.Context) (error, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.finished {
		return d.result, true
	}
	if ctx.Err() != nil {
		return ctx.Err(), true
	}
	return nil, false
}

// Stop ends Run. With failover false it first sends TEARDOWN, so the master
// removes the framework and kills its tasks; with failover true the
// framework stays registered (for failover_timeout) so that another
// instance can take it over. The error is that of the TEARDOWN call; Run
// returns nil either way.
func (d *Driver) Stop(failover bool) error {
	var err error
	if !failover && !d.isFinished() {
		err = d.send(&schedpb.Call{Type: schedpb.Call_TEARDOWN.Enum()})
		if err != nil {
			d.log.Warn("scheduler: teardown failed", "error", err)
		}
	}
	d.finish(nil)
	return err
}

// Abort ends Run without telling the master anything; Run returns
// ErrAborted.
func (d *Driver) Abort() {
	d.finish(ErrAborted)
}

func (d *Driver) isFinished() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.finished
}

func (d *Driver) finish(result error) {
	d.mu.Lock()
	if !d.finished {
		d.finished = true
		d.result = result
		close(d.done)
	}
	drop := d.drop
	d.mu.Unlock()
	if drop != nil {
		drop()
	}
}

func (d *Driver) takeSwitch() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.switchTo
	d.switchTo = ""
	return s
}

// leaderInfo is an Agora master's answer to GET /agora/v1/leader.
type leaderInfo struct {
	Leader  string `json:"leader"`
	Self    string `json:"self"`
	Elected bool   `json:"elected"`
	Term    uint64 `json:"term"`
}

// askLeader asks the master at host who leads.
func (d *Driver) askLeader(ctx context.Context, scheme, host string) (leaderInfo, error) {
	var info leaderInfo
	timeout := min(max(d.cfg.LeaderCheckInterval, 300*time.Millisecond), 2*time.Second)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+host+"/agora/v1/leader", nil)
	if err != nil {
		return info, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		return info, err
	}
	defer drainClose(resp)
	if resp.StatusCode != http.StatusOK {
		return info, fmt.Errorf("/agora/v1/leader answered %s", resp.Status)
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&info)
	return info, err
}

// detect asks, every LeaderCheckInterval, another configured master who
// leads. When one names a leader other than the master of the current
// attempt, and that leader confirms it is elected (in a term no older than
// any seen), the attempt is dropped and Run subscribes there at once.
func (d *Driver) detect(ctx context.Context) {
	t := time.NewTicker(d.cfg.LeaderCheckInterval)
	defer t.Stop()
	n := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d.mu.Lock()
		ep, drop := d.endpoint, d.drop
		d.mu.Unlock()
		if drop == nil {
			continue
		}
		target := ep.Host
		var ask *url.URL
		for range d.origins {
			o := d.origins[n%len(d.origins)]
			n++
			if o.Host != target {
				ask = o
				break
			}
		}
		if ask == nil {
			continue
		}
		info, err := d.askLeader(ctx, ask.Scheme, ask.Host)
		if err != nil {
			d.log.Debug("scheduler: leader check failed", "master", ask.Host, "error", err)
			continue
		}
		cand := info.Leader
		if info.Elected {
			cand = cmp.Or(info.Self, ask.Host)
		}
		if cand == "" {
			continue
		}
		if cand == target {
			d.mu.Lock()
			d.maxTerm = max(d.maxTerm, info.Term)
			d.mu.Unlock()
			continue
		}
		conf := info
		if !info.Elected {
			if conf, err = d.askLeader(ctx, ask.Scheme, cand); err != nil {
				d.log.Debug("scheduler: leader check failed", "master", cand, "error", err)
				continue
			}
		}
		if !conf.Elected {
			continue
		}
		d.mu.Lock()
		if conf.Term < d.maxTerm || d.endpoint.Host != target || d.drop == nil || d.finished {
			d.mu.Unlock()
			continue
		}
		d.maxTerm = conf.Term
		d.switchTo = cand
		drop = d.drop
		d.mu.Unlock()
		drop()
	}
}

// unpin reports whether a call's 307 chose the next master, and forgets it.
func (d *Driver) unpin() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.pinned
	d.pinned = false
	return p
}

// rotate points the driver at the next configured master.
func (d *Driver) rotate() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.endpoint = d.origins[d.next]
	d.next = (d.next + 1) % len(d.origins)
}

// errRegisterAnew ends an attempt whose framework id the master refused
// ("Framework has been removed") on a resubscription without
// failover_timeout: the next attempt registers a new framework.
var errRegisterAnew = errors.New("scheduler: the master removed the framework; registering anew")

func (d *Driver) currentEndpoint() *url.URL {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.endpoint
}

// fatalError is an ERROR event from the master: it ends Run.
type fatalError struct{ msg string }

func (e *fatalError) Error() string { return fmt.Sprintf("scheduler: master sent error %q", e.msg) }

// subscribeCall builds the SUBSCRIBE call of the next attempt. optimistic
// says that it carries the id of a framework without failover_timeout: a
// master that saw the stream break has removed it (and refuses the id),
// but a newly elected leader takes it back with its tasks.
func (d *Driver) subscribeCall() (call *schedpb.Call, optimistic bool) {
	info := proto.Clone(d.cfg.Framework).(*mesos.FrameworkInfo)
	d.mu.Lock()
	fid, registered, dropID := d.frameworkID, d.registered, d.dropID
	d.mu.Unlock()
	info.Id = nil
	call = &schedpb.Call{
		Type: schedpb.Call_SUBSCRIBE.Enum(),
		Subscribe: &schedpb.Call_Subscribe{
			FrameworkInfo:   info,
			SuppressedRoles: d.cfg.SuppressedRoles,
		},
	}
	// Without failover_timeout a master forgets the framework as soon as
	// the stream breaks, so a resubscription to it registers a new one;
	// but the stream may have broken because the leader changed, and the
	// new leader takes the framework back with its id. So the id is tried
	// first, and dropped once a master refuses it.
	optimistic = registered && info.GetFailoverTimeout() <= 0
	if fid != nil && !(optimistic && dropID) {
		info.Id = proto.Clone(fid).(*mesos.FrameworkID)
		call.FrameworkId = proto.Clone(fid).(*mesos.FrameworkID)
	} else {
		optimistic = false
	}
	return call, optimistic
}

// subscribeOnce makes one subscription attempt and serves its events until
// the stream ends. subscribed says whether SUBSCRIBED arrived.
func (d *Driver) subscribeOnce(ctx context.Context) (subscribed bool, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.mu.Lock()
	if d.finished {
		d.mu.Unlock()
		return false, nil
	}
	d.drop = cancel
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.drop = nil
		d.streamID = ""
		d.mu.Unlock()
	}()

	call, optimistic := d.subscribeCall()
	body, err := d.codec.Marshal(call)
	if err != nil {
		return false, fmt.Errorf("encoding subscribe call: %w", err)
	}
	resp, err := d.postSubscribe(sctx, body)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	streamID := resp.Header.Get(streamIDHeader)
	if streamID == "" {
		return false, errors.New("subscribe response has no Mesos-Stream-Id header")
	}
	if mt, _, _ := strings.Cut(resp.Header.Get("Content-Type"), ";"); strings.TrimSpace(mt) != d.codec.MediaType() {
		return false, fmt.Errorf("subscribe response has Content-Type %q, want %q", resp.Header.Get("Content-Type"), d.codec.MediaType())
	}

	var (
		watchdog *time.Timer
		timeout  time.Duration
		expired  atomic.Bool
	)
	defer func() {
		if watchdog != nil {
			watchdog.Stop()
		}
	}()
	reader := recordio.NewReader(resp.Body)
	for {
		rec, err := reader.ReadRecord()
		if err != nil {
			if expired.Load() {
				return subscribed, fmt.Errorf("no event from the master for %v (heartbeat timeout)", timeout)
			}
			if err == io.EOF {
				return subscribed, errors.New("master closed the event stream")
			}
			return subscribed, fmt.Errorf("reading event stream: %w", err)
		}
		if watchdog != nil {
			watchdog.Stop()
		}
		ev := &schedpb.Event{}
		if err := d.codec.Unmarshal(rec, ev); err != nil {
			return subscribed, fmt.Errorf("decoding event: %w", err)
		}
		if d.isFinished() {
			return subscribed, nil
		}
		if !subscribed {
			switch ev.GetType() {
			case schedpb.Event_SUBSCRIBED:
			case schedpb.Event_ERROR:
				msg := ev.GetError().GetMessage()
				if optimistic {
					d.log.Info("scheduler: the master refused the framework id; registering anew", "error", msg)
					d.mu.Lock()
					d.dropID = true
					d.mu.Unlock()
					return false, errRegisterAnew
				}
				d.sched.Error(d, msg)
				return false, &fatalError{msg: msg}
			default:
				return false, fmt.Errorf("first event is %v, not SUBSCRIBED", ev.GetType())
			}
			subscribed = true
			if hb := ev.GetSubscribed().GetHeartbeatIntervalSeconds(); hb > 0 && d.hbFactor > 0 {
				timeout = time.Duration(hb * d.hbFactor * float64(time.Second))
				watchdog = time.AfterFunc(timeout, func() {
					expired.Store(true)
					cancel()
				})
				watchdog.Stop()
			}
			d.subscribed(ev.GetSubscribed(), streamID)
		} else if err := d.dispatch(ev); err != nil {
			return true, err
		}
		if watchdog != nil && !expired.Load() {
			watchdog.Reset(timeout)
		}
	}
}

// authorize adds the Basic credentials of Config.Principal.
func (d *Driver) authorize(req *http.Request) {
	if d.cfg.Principal != "" {
		req.SetBasicAuth(d.cfg.Principal, d.cfg.Secret)
	}
}

// postSubscribe posts SUBSCRIBE, following the leader on 307, and returns
// the 200 response.
func (d *Driver) postSubscribe(ctx context.Context, body []byte) (*http.Response, error) {
	for range maxRedirects + 1 {
		ep := d.currentEndpoint()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.String(), bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", d.codec.MediaType())
		req.Header.Set("Accept", d.codec.MediaType())
		d.authorize(req)
		req.Close = true // the stream owns its connection
		resp, err := d.client.Do(req)
		if err != nil {
			return nil, err // Run moves on to the next master
		}
		switch resp.StatusCode {
		case http.StatusOK:
			return resp, nil
		case http.StatusTemporaryRedirect:
			loc := resp.Header.Get("Location")
			drainClose(resp)
			if err := d.redirect(loc); err != nil {
				return nil, err
			}
			d.log.Info("scheduler: following leader", "master", d.currentEndpoint().Host)
			continue
		default:
			msg := readMessage(resp)
			return nil, &CallError{Call: "SUBSCRIBE", StatusCode: resp.StatusCode, Message: msg}
		}
	}
	return nil, fmt.Errorf("more than %d redirects", maxRedirects)
}

// redirect points the driver at the host:port of a 307's Location, keeping
// the scheme and path.
func (d *Driver) redirect(location string) error {
	u, err := url.Parse(location)
	if err != nil || u.Host == "" {
		return fmt.Errorf("redirect to %q: no host in Location", location)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	ep := *d.endpoint
	ep.Host = u.Host
	d.endpoint = &ep
	return nil
}

// subscribed records a SUBSCRIBED event and calls Registered or
// Reregistered.
func (d *Driver) subscribed(ev *schedpb.Event_Subscribed, streamID string) {
	fid := ev.GetFrameworkId()
	d.mu.Lock()
	prev, again := d.frameworkID, d.registered
	d.frameworkID = fid
	d.registered = true
	d.dropID = false
	d.streamID = streamID
	d.lastErr = nil
	d.mu.Unlock()
	d.log.Info("scheduler: subscribed", "framework_id", fid.GetValue(), "heartbeat_interval_seconds", ev.GetHeartbeatIntervalSeconds())
	if again && prev.GetValue() == fid.GetValue() {
		d.sched.Reregistered(d, ev.GetMasterInfo())
		return
	}
	d.sched.Registered(d, fid, ev.GetMasterInfo())
}

// dispatch hands one event to the Scheduler. A non-nil error ends the
// subscription.
func (d *Driver) dispatch(ev *schedpb.Event) error {
	switch ev.GetType() {
	case schedpb.Event_OFFERS:
		d.sched.ResourceOffers(d, ev.GetOffers().GetOffers())
	case schedpb.Event_RESCIND:
		d.sched.OfferRescinded(d, ev.GetRescind().GetOfferId())
	case schedpb.Event_UPDATE:
		st := ev.GetUpdate().GetStatus()
		d.sched.StatusUpdate(d, st)
		if d.autoAck && len(st.GetUuid()) > 0 && !d.isFinished() {
			if err := d.AcknowledgeStatusUpdate(st); err != nil {
				d.log.Warn("scheduler: acknowledging status update failed", "task_id", st.GetTaskId().GetValue(), "error", err)
			}
		}
	case schedpb.Event_MESSAGE:
		m := ev.GetMessage()
		d.sched.FrameworkMessage(d, m.GetAgentId(), m.GetExecutorId(), m.GetData())
	case schedpb.Event_FAILURE:
		f := ev.GetFailure()
		if f.GetExecutorId() != nil {
			d.sched.ExecutorLost(d, f.GetExecutorId(), f.GetAgentId(), int(f.GetStatus()))
		} else if f.GetAgentId() != nil {
			d.sched.AgentLost(d, f.GetAgentId())
		}
	case schedpb.Event_ERROR:
		msg := ev.GetError().GetMessage()
		d.sched.Error(d, msg)
		return &fatalError{msg: msg}
	case schedpb.Event_HEARTBEAT:
	case schedpb.Event_SUBSCRIBED:
		d.log.Warn("scheduler: ignoring a second SUBSCRIBED on one stream")
	default:
		d.log.Debug("scheduler: ignoring event", "type", ev.GetType().String())
	}
	return nil
}

// CallError is a call the master answered with an unexpected HTTP status.
type CallError struct {
	Call       string // the call type, e.g. "ACCEPT"
	StatusCode int
	Message    string // the response body, trimmed
}

func (e *CallError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("scheduler: %s answered %d %s", e.Call, e.StatusCode, http.StatusText(e.StatusCode))
	}
	return fmt.Sprintf("scheduler: %s answered %d %s: %s", e.Call, e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// send posts a call other than SUBSCRIBE on the current subscription.
func (d *Driver) send(call *schedpb.Call) error {
	d.mu.Lock()
	streamID, fid, ep := d.streamID, d.frameworkID, d.endpoint
	d.mu.Unlock()
	if streamID == "" {
		return ErrNotSubscribed
	}
	call.FrameworkId = fid
	body, err := d.codec.Marshal(call)
	if err != nil {
		return fmt.Errorf("scheduler: encoding %v call: %w", call.GetType(), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.cfg.CallTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", d.codec.MediaType())
	req.Header.Set("Accept", d.codec.MediaType())
	req.Header.Set(streamIDHeader, streamID)
	d.authorize(req)
	resp, err := d.client.Do(req)
	if err != nil {
		return fmt.Errorf("scheduler: %v call: %w", call.GetType(), err)
	}
	switch resp.StatusCode {
	case http.StatusAccepted, http.StatusOK:
		drainClose(resp)
		return nil
	case http.StatusTemporaryRedirect, http.StatusForbidden, http.StatusServiceUnavailable:
		// No longer the leader (307, or 503 with no leader elected), or
		// the master no longer counts us as subscribed: start over with a
		// fresh subscription.
		loc := resp.Header.Get("Location")
		msg := readMessage(resp)
		if resp.StatusCode == http.StatusTemporaryRedirect {
			if err := d.redirect(loc); err != nil {
				d.log.Warn("scheduler: bad redirect", "error", err)
			} else {
				d.mu.Lock()
				d.pinned = true
				d.mu.Unlock()
			}
		}
		d.dropSubscription(streamID)
		return &CallError{Call: call.GetType().String(), StatusCode: resp.StatusCode, Message: msg}
	default:
		return &CallError{Call: call.GetType().String(), StatusCode: resp.StatusCode, Message: readMessage(resp)}
	}
}

// dropSubscription ends the subscription with the given stream id, if it is
// still the current one, so that Run resubscribes.
func (d *Driver) dropSubscription(streamID string) {
	d.mu.Lock()
	var drop context.CancelFunc
	if d.streamID == streamID {
		drop = d.drop
	}
	d.mu.Unlock()
	if drop != nil {
		d.log.Info("scheduler: dropping subscription", "stream_id", streamID)
		drop()
	}
}

func drainClose(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

func readMessage(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	return strings.TrimSpace(string(b))
}
