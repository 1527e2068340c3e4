package main

import (
	"context"
	"math"
	"testing"
)

// areaOf runs every job as its task would and adds the strips up as the
// scheduler does.
func areaOf(t *testing.T, jobs []job) float64 {
	t.Helper()
	s := &monteCarlo{jobs: jobs, results: map[int]result{}}
	for i, j := range jobs {
		e, err := parseExpression(j.Expression)
		if err != nil {
			t.Fatal(err)
		}
		s.results[i] = result{Under: count(context.Background(), e, j), Points: j.Points}
	}
	return s.area()
}

// TestGridAsTheBook: the book's grid gives a deterministic answer within
// about 1% with a few hundred POINTS; random sampling with as many points
// in all is the option.
func TestGridAsTheBook(t *testing.T) {
	for _, c := range []struct {
		args []string
		want float64
	}{
		{[]string{"1x2", "0", "1", "0", "1", "300"}, 1.0 / 3},
		{[]string{"3x2+1x0", "0", "2", "0", "13", "300"}, 10},
	} {
		jobs, err := plan(c.args, 4, false)
		if err != nil {
			t.Fatal(err)
		}
		a := areaOf(t, jobs)
		if rel := math.Abs(a-c.want) / c.want; rel > 0.01 {
			t.Errorf("%v: area %g, want %g within 1%% (off by %.2f%%)", c.args, a, c.want, rel*100)
		}
		if b := areaOf(t, jobs); b != a {
			t.Errorf("%v: not deterministic: %g then %g", c.args, a, b)
		}
		if jobs[0].Points != 301*301 {
			t.Errorf("a task counts %d points, want 301² (the book's n+1 per axis)", jobs[0].Points)
		}
	}
	jobs, err := plan([]string{"1x2", "0", "1", "0", "1", "200000"}, 4, true)
	if err != nil {
		t.Fatal(err)
	}
	if a := areaOf(t, jobs); math.Abs(a-1.0/3) > 0.01 {
		t.Errorf("random: area %g, want 1/3 ± 0.01", a)
	}
	if _, err := plan([]string{"1x2", "0", "1", "0", "1", "100000"}, 4, false); err == nil {
		t.Error("a grid of 100000² points a task was accepted")
	}
}
