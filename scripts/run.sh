#!/usr/bin/env bash
# `make run`: start the dev Kafka, otelcol-dashstream and `dashstream serve`
# (the live view, printed URL), run the demo graph,
# wait until its stream is in Kafka, print it with `dashstream tail`, print
# `dashstream verify`'s report, then keep following the topic until Ctrl-C,
# which stops everything this script started. Logs: dist/run/*.log.
#
# RUN_STAY=0 exits after the report instead of following (the default when
# stdin is not a terminal). Addresses: see scripts/stack.sh.
set -euo pipefail
# shellcheck source=scripts/stack.sh
source "$(dirname "$0")/stack.sh"

require_built "$DIST_BIN/demo"
trap stop_stack EXIT
trap 'exit 130' INT TERM

start_stack
start_serve

stay=${RUN_STAY:-}
if [[ -z $stay ]]; then
	if [[ -t 0 ]]; then stay=1; else stay=0; fi
fi
# When staying, the demo's model and tool calls take long enough to watch
# the run in the browser.
latency=${DEMO_LATENCY:-20ms}
if [[ $stay == 1 ]]; then latency=${DEMO_LATENCY:-400ms}; fi

printf '\n    Live view: http://%s/live/\n' "$SERVE_ADDR" >&2
if [[ -n ${DASHFLOW_UI_DIST:-} ]]; then printf '    DashFlow UI: http://%s/\n' "$SERVE_ADDR" >&2; fi
printf '\n' >&2

prefix="demo-$(date -u +%Y%m%d-%H%M%S)-"
expect=$RUN_DIR/demo-expect.json
log "running the demo graph (threads ${prefix}1 and ${prefix}2, model and tool calls of $latency)"
"$DIST_BIN/demo" -endpoint "$OTLP_GRPC_ENDPOINT" -thread-prefix "$prefix" -expect "$expect" -latency "$latency"

log "waiting for the demo's stream in Kafka (dashstream verify --expect)"
status=0
"$DIST_BIN/dashstream" verify --brokers "$DASHSTREAM_KAFKA_ADDR" --thread "${prefix}*" \
	--expect "$expect" --expect-threads 2 --wait 60s --color always >"$RUN_DIR/verify.txt" 2>&1 || status=$?

log "the stream (dashstream tail --from-beginning --thread '${prefix}*')"
"$DIST_BIN/dashstream" tail --brokers "$DASHSTREAM_KAFKA_ADDR" --from-beginning --follow=false \
	--thread "${prefix}*"

log "dashstream verify"
if [[ -t 1 ]]; then cat "$RUN_DIR/verify.txt"; else sed 's/\x1b\[[0-9;]*m//g' "$RUN_DIR/verify.txt"; fi
((status == 0)) || die "the demo's stream did not verify (exit $status)"

if [[ $stay == 1 ]]; then
	log "still running: live view on http://$SERVE_ADDR/live/; send OTLP traces to $OTLP_GRPC_ENDPOINT (gRPC) or http://$OTLP_HTTP_ENDPOINT (HTTP);"
	log "following new messages on dashstream-events. Ctrl-C stops everything."
	"$DIST_BIN/dashstream" tail --brokers "$DASHSTREAM_KAFKA_ADDR" --follow || true
fi
