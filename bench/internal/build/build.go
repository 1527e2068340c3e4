// Package build builds the binaries the benchmarks run: agora, and
// agora-executor beside it, as `make build` does (agents start the
// executor binary that lies next to theirs).
package build

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Agora builds ./cmd/agora, ./cmd/agora-executor and ./cmd/agora-supervisor
// of the module the current directory is in into dir and returns the
// agora binary's path.
// Without executor, only agora is built: agents then run it as their
// executor (`agora executor`).
func Agora(ctx context.Context, dir string, executor bool) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run this from inside the agora module (go run ./bench/...)")
	}
	bin := filepath.Join(dir, "agora")
	if err := run(ctx, filepath.Dir(gomod), nil, "build", "-o", bin, "./cmd/agora"); err != nil {
		return "", fmt.Errorf("go build ./cmd/agora: %w", err)
	}
	if executor {
		exe := filepath.Join(dir, "agora-executor")
		if err := run(ctx, filepath.Dir(gomod), []string{"CGO_ENABLED=0"}, "build", "-o", exe, "./cmd/agora-executor"); err != nil {
			return "", fmt.Errorf("go build ./cmd/agora-executor: %w", err)
		}
		sup := filepath.Join(dir, "agora-supervisor")
		if err := run(ctx, filepath.Dir(gomod), []string{"CGO_ENABLED=0"}, "build", "-o", sup, "./cmd/agora-supervisor"); err != nil {
			return "", fmt.Errorf("go build ./cmd/agora-supervisor: %w", err)
		}
	}
	return bin, nil
}

// ExecutorOf says which program agents next to bin run as the command
// executor: bin's agora-executor sibling, or bin itself.
func ExecutorOf(bin string) string {
	exe := filepath.Join(filepath.Dir(bin), "agora-executor")
	if fi, err := os.Stat(exe); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		return exe
	}
	return bin + " executor"
}

func run(ctx context.Context, dir string, env []string, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}
