package cli

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

func TestResolve(t *testing.T) {
	ids := []string{"web-1", "web-12", "db-1"}
	for _, tc := range []struct {
		prefix, want, err string
	}{
		{"db", "db-1", ""},
		{"web-1", "web-1", ""}, // an exact id wins over longer ones
		{"web-12", "web-12", ""},
		{"web", "", `task id "web" is ambiguous: it matches web-1, web-12`},
		{"x", "", `no task matches "x"`},
		{"", "", "no task id given"},
	} {
		got, err := resolve("task", tc.prefix, ids)
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("resolve(%q) = %q, %v; want %q, %q", tc.prefix, got, err, tc.want, tc.err)
		}
	}
}

func TestAge(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second:                  "0s",
		42 * time.Second:              "42s",
		3*time.Minute + 5*time.Second: "3m5s",
		2*time.Hour + 7*time.Minute:   "2h7m",
		75 * time.Hour:                "3d3h",
	} {
		if got := age(d); got != want {
			t.Errorf("age(%v) = %q, want %q", d, got, want)
		}
	}
}

// An unreachable master is explained, with what to do.
func TestUnreachableMaster(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	var out, errOut bytes.Buffer
	code := Agents(context.Background(), []string{"--master=" + addr}, &out, &errOut)
	want := "cannot reach the master at " + addr + ": connection refused; is `agora local` running? set --master or AGORA_MASTER"
	if code != exitFailure || !strings.Contains(errOut.String(), want) {
		t.Errorf("exit %d, stderr %q; want %q", code, errOut.String(), want)
	}
}

// Flags may follow the ids; -h prints the usage.
func TestOpFlags(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Task(context.Background(), []string{"-h"}, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "usage: agora task") {
		t.Errorf("-h: exit %d, %q", code, out.String())
	}
	var got []string
	var json bool
	code := runOp(context.Background(), "x", "", []string{"a", "--json", "b"}, &out, &errOut, nil,
		func(_ context.Context, c *opClient, args []string) error {
			got, json = args, c.json
			return nil
		})
	if code != 0 || !json || strings.Join(got, ",") != "a,b" {
		t.Errorf("exit %d, json %v, args %q", code, json, got)
	}
	if code := Agents(context.Background(), []string{"extra"}, &out, &errOut); code != exitUsage {
		t.Errorf("unexpected argument: exit %d", code)
	}
}
