#!/usr/bin/env bash
# `make two-tier-test`: the scale-out layout of docs/OPERATIONS.md end to
# end, with the real routing exporter. The dev Kafka; two otelcol-dashstream
# instances (examples/collector.yaml, each with its own persistent queue);
# in front of them the routing tier (dist/bin/otelcol-router, built from
# examples/two-tier/router with contrib's loadbalancing exporter, configured
# by examples/two-tier/routing-tier.yaml: routing on dashstream.thread_id).
# Steady load through the router (the demo program, TWO_TIER_THREADS
# threads, one run per thread per round, the same threads every round);
# under load instance B is stopped with SIGTERM and started again, then
# instance A is killed with SIGKILL and started again. At the end
# `dashstream verify --strict` checks every thread against the load's final
# states: no gap (a restart continues each thread's sequence), no duplicate,
# every patch, hash and checkpoint right.
#
# Settings: TWO_TIER_DURATION (seconds of load, default 30),
# TWO_TIER_THREADS (default 12); addresses: DASHSTREAM_KAFKA_ADDR,
# ROUTER_GRPC_ENDPOINT, ROUTER_HTTP_ENDPOINT, TIER2_A, TIER2_B (gRPC of the
# instances), TIER2_A_HTTP, TIER2_B_HTTP, TIER2_A_METRICS_PORT,
# TIER2_B_METRICS_PORT. Ends with "two-tier-test: PASS" or FAIL.
set -euo pipefail
# shellcheck source=scripts/stack.sh
source "$(dirname "$0")/stack.sh"

ROUTER_BIN=$DIST_BIN/otelcol-router
require_built "$DIST_BIN/demo" "$ROUTER_BIN"
trap stop_stack EXIT
trap 'exit 130' INT TERM

duration=${TWO_TIER_DURATION:-30}
threads=${TWO_TIER_THREADS:-12}
export ROUTER_GRPC_ENDPOINT=${ROUTER_GRPC_ENDPOINT:-127.0.0.1:4317}
export ROUTER_HTTP_ENDPOINT=${ROUTER_HTTP_ENDPOINT:-127.0.0.1:4318}
export TIER2_A=${TIER2_A:-127.0.0.1:14317} TIER2_B=${TIER2_B:-127.0.0.1:24317}
a_http=${TIER2_A_HTTP:-127.0.0.1:14318} b_http=${TIER2_B_HTTP:-127.0.0.1:24318}
a_metrics=${TIER2_A_METRICS_PORT:-18888} b_metrics=${TIER2_B_METRICS_PORT:-28888}

mkdir -p "$RUN_DIR"
rm -rf "$RUN_DIR/tier2-a-queue" "$RUN_DIR/tier2-b-queue" "$RUN_DIR/two-tier-demo.log"
require_free "$DASHSTREAM_KAFKA_ADDR" DASHSTREAM_KAFKA_ADDR
require_free "$ROUTER_GRPC_ENDPOINT" ROUTER_GRPC_ENDPOINT
require_free "$ROUTER_HTTP_ENDPOINT" ROUTER_HTTP_ENDPOINT

log "starting dev Kafka on $DASHSTREAM_KAFKA_ADDR (log: dist/run/devkafka.log)"
"$DIST_BIN/devkafka" -listen "$DASHSTREAM_KAFKA_ADDR" >"$RUN_DIR/devkafka.log" 2>&1 &
STACK_PIDS+=($!)
wait_port devkafka "$!" "$DASHSTREAM_KAFKA_ADDR" "$RUN_DIR/devkafka.log"

start_collector tier2-a "$TIER2_A" "$a_http" "$a_metrics" "$RUN_DIR/tier2-a-queue"
pid_a=${STACK_PIDS[-1]}
start_collector tier2-b "$TIER2_B" "$b_http" "$b_metrics" "$RUN_DIR/tier2-b-queue"
pid_b=${STACK_PIDS[-1]}

log "starting the routing tier on $ROUTER_GRPC_ENDPOINT (log: dist/run/router.log)"
# No metrics endpoint for the router (its default port may be taken).
printf 'service:\n  telemetry:\n    metrics:\n      level: none\n' >"$RUN_DIR/router-telemetry.yaml"
"$ROUTER_BIN" --config "$ROOT/examples/two-tier/routing-tier.yaml" --config "$RUN_DIR/router-telemetry.yaml" \
	>"$RUN_DIR/router.log" 2>&1 &
STACK_PIDS+=($!)
wait_port router "$!" "$ROUTER_GRPC_ENDPOINT" "$RUN_DIR/router.log"

# The load: rounds of the demo on the same threads until the time is up.
prefix="two-tier-$(date +%s)-"
expect=$RUN_DIR/two-tier-expect.json
load() {
	local end=$((SECONDS + duration)) rounds=0
	while ((SECONDS < end)); do
		"$DIST_BIN/demo" -endpoint "$ROUTER_GRPC_ENDPOINT" -threads "$threads" -runs 1 -thread-prefix "$prefix" \
			-latency 2ms -expect "$expect.tmp" >>"$RUN_DIR/two-tier-demo.log" 2>&1 || return 1
		mv "$expect.tmp" "$expect"
		rounds=$((rounds + 1))
	done
	echo "$rounds" >"$RUN_DIR/two-tier-rounds"
}
log "load: $threads threads through the router for ${duration}s (log: dist/run/two-tier-demo.log)"
load &
load_pid=$!

# These sleeps pace the restarts within the load; nothing waits on them
# for a result.
sleep $((duration / 3))
log "under load: SIGTERM instance B, start it again on its queue"
kill -TERM "$pid_b"
wait "$pid_b" 2>/dev/null || true
start_collector tier2-b-restarted "$TIER2_B" "$b_http" "$b_metrics" "$RUN_DIR/tier2-b-queue"
pid_b=${STACK_PIDS[-1]}
sleep $((duration / 3))
log "under load: SIGKILL instance A, start it again on its queue"
kill -KILL "$pid_a"
wait "$pid_a" 2>/dev/null || true
start_collector tier2-a-restarted "$TIER2_A" "$a_http" "$a_metrics" "$RUN_DIR/tier2-a-queue"
pid_a=${STACK_PIDS[-1]}

status=0
wait "$load_pid" || status=$?
if ((status != 0)); then
	log "FAIL: the load failed (dist/run/two-tier-demo.log)"
	echo "two-tier-test: FAIL"
	exit 1
fi
log "load done: $(cat "$RUN_DIR/two-tier-rounds") rounds of $threads threads"

status=0
"$DIST_BIN/dashstream" verify --brokers "$DASHSTREAM_KAFKA_ADDR" --thread "${prefix}*" --strict \
	--expect "$expect" --expect-threads "$threads" --wait 60s >"$RUN_DIR/two-tier-verify.txt" 2>&1 || status=$?
cat "$RUN_DIR/two-tier-verify.txt" >&2

# Both instances carried threads, and each restart continued them.
fail=0
for name in tier2-a tier2-b; do
	if ! grep -q 'Traces' "$RUN_DIR/$name.log"; then # the debug exporter's line per batch
		log "FAIL: $name received no spans (dist/run/$name.log)"
		fail=1
	fi
done
if ! grep -q 'Restored the sessions saved at the last shutdown' "$RUN_DIR/tier2-b-restarted.log"; then
	log "FAIL: instance B did not restore its sessions after SIGTERM (dist/run/tier2-b-restarted.log)"
	fail=1
fi
if ! grep -q "Read Kafka's partition tails" "$RUN_DIR/tier2-a-restarted.log"; then
	log "FAIL: instance A did not read Kafka's tails after SIGKILL (dist/run/tier2-a-restarted.log)"
	fail=1
fi
if ((status != 0 || fail != 0)); then
	log "FAIL: dashstream verify --strict exit $status (dist/run/two-tier-verify.txt, tier2-*.log, router.log)"
	echo "two-tier-test: FAIL"
	exit 1
fi
echo "two-tier-test: PASS"
