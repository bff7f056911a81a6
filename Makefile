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
GENERATE_HOOKS ?= collector-sources programs-std

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
test-allocs: ## allocation budgets and buffer-pool reuse, which the race detector cannot check
	$(GO) test -count 1 -run 'Allocs' ./bench/internal/workload
	$(GO) test -count 1 ./dashstream

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
# The collector's sources are generated from builder-config.yaml into
# cmd/otelcol-dashstream/ (`make collector-sources`, part of `make generate`,
# checked by `make check-generate`) and committed, so building it is a plain
# `go build`: no ocb, no module resolution of a generated module. The four
# programs build in one `go build` (they share most packages) into dist/bin/;
# dist/otelcol-dashstream is the collector too. `make run` logs to dist/run/.
#
# Two build profiles, as cargo has them. PROFILE=release, the default (make
# collector, e2e, crash-test, chaos, …): the compiler's defaults, into dist/.
# PROFILE=dev, what `make run` builds (RUN_PROFILE=release changes that):
# the same code without inlining (-gcflags=all=-l), into dist/dev/. A cold
# build of the programs takes about a fifth less CPU (README "How long it
# takes"); the code it makes is slower (translation: ~1.4x the CPU), which
# a demo does not notice. Build what you deploy or measure with the
# release profile.
PROFILE ?= release
ifeq ($(PROFILE),release)
DIST := $(CURDIR)/dist
PROGRAMS_GCFLAGS ?=
else ifeq ($(PROFILE),dev)
DIST := $(CURDIR)/dist/dev
PROGRAMS_GCFLAGS ?= all=-l
else
$(error PROFILE is release or dev, not '$(PROFILE)')
endif
RUN_PROFILE ?= dev
DIST_BIN  := $(DIST)/bin
COLLECTOR := $(DIST)/otelcol-dashstream
COLLECTOR_PKG := cmd/otelcol-dashstream
PROGRAMS := ./$(COLLECTOR_PKG) ./cmd/dashstream ./cmd/devkafka ./cmd/demo
# Linked without the symbol table and DWARF, as ocb links (a faster link;
# panics still print file:line). PROGRAMS_LDFLAGS= keeps them, for a debugger.
PROGRAMS_LDFLAGS ?= -s -w
# The standard-library packages the programs import (`make programs-std`,
# part of `make generate`). On a cold cache `make programs` compiles them
# while `go list` downloads the modules, which otherwise leaves both cores
# idle; on a warm cache both steps take about a second. The go command
# fetches as many modules at once as GOMAXPROCS says: on 2 cores the
# downloads took 21 s, with 16 fetches at once 7 s.
PROGRAMS_STD := scripts/programs-std.txt

.PHONY: programs collector cli devkafka demo programs-std
programs: ## build the collector, the CLI, the dev Kafka and the demo into dist/bin/ (one go build; PROFILE=dev: dist/dev/bin/)
	@mkdir -p $(DIST_BIN)
	@std=$$($(GO) list -e -f '{{if not .Error}}{{.ImportPath}}{{end}}' $$(cat $(PROGRAMS_STD))); \
	$(GO) build -gcflags='$(PROGRAMS_GCFLAGS)' $$std 2>/dev/null & \
	GOMAXPROCS=16 $(GO) list -deps $(PROGRAMS) >/dev/null; wait
	$(GO) build -gcflags='$(PROGRAMS_GCFLAGS)' -ldflags="$(PROGRAMS_LDFLAGS)" -o $(DIST_BIN)/ $(PROGRAMS)
	@ln -f $(DIST_BIN)/otelcol-dashstream $(COLLECTOR)
collector: programs ## build dist/otelcol-dashstream (cmd/otelcol-dashstream, from builder-config.yaml)
cli: programs ## build the dashstream CLI into dist/bin/
devkafka: programs ## build the dev Kafka (kfake on 127.0.0.1:9092) into dist/bin/
demo: programs ## build the demo graph program into dist/bin/
programs-std: ## list the standard-library packages of the programs in scripts/programs-std.txt (for make programs)
	@$(GO) list -deps -f '{{if .Standard}}{{.ImportPath}}{{end}}' $(PROGRAMS) | grep . >$(PROGRAMS_STD)
	@echo "standard-library packages of the programs -> $(PROGRAMS_STD)"

.PHONY: collector-sources
collector-sources: ## regenerate cmd/otelcol-dashstream/ from builder-config.yaml with ocb; its modules must be go.mod's
	@test -x $(BIN)/ocb || (mkdir -p $(BIN) && cd tools && $(GO) build -o $(BIN)/ocb go.opentelemetry.io/collector/cmd/builder)
	@tmp=$$(mktemp -d) || exit 1; \
	$(BIN)/ocb --config=builder-config.yaml --skip-compilation --skip-get-modules --output-path="$$tmp" >"$$tmp/ocb.log" 2>&1 \
		|| { cat "$$tmp/ocb.log"; rm -rf "$$tmp"; exit 1; }; \
	rm -f $(COLLECTOR_PKG)/*.go && mkdir -p $(COLLECTOR_PKG) && cp "$$tmp"/*.go $(COLLECTOR_PKG)/ && gofmt -w $(COLLECTOR_PKG) \
		|| { rm -rf "$$tmp"; exit 1; }; \
	rm -rf "$$tmp"; echo "ocb builder-config.yaml -> $(COLLECTOR_PKG)/"
	@awk '$$1 == "-" && $$2 == "gomod:" && $$3 != "$(MODULE)" { print $$3, $$4 }' builder-config.yaml | \
	while read -r mod ver; do \
		have=$$($(GO) list -m -f '{{.Version}}' "$$mod" 2>/dev/null); \
		if [ "$$have" != "$$ver" ]; then \
			echo "collector-sources: builder-config.yaml wants $$mod $$ver, go.mod has '$$have' (go get $$mod@$$ver)"; exit 1; \
		fi; \
	done

.PHONY: run
run: ## build (RUN_PROFILE, dev by default), start dev Kafka + collector, run the demo, show its stream (Ctrl-C stops all)
	@$(MAKE) --no-print-directory programs PROFILE=$(RUN_PROFILE)
	@DIST_DIR='$(if $(filter dev,$(RUN_PROFILE)),$(CURDIR)/dist/dev,$(CURDIR)/dist)' scripts/run.sh

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
