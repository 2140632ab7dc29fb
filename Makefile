GO ?= go
BIN := bin/tokenserver
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build run test test-deps test-cluster cluster fuzz bench image clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/tokenserver

## run: serve on the embedded in-memory store with a demo client and user.
run:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/tokenserver serve

## test: vet, then every test with the race detector against real PostgreSQL and Redis.
test: test-deps
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

test-deps:
	@./scripts/test-deps.sh

## cluster: three nodes on one machine (PostgreSQL, Redis + Sentinel, HAProxy) until Ctrl-C; see README.
cluster: build
	./scripts/cluster.sh --bin $(BIN)

## test-cluster: only the cluster test (test/cluster; also part of `make test`).
test-cluster: test-deps
	$(GO) test -race -count=1 -timeout 10m -v ./test/cluster

## fuzz: run each fuzz target for FUZZTIME (default 30s).
FUZZTIME ?= 30s
fuzz:
	$(GO) test ./tokenserver -run '^$$' -fuzz '^FuzzParseTokenRequest$$' -fuzztime $(FUZZTIME)
	$(GO) test ./keys -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME)
	$(GO) test ./verifier -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME)
	$(GO) test ./verifier -run '^$$' -fuzz '^FuzzMiddlewareDPoP$$' -fuzztime $(FUZZTIME)
	$(GO) test ./tokenserver/password -run '^$$' -fuzz '^FuzzCheck$$' -fuzztime $(FUZZTIME)
	$(GO) test ./tokenserver/username -run '^$$' -fuzz '^FuzzNormalize$$' -fuzztime $(FUZZTIME)
	$(GO) test ./dpop -run '^$$' -fuzz '^FuzzParseProof$$' -fuzztime $(FUZZTIME)

## bench: measure the server against this machine's floors (see BENCHMARKS.md); BENCHFLAGS=--quick for a smoke run.
bench:
	$(GO) run ./cmd/tokenbench --go '$(GO)' $(BENCHFLAGS)

## image: build the container image (deploy/Dockerfile) with docker or podman, tagged $(IMAGE).
IMAGE ?= tokenserver:$(VERSION)
CONTAINER_TOOL ?= $(shell command -v docker 2>/dev/null || command -v podman 2>/dev/null)
image:
	@if [ -z "$(CONTAINER_TOOL)" ]; then \
		echo "make image: neither docker nor podman is installed; install one, or set CONTAINER_TOOL" >&2; exit 1; \
	fi
	$(CONTAINER_TOOL) build -f deploy/Dockerfile --build-arg VERSION=$(VERSION) -t $(IMAGE) .

clean:
	rm -rf bin bench-results
