package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// summary is the distribution of one latency metric.
type summary struct {
	N   int           `json:"n"`
	P50 time.Duration `json:"p50_ns"`
	P90 time.Duration `json:"p90_ns"`
	P99 time.Duration `json:"p99_ns"`
	Max time.Duration `json:"max_ns"`
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted: the smallest value such that at least p% of the samples are at
// or below it. It returns 0 for no samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	if rank < 1 {
		rank = 1
	}
	if rank > n {
		rank = n
	}
	return sorted[rank-1]
}

// summarize computes the summary of samples without modifying them.
func summarize(samples []time.Duration) summary {
	s := slices.Clone(samples)
	slices.Sort(s)
	return summary{
		N:   len(s),
		P50: percentile(s, 50),
		P90: percentile(s, 90),
		P99: percentile(s, 99),
		Max: percentile(s, 100),
	}
}

// fmtDur prints a duration with about three significant digits in the
// unit a reader expects for it.
func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

// row is one line of the latency table.
type row struct {
	Metric string  `json:"metric"`
	Stats  summary `json:"stats"`
}

// formatTable renders rows as an aligned text table with a header.
func formatTable(rows []row) string {
	cells := [][]string{{"metric", "p50", "p90", "p99", "max", "n"}}
	for _, r := range rows {
		cells = append(cells, []string{r.Metric, fmtDur(r.Stats.P50), fmtDur(r.Stats.P90),
			fmtDur(r.Stats.P99), fmtDur(r.Stats.Max), fmt.Sprint(r.Stats.N)})
	}
	width := make([]int, len(cells[0]))
	for _, line := range cells {
		for i, c := range line {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	for _, line := range cells {
		for i, c := range line {
			pad := width[i] - len([]rune(c))
			if i == 0 {
				b.WriteString(c + strings.Repeat(" ", pad))
			} else {
				b.WriteString("  " + strings.Repeat(" ", pad) + c)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// rate is events per second, 0 when the duration is not positive.
func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
