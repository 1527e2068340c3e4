// Package ratelimit throttles calls per principal with Mesos's
// --rate_limits format, which Mesos applies only to v0 framework messages
// (docs/mesos-security.md §14, gap 23) and Agora applies to the v1
// scheduler API: a call over its principal's rate is answered 429 with
// Retry-After instead of being queued.
//
//	{
//	  "limits": [
//	    {"principal": "marathon", "qps": 50, "capacity": 100},
//	    {"principal": "batch"}                      // no qps: unthrottled
//	  ],
//	  "aggregate_default_qps": 20,                 // shared by all others
//	  "aggregate_default_capacity": 40
//	}
//
// A principal listed with a qps has a token bucket of its own: qps tokens
// a second, holding at most capacity (default: qps, at least 1). A listed
// principal without qps is never throttled. Principals not listed share
// one bucket of aggregate_default_qps, if set; otherwise they are not
// throttled. Calls without a principal are not throttled, as in Mesos.
package ratelimit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"time"
)

// Limit is one entry of "limits".
type Limit struct {
	Principal string   `json:"principal"`
	QPS       *float64 `json:"qps,omitempty"`
	Capacity  *uint64  `json:"capacity,omitempty"`
}

// Config is Mesos's RateLimits message.
type Config struct {
	Limits                   []Limit  `json:"limits"`
	AggregateDefaultQPS      *float64 `json:"aggregate_default_qps,omitempty"`
	AggregateDefaultCapacity *uint64  `json:"aggregate_default_capacity,omitempty"`
}

// Parse reads a --rate_limits value: inline JSON, a path, or file:///path.
func Parse(value string) (Config, error) {
	var c Config
	data := []byte(strings.TrimSpace(value))
	if len(data) == 0 || data[0] != '{' {
		path := strings.TrimPrefix(value, "file://")
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("failed to read rate limits file '%s': %w (see --rate_limits flag)", path, err)
		}
		data = b
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("invalid --rate_limits: %w (expected {\"limits\":[{\"principal\":...,\"qps\":...,\"capacity\":...}],\"aggregate_default_qps\":...})", err)
	}
	seen := make(map[string]bool)
	for i, l := range c.Limits {
		if l.Principal == "" {
			return c, fmt.Errorf("invalid --rate_limits: limit %d has no principal", i)
		}
		if seen[l.Principal] {
			return c, fmt.Errorf("invalid --rate_limits: principal '%s' is listed twice", l.Principal)
		}
		seen[l.Principal] = true
		if l.QPS != nil && !positive(*l.QPS) {
			return c, fmt.Errorf("invalid --rate_limits: qps of principal '%s' must be a positive number", l.Principal)
		}
	}
	if q := c.AggregateDefaultQPS; q != nil && !positive(*q) {
		return c, fmt.Errorf("invalid --rate_limits: aggregate_default_qps must be a positive number")
	}
	return c, nil
}

func positive(q float64) bool { return q > 0 && !math.IsInf(q, 0) }

// bucket is a token bucket.
type bucket struct {
	rate, burst float64
	tokens      float64
	last        time.Time
}

func newBucket(qps float64, capacity *uint64, now time.Time) *bucket {
	burst := math.Max(1, qps)
	if capacity != nil && *capacity > 0 {
		burst = float64(*capacity)
	}
	return &bucket{rate: qps, burst: burst, tokens: burst, last: now}
}

// take takes a token, or says how long until one is there.
func (b *bucket) take(now time.Time) (bool, time.Duration) {
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = math.Min(b.burst, b.tokens+el*b.rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}

// Limiter applies a Config. It is safe for concurrent use.
type Limiter struct {
	now func() time.Time

	mu        sync.Mutex
	perPrin   map[string]*bucket // a nil bucket: listed without qps
	aggregate *bucket
}

// New returns a limiter for c; now is the clock (nil: time.Now).
func New(c Config, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	l := &Limiter{now: now, perPrin: make(map[string]*bucket)}
	t := now()
	for _, lim := range c.Limits {
		var b *bucket
		if lim.QPS != nil {
			b = newBucket(*lim.QPS, lim.Capacity, t)
		}
		l.perPrin[lim.Principal] = b
	}
	if c.AggregateDefaultQPS != nil {
		l.aggregate = newBucket(*c.AggregateDefaultQPS, c.AggregateDefaultCapacity, t)
	}
	return l
}

// Allow takes one call of principal (hasPrincipal false: none). When the
// call is over the rate it returns false and how long to wait.
func (l *Limiter) Allow(principal string, hasPrincipal bool) (bool, time.Duration) {
	if l == nil || !hasPrincipal {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, listed := l.perPrin[principal]
	if !listed {
		b = l.aggregate
	}
	if b == nil {
		return true, 0
	}
	return b.take(l.now())
}

// RetryAfter is the Retry-After header value (whole seconds, at least 1)
// for a wait.
func RetryAfter(wait time.Duration) string {
	return fmt.Sprint(max(1, int64(math.Ceil(wait.Seconds()))))
}

// Streams caps the concurrent streams of each principal.
type Streams struct {
	max int
	mu  sync.Mutex
	n   map[string]int
}

// NewStreams caps each principal at max streams (0: no cap).
func NewStreams(max int) *Streams { return &Streams{max: max, n: make(map[string]int)} }

// Open counts a new stream of principal and returns its release, or false
// when the principal already has max streams open. Streams without a
// principal are not counted.
func (s *Streams) Open(principal string, hasPrincipal bool) (release func(), ok bool) {
	if s == nil || s.max <= 0 || !hasPrincipal {
		return func() {}, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n[principal] >= s.max {
		return nil, false
	}
	s.n[principal]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.n[principal]--; s.n[principal] <= 0 {
				delete(s.n, principal)
			}
		})
	}, true
}
