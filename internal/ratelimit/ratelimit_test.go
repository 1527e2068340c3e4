package ratelimit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestLimiter(t *testing.T) {
	c, err := Parse(`{"limits":[{"principal":"fast","qps":2,"capacity":3},{"principal":"free"}],"aggregate_default_qps":1}`)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Unix(1000, 0)}
	l := New(c, clk.now)
	// "fast": a burst of 3, then 2 a second.
	for i := range 3 {
		if ok, _ := l.Allow("fast", true); !ok {
			t.Fatalf("fast call %d refused within its capacity", i)
		}
	}
	ok, wait := l.Allow("fast", true)
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("4th fast call: ok=%v wait=%v, want refused, 500ms", ok, wait)
	}
	clk.t = clk.t.Add(500 * time.Millisecond)
	if ok, _ := l.Allow("fast", true); !ok {
		t.Fatal("fast call refused after its token came back")
	}
	// "free" is listed without qps: never throttled; nor are calls
	// without a principal.
	for range 100 {
		if ok, _ := l.Allow("free", true); !ok {
			t.Fatal("unthrottled principal refused")
		}
		if ok, _ := l.Allow("", false); !ok {
			t.Fatal("call without principal refused")
		}
	}
	// Others share the aggregate bucket: one a second between them.
	if ok, _ := l.Allow("a", true); !ok {
		t.Fatal("first aggregate call refused")
	}
	if ok, wait := l.Allow("b", true); ok || wait != time.Second {
		t.Fatalf("second aggregate call: ok=%v wait=%v", ok, wait)
	}
	if got := RetryAfter(300 * time.Millisecond); got != "1" {
		t.Errorf("RetryAfter(300ms) = %q", got)
	}
	if got := RetryAfter(2100 * time.Millisecond); got != "3" {
		t.Errorf("RetryAfter(2.1s) = %q", got)
	}
	var nilLimiter *Limiter
	if ok, _ := nilLimiter.Allow("x", true); !ok {
		t.Error("nil limiter throttles")
	}
}

func TestParse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "limits.json")
	if err := os.WriteFile(path, []byte(`{"limits":[{"principal":"p","qps":1.5}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{path, "file://" + path} {
		c, err := Parse(v)
		if err != nil || len(c.Limits) != 1 || *c.Limits[0].QPS != 1.5 {
			t.Errorf("Parse(%q) = %+v, %v", v, c, err)
		}
	}
	for in, want := range map[string]string{
		`{"limits":[{"qps":1}]}`:                           "has no principal",
		`{"limits":[{"principal":"p"},{"principal":"p"}]}`: "listed twice",
		`{"limits":[{"principal":"p","qps":0}]}`:           "positive",
		`{"limits":[{"principal":"p","qps":-1}]}`:          "positive",
		`{"aggregate_default_qps":0}`:                      "aggregate_default_qps",
		`{"limits":[{"principal":"p","qsp":1}]}`:           "unknown field",
		`{"limits":`:                                       "invalid --rate_limits",
		filepath.Join(t.TempDir(), "missing.json"):         "failed to read rate limits file",
	} {
		if _, err := Parse(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) error %v, want it to say %q", in, err, want)
		}
	}
}

func TestStreams(t *testing.T) {
	s := NewStreams(2)
	r1, ok1 := s.Open("p", true)
	_, ok2 := s.Open("p", true)
	if _, ok3 := s.Open("p", true); !ok1 || !ok2 || ok3 {
		t.Fatalf("opens: %v %v %v, want true true false", ok1, ok2, ok3)
	}
	if _, ok := s.Open("q", true); !ok {
		t.Fatal("another principal was capped")
	}
	if _, ok := s.Open("", false); !ok {
		t.Fatal("a stream without principal was capped")
	}
	r1()
	r1() // idempotent
	if _, ok := s.Open("p", true); !ok {
		t.Fatal("released stream still counted")
	}
	if _, ok := s.Open("p", true); ok {
		t.Fatal("double release freed two slots")
	}
}
