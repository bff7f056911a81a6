#!/usr/bin/env bash
# `make e2e`: the end-to-end test of the run path. Starts the dev Kafka and
# otelcol-dashstream (examples/collector.yaml), sends real graph spans
# through them and checks with `dashstream verify` that each thread's
# stream is consistent and replays to the final state the program itself
# reports:
#   1. the Go demo (cmd/demo, dashstream.* keys): 2 threads, 3 runs;
#   2. scale-out: one thread moves to a second collector instance (as when
#      the routing tier of docs/OPERATIONS.md reshuffles): its stream must
#      stay valid, sequences increasing across the two instances;
#   3. the LangGraph.js example (examples/langgraphjs, OpenInference over
#      OTLP/HTTP; again with OpenLLMetry JS and with the Langfuse SDK), when
#      node and npm are installed: 2 threads, 3 runs each;
#   4. the Vercel AI SDK and Google ADK JS examples (examples/vercel-ai,
#      examples/google-adk, GenAI conventions): one conversation of two turns
#      each, the conversation being the state;
#   5. the Mastra workflow example (examples/mastra/workflow.mjs): steps as
#      nodes, a branch, the workflow's final result as the state.
# Every program's records are also checked on the DashFlow UI's browser path
# (internal/uiworker/check.mjs).
# The second instance listens on OTLP_GRPC_ENDPOINT_B (127.0.0.1:4417),
# OTLP_HTTP_ENDPOINT_B (127.0.0.1:4418), OTELCOL_METRICS_PORT_B (8889).
# E2E_SKIP_SCALE_OUT=1 skips check 2.
# E2E_REQUIRE_LANGGRAPH=1 makes a missing node/npm a failure (CI sets it).
# E2E_NPM_CI=1 runs `npm ci` even where node_modules is up to date with the lock file.
# Ends with "N passed, M failed"; exits non-zero when anything failed.
set -euo pipefail
# shellcheck source=scripts/stack.sh
source "$(dirname "$0")/stack.sh"

require_built "$DIST_BIN/demo"
trap stop_stack EXIT
trap 'exit 130' INT TERM

passed=0
failed=0
run_id="$(date -u +%H%M%S)-$$"

# check NAME PREFIX EXPECT_FILE THREADS [FLAGS...]: verify the threads of
# one program.
check() {
	local name=$1 prefix=$2 expect=$3 threads=$4 status=0
	shift 4
	log "$name: dashstream verify --thread '${prefix}*' --expect $expect --expect-threads $threads $*"
	"$DIST_BIN/dashstream" verify --brokers "$DASHSTREAM_KAFKA_ADDR" --thread "${prefix}*" \
		--expect "$expect" --expect-threads "$threads" --wait "${E2E_WAIT:-90s}" "$@" || status=$?
	if ((status == 0)); then
		passed=$((passed + 1))
		log "PASS $name"
	else
		failed=$((failed + 1))
		log "FAIL $name (verify exit $status; collector log: dist/run/collector.log)"
	fi
}

# stale_modules DIR: DIR's node_modules is missing or older than its lock
# file (npm writes node_modules/.package-lock.json at every install).
stale_modules() {
	[[ ! -f $1/node_modules/.package-lock.json || $1/package-lock.json -nt $1/node_modules/.package-lock.json ]]
}

# uicheck NAME PREFIX: the threads' records, read back from Kafka, on the
# DashFlow UI's browser path (internal/uiworker/check.mjs: protobufjs, then
# structured cloning): every field arrives, every state hash verifies, every
# GRAPH_START carries a graph schema.
uiworker=$ROOT/internal/uiworker
uicheck() {
	local name=$1 prefix=$2 dump="$RUN_DIR/e2e-$1-records.jsonl"
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		if [[ ${E2E_REQUIRE_LANGGRAPH:-} == 1 ]]; then
			failed=$((failed + 1))
			log "FAIL $name-ui: node or npm missing"
		else
			log "SKIP $name-ui: node or npm missing"
		fi
		return
	fi
	if stale_modules "$uiworker"; then
		(cd "$uiworker" && npm ci --no-audit --no-fund --loglevel=error)
	fi
	log "$name-ui: dashstream tail --records | node internal/uiworker/check.mjs --require-schema"
	if "$DIST_BIN/dashstream" tail --brokers "$DASHSTREAM_KAFKA_ADDR" --from-beginning --follow=false \
		--thread "${prefix}*" --records >"$dump" &&
		(cd "$uiworker" && node check.mjs --proto "$ROOT/dashstream/proto/dashstream.proto" --require-schema "$dump"); then
		passed=$((passed + 1))
		log "PASS $name-ui"
	else
		failed=$((failed + 1))
		log "FAIL $name-ui (records in $dump)"
	fi
}

start_stack

# 1. The Go demo.
prefix="e2e-demo-$run_id-"
log "demo: 2 threads, 2 runs on the first"
if "$DIST_BIN/demo" -endpoint "$OTLP_GRPC_ENDPOINT" -threads 2 -runs 2 -thread-prefix "$prefix" \
	-expect "$RUN_DIR/e2e-demo-expect.json" -latency 5ms; then
	check demo "$prefix" "$RUN_DIR/e2e-demo-expect.json" 2 --strict
	uicheck demo "$prefix"
else
	failed=$((failed + 1))
	log "FAIL demo: the demo program failed"
fi

# 1b. The live view in a real browser while the demo runs (headless Chromium
# driven by chromedp: cmd/dashstream TestLiveViewInBrowser against
# `dashstream serve`). SERVE_BROWSER_REQUIRED=1 makes a missing Chromium a
# failure (CI sets it).
prefix="e2e-browser-$run_id-"
start_serve
log "live view: demo with threads ${prefix}1..2 while Chromium watches http://$SERVE_ADDR/live/"
rm -f "$RUN_DIR/e2e-browser-expect.json"
"$DIST_BIN/demo" -endpoint "$OTLP_GRPC_ENDPOINT" -threads 2 -runs 1 -thread-prefix "$prefix" \
	-expect "$RUN_DIR/e2e-browser-expect.json" -latency 150ms >"$RUN_DIR/e2e-browser-demo.log" 2>&1 &
demo_pid=$!
if (cd "$ROOT" && SERVE_BROWSER_URL="http://$SERVE_ADDR" SERVE_BROWSER_EXPECT="$RUN_DIR/e2e-browser-expect.json" \
	SERVE_BROWSER_NODES=plan,research,draft,review,publish \
	go test -count=1 -run '^TestLiveViewInBrowser$' ./cmd/dashstream); then
	passed=$((passed + 1))
	log "PASS live-view-browser"
else
	failed=$((failed + 1))
	log "FAIL live-view-browser (demo log: dist/run/e2e-browser-demo.log, serve log: dist/run/serve.log)"
fi
wait "$demo_pid" || true

# 2. A thread moves between two collector instances: run 1 on the first,
# run 2 on a second one. The second starts a new session for the thread
# (clock-seeded sequences, a gap is allowed), so no --strict here.
prefix="e2e-move-$run_id-"
if [[ ${E2E_SKIP_SCALE_OUT:-} == 1 ]]; then
	log "SKIP scale-out (E2E_SKIP_SCALE_OUT=1)"
else
	start_collector collector-b "${OTLP_GRPC_ENDPOINT_B:-127.0.0.1:4417}" "${OTLP_HTTP_ENDPOINT_B:-127.0.0.1:4418}" \
		"${OTELCOL_METRICS_PORT_B:-8889}" "$RUN_DIR/queue-b"
	log "scale-out: thread ${prefix}1 runs on collector, then on collector-b"
	if "$DIST_BIN/demo" -endpoint "$OTLP_GRPC_ENDPOINT" -threads 1 -runs 1 -thread-prefix "$prefix" -latency 5ms \
		-expect "$RUN_DIR/e2e-move-a.json" &&
		"$DIST_BIN/demo" -endpoint "${OTLP_GRPC_ENDPOINT_B:-127.0.0.1:4417}" -threads 1 -runs 1 -thread-prefix "$prefix" \
			-latency 5ms -expect "$RUN_DIR/e2e-move-expect.json"; then
		check scale-out "$prefix" "$RUN_DIR/e2e-move-expect.json" 1
	else
		failed=$((failed + 1))
		log "FAIL scale-out: the demo program failed"
	fi
fi

# node_example NAME DIR SCRIPT THREADS [ARGS...]: when the example and node
# are there, `npm ci` it, run its program against the collector over
# OTLP/HTTP and verify the THREADS threads it reports with --expect.
node_example() {
	local name=$1 dir=$ROOT/examples/$2 script=$3 threads=$4 prefix expect
	shift 4
	if [[ ! -f $dir/$script ]] || ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		if [[ ${E2E_REQUIRE_LANGGRAPH:-} == 1 ]]; then
			failed=$((failed + 1))
			log "FAIL $name: examples/${dir##*/}/$script, node or npm missing"
		else
			log "SKIP $name: examples/${dir##*/}/$script, node or npm missing"
		fi
		return
	fi
	prefix="e2e-$name-$run_id-"
	expect="$RUN_DIR/e2e-$name-expect.json"
	log "$name: npm ci, then node $script $* (OTLP/HTTP to $OTLP_HTTP_ENDPOINT)"
	if stale_modules "$dir" || [[ ${E2E_NPM_CI:-} == 1 ]]; then
		if ! (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error); then
			failed=$((failed + 1))
			log "FAIL $name: npm ci failed"
			return
		fi
	fi
	if (cd "$dir" && OTEL_EXPORTER_OTLP_ENDPOINT="http://$OTLP_HTTP_ENDPOINT" \
		node "$script" --expect "$expect" --thread-prefix "$prefix" "$@"); then
		check "$name" "$prefix" "$expect" "$threads"
		uicheck "$name" "$prefix"
	else
		failed=$((failed + 1))
		log "FAIL $name: $script failed"
	fi
}

# 3. LangGraph.js (OpenInference): 2 threads, 3 runs.
node_example langgraphjs langgraphjs graph.mjs 2
# ...and the same graph traced by OpenLLMetry JS (nodes mostly unnamed, but
# every state is there).
node_example openllmetry-js langgraphjs graph.mjs 2 --instrumentation openllmetry
# ...and by the Langfuse SDK (@langfuse/langchain CallbackHandler, spans
# through a standard OTLP exporter): every node, router, model and tool
# call; the state as far as the handler writes it (the messages).
node_example langfuse-js langgraphjs graph.mjs 2 --instrumentation langfuse
# 4. GenAI agent runtimes on their own mock models, one conversation of two
# turns each: the Vercel AI SDK (@ai-sdk/otel) and Google ADK JS.
node_example vercel-ai vercel-ai agent.mjs 1
node_example google-adk google-adk agent.mjs 1
# 5. A Mastra workflow (@mastra/otel-exporter): two runs on one thread, one
# through each branch; the state is the value passed from step to step.
node_example mastra-workflow mastra workflow.mjs 1

echo "e2e: $passed passed, $failed failed"
((failed == 0))
