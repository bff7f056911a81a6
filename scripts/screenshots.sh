#!/usr/bin/env bash
# `make screenshots`: the README's pictures, taken from real runs.
#
#   docs/images/live-view.png       the live view of `dashstream serve` while
#                                   the demo runs (headless Chromium driven by
#                                   cmd/dashstream TestLiveViewInBrowser)
#   docs/images/dashflow-ui-*.png   the unmodified DashFlow observability UI,
#                                   served by `dashstream serve --ui-dir`, on
#                                   the demo's and the LangGraph.js example's
#                                   streams (internal/uiworker/screenshot.mjs);
#                                   only when DASHFLOW_UI_DIR names the UI's
#                                   source (dashflow/observability-ui of a
#                                   DashFlow checkout), skipped otherwise.
#
# Needs Chromium (/usr/bin/chromium, Debian's `chromium`), and node and npm
# for the DashFlow UI part. Addresses: see scripts/stack.sh.
set -euo pipefail
# shellcheck source=scripts/stack.sh
source "$(dirname "$0")/stack.sh"

require_built "$DIST_BIN/demo"
[[ -x /usr/bin/chromium ]] || die "Chromium is missing: apt-get install chromium"
out=$ROOT/docs/images
mkdir -p "$out"
trap stop_stack EXIT
trap 'exit 130' INT TERM

ui=${DASHFLOW_UI_DIR:-}
if [[ -n $ui && -f $ui/package.json ]]; then
	if [[ ! -f $ui/dist/index.html ]]; then
		log "building the DashFlow UI in $ui (npm ci, vite build)"
		(cd "$ui" && npm ci --no-audit --no-fund --loglevel=error && npx vite build)
	fi
	export DASHFLOW_UI_DIST=$ui/dist
	(cd "$ROOT/internal/uiworker" && [[ -d node_modules ]] || npm ci --no-audit --no-fund --loglevel=error)
else
	ui=""
	log "SKIP the DashFlow UI pictures: set DASHFLOW_UI_DIR to the UI's source (dashflow/observability-ui)"
fi

start_stack
start_serve
run_id=$(date -u +%H%M%S)

# 1. The live view while the demo runs.
log "live view: demo run watched by Chromium"
"$DIST_BIN/demo" -endpoint "$OTLP_GRPC_ENDPOINT" -threads 2 -runs 1 -thread-prefix "shot-$run_id-" \
	-expect "$RUN_DIR/shot-expect.json" -latency 150ms >"$RUN_DIR/shot-demo.log" 2>&1 &
demo=$!
rm -f "$RUN_DIR/shot-expect.json"
(cd "$ROOT" && SERVE_BROWSER_URL="http://$SERVE_ADDR" SERVE_BROWSER_EXPECT="$RUN_DIR/shot-expect.json" \
	SERVE_BROWSER_NODES=plan,research,draft,review,publish SERVE_BROWSER_SCREENSHOT="$out/live-view.png" \
	go test -count=1 -run '^TestLiveViewInBrowser$' ./cmd/dashstream)
wait "$demo"
log "wrote docs/images/live-view.png"

# 2. The DashFlow UI: it asks the relay for new records only, so each page is
# opened first and the program run while it watches.
if [[ -n $ui ]]; then
	(cd "$ROOT/internal/uiworker" && node screenshot.mjs --url "http://$SERVE_ADDR/" --out "$out/dashflow-ui-demo.png" \
		--nodes plan,research,draft,review,publish \
		--run "'$DIST_BIN/demo' -endpoint '$OTLP_GRPC_ENDPOINT' -threads 1 -runs 1 -thread-prefix ui-demo-$run_id- -latency 20ms")
	log "wrote docs/images/dashflow-ui-demo.png"
	lg=$ROOT/examples/langgraphjs
	(cd "$lg" && [[ -d node_modules ]] || npm ci --no-audit --no-fund --loglevel=error)
	(cd "$ROOT/internal/uiworker" && node screenshot.mjs --url "http://$SERVE_ADDR/" --out "$out/dashflow-ui-langgraphjs.png" \
		--nodes intake,agent,remember,tools,respond \
		--run "cd '$lg' && OTEL_EXPORTER_OTLP_ENDPOINT=http://$OTLP_HTTP_ENDPOINT node graph.mjs --thread-prefix ui-lg-$run_id- --expect '$RUN_DIR/ui-lg-expect.json' && sleep 2")
	log "wrote docs/images/dashflow-ui-langgraphjs.png"
fi
