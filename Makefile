# dashstreamexporter development tasks. `make help` lists them.

GO       ?= go
PROTOC   ?= protoc
BIN      := $(CURDIR)/.bin
MODULE   := github.com/dashstream/dashstreamexporter
PROTO_DIR := dashstream/proto

# Tools built from the tools/ module into .bin/: name=package.
TOOLS := \
	protoc-gen-go=google.golang.org/protobuf/cmd/protoc-gen-go \
	staticcheck=honnef.co/go/tools/cmd/staticcheck \
	mdatagen=go.opentelemetry.io/collector/cmd/mdatagen \
	ocb=go.opentelemetry.io/collector/cmd/builder

# Directories with an mdatagen metadata.yaml; `make generate` runs mdatagen
# in each. Set MDATAGEN_DIRS= to skip it.
MDATAGEN_DIRS ?= $(patsubst %/,%,$(dir $(wildcard metadata.yaml */metadata.yaml)))

# Extra make targets `make generate` runs after protoc and mdatagen.
GENERATE_HOOKS ?=

# Fuzzing time per target, and flags for `make bench` (e.g. BENCH_FLAGS='-cpu 1 -count 6').
FUZZTIME    ?= 20s
BENCH_FLAGS ?=

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-15s %s\n", $$1, $$2}'

.PHONY: tools
tools: ## build the pinned tools of tools/go.mod into .bin/
	@mkdir -p $(BIN)
	@cd tools && for t in $(TOOLS); do \
		$(GO) build -o $(BIN)/$${t%%=*} $${t#*=} || exit 1; \
	done

.PHONY: generate
generate: tools ## regenerate protobuf and mdatagen code
	PATH="$(BIN):$$PATH" $(PROTOC) --proto_path=$(PROTO_DIR) --go_out=. --go_opt=module=$(MODULE) \
		$(PROTO_DIR)/dashstream.proto
	@# mdatagen names the package of its root-level files after the directory,
	@# so it runs through a link named after the real package: the output does
	@# not depend on where the repository is cloned.
	@for d in $(MDATAGEN_DIRS); do \
		pkg=$$(cd $$d && $(GO) list -f '{{.Name}}' .) || exit 1; \
		tmp=$$(mktemp -d) || exit 1; \
		ln -s "$$(cd $$d && pwd)" "$$tmp/$$pkg"; \
		echo "mdatagen $$d/metadata.yaml (package $$pkg)"; \
		$(BIN)/mdatagen "$$tmp/$$pkg/metadata.yaml"; rc=$$?; \
		rm -rf "$$tmp"; [ $$rc -eq 0 ] || exit $$rc; \
	done
	@for h in $(GENERATE_HOOKS); do $(MAKE) --no-print-directory $$h || exit 1; done

.PHONY: check-generate
check-generate: ## fail when `make generate` changes the tree
	@before="$$(git status --porcelain; git diff | sha256sum)"; \
	$(MAKE) --no-print-directory generate; \
	after="$$(git status --porcelain; git diff | sha256sum)"; \
	if [ "$$before" != "$$after" ]; then \
		echo "check-generate: generated code is out of date; run 'make generate' and commit:"; \
		git status --porcelain; exit 1; \
	fi

.PHONY: build
build: ## compile every package
	$(GO) build ./...

.PHONY: test
test: ## run all tests with the race detector
	$(GO) test -race ./...

.PHONY: test-allocs
test-allocs: ## allocation budgets, which the race detector cannot check
	$(GO) test -count 1 -run 'Allocs' ./bench/internal/workload

.PHONY: lint
lint: tools ## gofmt, go vet and staticcheck
	@out="$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt -l:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(BIN)/staticcheck ./...

.PHONY: bench
bench: ## run the benchmarks (BENCH_FLAGS adds flags)
	$(GO) test -run '^$$' -bench . -benchmem $(BENCH_FLAGS) ./...

.PHONY: bench-plot
bench-plot: ## measure the state cost curve and draw it into docs/state-cost-curve.svg
	$(GO) test -run '^$$' -bench 'StateCostCurve' -benchmem -cpu 1 -count 3 ./dashstream/translate | \
		$(GO) run ./bench/benchplot -metric cpu-ns/span -o docs/state-cost-curve.svg

.PHONY: fuzz
fuzz: ## run each fuzz target for FUZZTIME
	@for dir in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
		for f in $$(grep -h '^func Fuzz' $$dir/*_test.go | sed 's/^func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
			echo "fuzz $$dir $$f ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime=$(FUZZTIME) $$dir || exit 1; \
		done; \
	done

# End-to-end benchmark (bench/): our collector vs contrib's kafka exporter.
# Flags for the harness, e.g. BENCH_E2E_FLAGS='-duration 30s -profile'.
BENCH_E2E_FLAGS ?=

.PHONY: bench-e2e
bench-e2e: ## measure our collector against contrib's kafka exporter; regenerates docs/BENCHMARKS.md "End to end"
	$(GO) run ./bench/e2e $(BENCH_E2E_FLAGS)

# --- the distribution, the dev tools and the run path -----------------------
# dist/ is git-ignored: ocb writes the collector's sources and binary there,
# the commands go to dist/bin/, `make run` logs to dist/run/.
DIST_BIN  := $(CURDIR)/dist/bin
COLLECTOR := $(CURDIR)/dist/otelcol-dashstream
# What the collector binary is built from: the manifest, go.mod and the
# non-test Go sources of the exporter (root, internal/, dashstream/).
COLLECTOR_SRC := builder-config.yaml go.mod go.sum \
	$(shell find . -maxdepth 1 -name '*.go' ! -name '*_test.go'; \
		find internal dashstream -name '*.go' ! -name '*_test.go' 2>/dev/null)

.PHONY: collector
collector: $(COLLECTOR) ## build dist/otelcol-dashstream with ocb (builder-config.yaml)

$(COLLECTOR): $(COLLECTOR_SRC)
	@test -x $(BIN)/ocb || (mkdir -p $(BIN) && cd tools && $(GO) build -o $(BIN)/ocb go.opentelemetry.io/collector/cmd/builder)
	$(BIN)/ocb --config=builder-config.yaml
	@touch $@

.PHONY: cli devkafka demo
cli: ## build the dashstream CLI into dist/bin/
	$(GO) build -o $(DIST_BIN)/dashstream ./cmd/dashstream
devkafka: ## build the dev Kafka (kfake on 127.0.0.1:9092) into dist/bin/
	$(GO) build -o $(DIST_BIN)/devkafka ./cmd/devkafka
demo: ## build the demo graph program into dist/bin/
	$(GO) build -o $(DIST_BIN)/demo ./cmd/demo

.PHONY: run
run: collector cli devkafka demo ## start dev Kafka + collector, run the demo, show its stream (Ctrl-C stops all)
	@scripts/run.sh

.PHONY: e2e
e2e: collector cli devkafka demo ## end-to-end test: demo, LangGraph.js and agent runtime spans through Kafka, checked by dashstream verify
	@scripts/e2e.sh

.PHONY: crash-test
crash-test: collector cli devkafka ## SIGKILL the collector with the dev Kafka stalled, restart it, verify --strict (CRASH_REPS=N)
	@scripts/crash.sh

.PHONY: router
router: ## build the routing-tier collector (examples/two-tier/router, its own module) into dist/bin/
	cd examples/two-tier/router && $(GO) build -o $(DIST_BIN)/otelcol-router .

.PHONY: two-tier-test
two-tier-test: collector cli devkafka demo router ## routing tier + two otelcol-dashstream, one restarted under load, verify --strict
	@scripts/two-tier.sh

.PHONY: chaos
chaos: collector cli devkafka demo ## steady load through a 3-broker dev Kafka whose leaders move, brokers leave, elections drag; verify --strict (CHAOS_REPS=N)
	@scripts/chaos.sh

.PHONY: screenshots
screenshots: collector cli devkafka demo ## the README's pictures from real runs (DASHFLOW_UI_DIR=… adds the DashFlow UI's)
	@scripts/screenshots.sh
