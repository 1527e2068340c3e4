package main

import (
	"strings"
	"testing"
	"time"

	mesos "github.com/agora-dev/agora/api/mesos/v1"
	"google.golang.org/protobuf/proto"
)

func ms(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	for _, tc := range []struct {
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{nil, 50, 0},
		{ms(7), 50, 7 * time.Millisecond},
		{ms(7), 99, 7 * time.Millisecond},
		{ms(1, 2), 50, 1 * time.Millisecond},
		{ms(1, 2), 51, 2 * time.Millisecond},
		{ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{ms(1, 2, 3, 4), 100, 4 * time.Millisecond},
		{hundred, 50, 50 * time.Millisecond},
		{hundred, 90, 90 * time.Millisecond},
		{hundred, 99, 99 * time.Millisecond},
		{hundred, 0.001, 1 * time.Millisecond},
	} {
		if got := percentile(tc.sorted, tc.p); got != tc.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", tc.sorted, tc.p, got, tc.want)
		}
	}
}

func TestSummarizeDoesNotReorder(t *testing.T) {
	in := ms(5, 1, 4, 2, 3)
	s := summarize(in)
	if s.N != 5 || s.P50 != 3*time.Millisecond || s.P90 != 5*time.Millisecond || s.Max != 5*time.Millisecond {
		t.Errorf("summarize = %+v", s)
	}
	if in[0] != 5*time.Millisecond {
		t.Errorf("summarize sorted its input: %v", in)
	}
}

func TestFmtDur(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                        "-",
		704 * time.Microsecond:   "704µs",
		1234 * time.Microsecond:  "1.23ms",
		12345 * time.Microsecond: "12.3ms",
		1500 * time.Millisecond:  "1.50s",
	} {
		if got := fmtDur(d); got != want {
			t.Errorf("fmtDur(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestFormatTable(t *testing.T) {
	got := formatTable([]row{
		{"ACCEPT -> TASK_RUNNING", summarize(ms(10, 11, 12))},
		{"bare", summarize([]time.Duration{700 * time.Microsecond})},
	})
	want := "" +
		"metric                     p50     p90     p99     max  n\n" +
		"ACCEPT -> TASK_RUNNING  11.0ms  12.0ms  12.0ms  12.0ms  3\n" +
		"bare                     700µs   700µs   700µs   700µs  1\n"
	if got != want {
		t.Errorf("formatTable:\n%s\nwant:\n%s", got, want)
	}
	// Columns line up although µs is two bytes.
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	for _, l := range lines[1:] {
		if len([]rune(l)) != len([]rune(lines[0])) {
			t.Errorf("ragged line %q", l)
		}
	}
}

func TestFits(t *testing.T) {
	offer := func(cpus, mem float64) *mesos.Offer {
		return &mesos.Offer{Resources: []*mesos.Resource{scalar("cpus", cpus), scalar("mem", mem),
			{Name: proto.String("ports"), Type: mesos.Value_RANGES.Enum()}}}
	}
	shape := taskShape{cpus: 0.1, mem: 32}
	if n := fits([]*mesos.Offer{offer(8, 4096)}, shape); n != 80 {
		t.Errorf("fits 8 cpus = %d, want 80", n)
	}
	if n := fits([]*mesos.Offer{offer(8, 100)}, shape); n != 3 {
		t.Errorf("fits 100 MB = %d, want 3", n)
	}
	if n := fits([]*mesos.Offer{offer(0.05, 100), offer(0.05, 0)}, shape); n != 1 {
		t.Errorf("two offers of 0.05 cpus = %d, want 1", n)
	}
	if n := fits(nil, shape); n != 0 {
		t.Errorf("no offer fits %d", n)
	}
}

func TestRate(t *testing.T) {
	if r := rate(200, 2*time.Second); r != 100 {
		t.Errorf("rate = %v", r)
	}
	if r := rate(1, 0); r != 0 {
		t.Errorf("rate of 0s = %v", r)
	}
}
