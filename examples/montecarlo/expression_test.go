package main

import (
	"math"
	"testing"
)

func TestParseExpression(t *testing.T) {
	for _, c := range []struct {
		in   string
		x, y float64
	}{
		{"3x2+1x0", 2, 13},
		{"1x2", 3, 9},
		{"x", 4, 4},
		{"2.5", 7, 2.5},
		{" 2x + 1 ", 1, 3},
		{"-1x3+x2", 2, -4},
		{"x0.5", 9, 3},
	} {
		e, err := parseExpression(c.in)
		if err != nil {
			t.Errorf("parseExpression(%q): %v", c.in, err)
			continue
		}
		if got := e.eval(c.x); math.Abs(got-c.y) > 1e-9 {
			t.Errorf("%q at %v = %v, want %v", c.in, c.x, got, c.y)
		}
	}
	for _, bad := range []string{"", " ", "3x2+", "+x", "1x2x3", "ax2", "3xb", "NaNx1", "1xInf", "3*x"} {
		if _, err := parseExpression(bad); err == nil {
			t.Errorf("parseExpression(%q) succeeded", bad)
		}
	}
}

func TestCount(t *testing.T) {
	e, _ := parseExpression("1x2")
	j := job{Expression: "1x2", XLow: 0, XHigh: 1, YLow: 0, YHigh: 1, Points: 200000, Seed: 7}
	under := count(t.Context(), e, j)
	if area := float64(under) / float64(j.Points); math.Abs(area-1.0/3) > 0.01 {
		t.Errorf("area %v, want about 1/3", area)
	}
}
