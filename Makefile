# Agora: build, test, generate and lint. `make help` lists the targets.
GO ?= go
PROTOS := $(shell find api -name '*.proto' | sort)

.PHONY: help build test test-conformance test-short generate lint fmt bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/agora
	$(GO) build -o bin/agora ./cmd/agora

test: ## the whole suite, as CI runs it (race detector on), then real Mesos clients (test/conformance)
	$(GO) test -race -count=1 -timeout 30m ./...
	cd test/conformance && $(GO) test -count=1 -timeout 20m ./...

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
