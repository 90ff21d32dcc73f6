# Blackwell Reconciler. `make help` lists the targets.
GO      ?= go
BIN     ?= bin/blackwell
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z\/_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build bin/blackwell
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/blackwell

.PHONY: demo
demo: build ## run a live demo world: drift appears and clears (watch: bin/blackwell status)
	./$(BIN) demo

.PHONY: run
run: build ## serve examples/local.yaml (no secrets needed) on 127.0.0.1:8080 with ./blackwell.db
	./$(BIN) serve --config examples/local.yaml --listen 127.0.0.1:8080

.PHONY: test
test: ## run every test (the README's test command; what CI runs)
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 15m ./...
	$(MAKE) test/rules
	$(MAKE) fuzz FUZZTIME=3000x

PROMTOOL ?= promtool
.PHONY: test/rules
test/rules: ## check and unit-test the Prometheus rules in deploy/prometheus (needs promtool; CI fails without it)
	@if ! command -v $(PROMTOOL) >/dev/null 2>&1; then \
	  if [ "$$CI" = true ]; then echo "promtool not found: CI must test the alert rules (see .ci/run)" >&2; exit 1; fi; \
	  echo "promtool not found: skipping the alert rule tests (Debian: the prometheus package ships it)"; exit 0; \
	fi; \
	$(PROMTOOL) --version 2>&1 | head -n1; \
	$(PROMTOOL) check rules deploy/prometheus/blackwell-rules.yml && \
	$(PROMTOOL) test rules deploy/prometheus/tests/*.yml

.PHONY: test/race
test/race: ## run every test with the race detector
	$(GO) test -race -count=1 -timeout 30m ./...

.PHONY: lint
lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

.PHONY: bench
bench: ## run the benchmarks (see docs/PERFORMANCE.md)
	$(GO) test -run '^$$' -bench . -benchmem -timeout 30m ./...

FUZZTIME ?= 30s
.PHONY: fuzz
fuzz: ## run each fuzz target for FUZZTIME (default 30s)
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

.PHONY: clean
clean: ## remove build output
	rm -rf bin
