#!/usr/bin/env bash
# `make crash-test`: the built collector killed with SIGKILL while the dev
# Kafka is stalled, then restarted on the same persistent queue; the topic
# must verify with `dashstream verify --strict` (no sequence twice, no gap,
# every diff and hash right).
#
# Per repetition (CRASH_REPS, default 1): fresh dev Kafka and queue; graph
# load from bench/loadgen; the dev Kafka is stopped (SIGSTOP) so requests
# sit unacknowledged in its socket buffers; the collector is killed
# (SIGKILL); the dev Kafka resumes (SIGCONT) and processes what was sent —
# records written that the dead collector never heard of; a new collector
# starts on the same file_storage queue and sends what the queue still
# holds. Threads that live across the restarts (the demo program, run
# before the kill, after it, and after a graceful restart with SIGTERM)
# must continue their sequences without a gap: `verify --strict` fails on
# gaps, so a restart that restarted a thread's sequence fails the test.
# Ends with "crash-test: N passed, M failed".
set -euo pipefail
# shellcheck source=scripts/stack.sh
source "$(dirname "$0")/stack.sh"

require_built "$DIST_BIN/demo"
go build -o "$DIST_BIN/loadgen" "$ROOT/bench/loadgen"

# demo_round PREFIX: one run on each of 6 threads named PREFIX1..6, their
# final states to dist/run/crash-expect.json.
demo_round() {
	"$DIST_BIN/demo" -endpoint "$OTLP_GRPC_ENDPOINT" -threads 6 -runs 1 -thread-prefix "$1" -latency 2ms \
		-expect "$RUN_DIR/crash-expect.json" >>"$RUN_DIR/crash-demo.log" 2>&1
}
trap stop_stack EXIT
trap 'exit 130' INT TERM

reps=${CRASH_REPS:-1}
passed=0
failed=0
for ((rep = 1; rep <= reps; rep++)); do
	export DASHSTREAM_QUEUE_DIR=$RUN_DIR/crash-queue
	rm -rf "$DASHSTREAM_QUEUE_DIR"
	start_stack
	kafka=${STACK_PIDS[0]}
	collector=${STACK_PIDS[1]}
	log "crash $rep/$reps: graph load, then SIGSTOP the dev Kafka, SIGKILL the collector, SIGCONT, restart"
	cont="crash-cont-$rep-$(date +%s)-"
	demo_round "$cont"
	"$DIST_BIN/loadgen" -endpoint "$OTLP_GRPC_ENDPOINT" -rate 1500 -duration 8s -threads 20 -nodes 10 \
		>"$RUN_DIR/crash-loadgen.log" 2>&1 &
	load=$!
	sleep 3 # let the load run: these sleeps pace external processes, nothing waits on them for a result
	kill -STOP "$kafka"
	sleep 1
	kill -KILL "$collector"
	wait "$collector" 2>/dev/null || true
	kill "$load" 2>/dev/null || true
	wait "$load" 2>/dev/null || true
	kill -CONT "$kafka"
	STACK_PIDS=("$kafka")
	start_collector collector "$OTLP_GRPC_ENDPOINT" "$OTLP_HTTP_ENDPOINT" "$OTELCOL_METRICS_PORT" "$DASHSTREAM_QUEUE_DIR"
	# The same threads after the kill -9, then after a graceful restart.
	demo_round "$cont"
	collector=${STACK_PIDS[-1]}
	kill -TERM "$collector"
	wait "$collector" 2>/dev/null || true
	start_collector collector-graceful "$OTLP_GRPC_ENDPOINT" "$OTLP_HTTP_ENDPOINT" "$OTELCOL_METRICS_PORT" "$DASHSTREAM_QUEUE_DIR"
	demo_round "$cont"
	# The restored queue drains: read until nothing new arrived for 5 s.
	"$DIST_BIN/dashstream" tail --brokers "$DASHSTREAM_KAFKA_ADDR" --from-beginning --follow=false --idle 5s \
		--thread 'bench-*' >/dev/null
	status=0
	"$DIST_BIN/dashstream" verify --brokers "$DASHSTREAM_KAFKA_ADDR" --thread 'bench-*' --strict \
		>"$RUN_DIR/crash-verify.txt" 2>&1 || status=$?
	tail -n 2 "$RUN_DIR/crash-verify.txt" >&2
	"$DIST_BIN/dashstream" verify --brokers "$DASHSTREAM_KAFKA_ADDR" --thread "${cont}*" --strict \
		--expect "$RUN_DIR/crash-expect.json" --expect-threads 6 --wait 30s \
		>"$RUN_DIR/crash-verify-restarts.txt" 2>&1 || status=$?
	tail -n 2 "$RUN_DIR/crash-verify-restarts.txt" >&2
	skipped=$(grep -c "Skipped records Kafka already has" "$RUN_DIR/collector.log" || true)
	if ((status == 0)); then
		passed=$((passed + 1))
		log "PASS crash $rep (restarted collector skipped already-written records in $skipped attempt(s))"
	else
		failed=$((failed + 1))
		log "FAIL crash $rep: dashstream verify --strict exit $status (dist/run/crash-verify.txt, crash-verify-restarts.txt, collector.log)"
	fi
	stop_stack
done
echo "crash-test: $passed passed, $failed failed"
((failed == 0))
