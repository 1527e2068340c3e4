# Agora: build, test, generate and lint. `make help` lists the targets.
GO ?= go
PROTOS := $(shell find api -name '*.proto' | sort)

.PHONY: help build test test-faults test-norace test-conformance test-short generate lint fmt bench clean

# test-norace runs these again against a normal build of agora (no race
# detector): the build users run, fast enough to expose the races the
# slower -race binary hides (issue 13: executors outside their cgroups).
NORACE_COUNT ?= 5
NORACE_E2E := TestMemoryLimitation|TestTasksStartInsideContainer|TestAgentRecovery|TestLocalAndRun|TestTaskGroups|TestCustomExecutor
NORACE_AGENT := TestNoProcessOutsideContainer|TestMemoryLimitation|TestKillTaskKillsEscapedDaemon|TestContainerResizedForNewTask|TestPosixIsolation|TestRunKillsEverything|TestNoUpdateAfterTerminal|TestTaskGroup|TestCustomExecutor|TestKillDuringLaunchAndTaskGroups

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/agora, bin/agora-executor and bin/agora-supervisor (static: they start faster)
	$(GO) build -o bin/agora ./cmd/agora
	CGO_ENABLED=0 $(GO) build -o bin/agora-executor ./cmd/agora-executor
	CGO_ENABLED=0 $(GO) build -o bin/agora-supervisor ./cmd/agora-supervisor

test: ## the whole suite, as CI runs it (race detector on), the isolation, launch and recovery tests on a normal build (test-norace), then real Mesos clients (test/conformance)
	$(GO) test -race -count=1 -timeout 30m ./...
	$(MAKE) test-norace
	cd test/conformance && $(GO) test -count=1 -timeout 20m ./...

test-norace: ## isolation, launch and recovery tests, NORACE_COUNT (5) times each, against a normal build of agora
	AGORA_E2E_NORACE=1 $(GO) test -count=$(NORACE_COUNT) -timeout 20m -run '^($(NORACE_E2E))' ./test/e2e/
	$(GO) test -count=$(NORACE_COUNT) -timeout 20m -run '^($(NORACE_AGENT))' ./internal/agent/
	$(GO) test -count=$(NORACE_COUNT) -timeout 10m ./internal/isolation/ ./internal/proc/

test-faults: ## the randomized HA fault test, longer than in make test: 5 runs of 8 rounds
	AGORA_FAULT_ROUNDS=8 $(GO) test -race -count=5 -timeout 30m -run '^TestHARandomFaults$$' ./test/e2e/

test-conformance: ## mesos-go's example programs against agora (a separate Go module)
	cd test/conformance && $(GO) test -count=1 -timeout 20m ./...

test-short: ## unit tests only
	$(GO) test -short -count=1 ./...

generate: ## regenerate the Go code of api/**/*.proto (needs protoc)
	$(GO) build -o bin/protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go
	protoc --plugin=protoc-gen-go=bin/protoc-gen-go --proto_path=. \
		--go_out=. --go_opt=module=github.com/agora-dev/agora $(PROTOS)

lint: ## gofmt, go vet and staticcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...
	cd test/conformance && $(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.6.1 ./...

bench: ## the allocator and launch benchmarks
	GOMAXPROCS=1 $(GO) test -run '^$$' -bench . -benchtime 3x ./internal/allocator/
	$(GO) run ./bench/launch

clean:
	rm -rf bin
