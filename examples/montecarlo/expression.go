package main

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// term is coefficient·x^exponent.
type term struct{ coefficient, exponent float64 }

// expression is a sum of terms: the book's Expression.
type expression []term

// parseExpression reads the book's syntax: terms joined by "+", each
// "<coefficient>x<exponent>", where an empty coefficient is 1, an empty
// exponent after x is 1, and a term without x is a constant. "3x2+1x0"
// is 3x²+1, "x" is x, "2.5" is 2.5. Unlike the book, anything else (an
// empty term, a second x, something that is not a number) is an error.
func parseExpression(s string) (expression, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty expression")
	}
	var e expression
	for i, part := range strings.Split(s, "+") {
		t, err := parseTerm(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("term %d %q: %w", i+1, part, err)
		}
		e = append(e, t)
	}
	return e, nil
}

func parseTerm(s string) (term, error) {
	if s == "" {
		return term{}, errors.New("empty term")
	}
	t := term{coefficient: 1}
	coef, exp, hasX := strings.Cut(s, "x")
	if strings.Contains(exp, "x") {
		return term{}, errors.New("more than one x")
	}
	var err error
	if c := strings.TrimSpace(coef); c != "" {
		if t.coefficient, err = number(c); err != nil {
			return term{}, fmt.Errorf("coefficient: %w", err)
		}
	}
	if hasX {
		t.exponent = 1
		if x := strings.TrimSpace(exp); x != "" {
			if t.exponent, err = number(x); err != nil {
				return term{}, fmt.Errorf("exponent: %w", err)
			}
		}
	}
	return t, nil
}

func number(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return v, nil
}

func (e expression) eval(x float64) float64 {
	var v float64
	for _, t := range e {
		v += t.coefficient * math.Pow(x, t.exponent)
	}
	return v
}

func (e expression) String() string {
	parts := make([]string, len(e))
	for i, t := range e {
		parts[i] = strconv.FormatFloat(t.coefficient, 'g', -1, 64) + "x^" + strconv.FormatFloat(t.exponent, 'g', -1, 64)
	}
	return strings.Join(parts, " + ")
}
