#!/usr/bin/env bash
# `make chaos`: the built collector under steady load while a three-broker
# dev Kafka (devkafka -brokers 3) goes through what a real cluster does:
#
#   leaders        partition leaders move (HTTP /leaders/shuffle and
#                  SIGUSR1, in turns) every second
#   broker_loss    a broker is removed and comes back on its port, 3 times
#   slow_election  a broker answers 8, then 14, then 8 produce requests in
#                  a row with NOT_LEADER_FOR_PARTITION (14 outlast one
#                  attempt's own retries)
#
# Load: bench/loadgen (graph runs, dashstream.* keys, 12 threads per
# generation) plus the demo graph program in a loop, which writes each
# thread's final state. Checks, per scenario and repetition, once the topic
# has drained: `dashstream verify --strict` over the loadgen threads (every
# record decodes, sequences without gap or repeat, every patch, hash and
# checkpoint right); the same with --expect over every demo invocation's
# threads (the replayed final states equal the load's own); and that the
# collector counted nothing as lost.
#
# CHAOS_REPS (default 1) repetitions of CHAOS_SCENARIOS (default all three),
# each with CHAOS_DURATION (default 12s) of load. Ends with
# "chaos: N passed, M failed".
set -euo pipefail
# shellcheck source=scripts/stack.sh
source "$(dirname "$0")/stack.sh"

require_built
command -v jq >/dev/null || die "jq is missing (apt-get install jq)"
[[ -x $DIST_BIN/demo ]] || die "$DIST_BIN/demo is missing: run 'make demo'"
go build -o "$DIST_BIN/loadgen" "$ROOT/bench/loadgen"
trap stop_stack EXIT
trap 'exit 130' INT TERM

reps=${CHAOS_REPS:-1}
duration=${CHAOS_DURATION:-12s}
secs=${duration%s}
scenarios=${CHAOS_SCENARIOS:-leaders broker_loss slow_election}
control=${CHAOS_CONTROL_ADDR:-127.0.0.1:9099}
passed=0
failed=0

# start_cluster starts devkafka with three brokers on $DASHSTREAM_KAFKA_ADDR's
# port and the two after it, and its chaos endpoints on $control.
start_cluster() {
	local host=${DASHSTREAM_KAFKA_ADDR%:*} port=${DASHSTREAM_KAFKA_ADDR##*:}
	for p in "$port" $((port + 1)) $((port + 2)); do
		require_free "$host:$p" "a dev Kafka broker port"
	done
	require_free "$control" CHAOS_CONTROL_ADDR
	log "starting dev Kafka, 3 brokers from $DASHSTREAM_KAFKA_ADDR, control http://$control (log: dist/run/devkafka.log)"
	"$DIST_BIN/devkafka" -listen "$DASHSTREAM_KAFKA_ADDR" -brokers 3 -partitions 6 -control "$control" \
		>"$RUN_DIR/devkafka.log" 2>&1 &
	STACK_PIDS+=($!)
	wait_port devkafka "$!" "$DASHSTREAM_KAFKA_ADDR" "$RUN_DIR/devkafka.log"
	wait_port devkafka "$!" "$control" "$RUN_DIR/devkafka.log"
}

post() { curl -fsS -X POST "http://$control$1" >/dev/null; }

# Each scenario runs for the load's duration; the sleeps pace the faults,
# nothing waits on them for a result.
chaos_leaders() {
	local i kafka=$1
	for ((i = 0; i < secs; i++)); do
		sleep 1
		if ((i % 2 == 0)); then post /leaders/shuffle; else kill -USR1 "$kafka"; fi
	done
}

chaos_broker_loss() {
	local i node pace
	pace=$(awk -v s="$secs" 'BEGIN { printf "%.2f", s / 7 }')
	for i in 0 1 2; do
		node=$(((i + 1) % 3))
		sleep "$pace"
		post "/brokers/remove?node=$node"
		sleep "$pace"
		post "/brokers/add?node=$node"
	done
}

chaos_slow_election() {
	local step pace
	pace=$(awk -v s="$secs" 'BEGIN { printf "%.2f", s / 4 }')
	# 8 refusals ride on one attempt's own retries (11 tries, about 7.5 s at
	# their pace); 14 outlast them, and the exporter's retry takes over.
	for step in 8:0 14:1 8:2; do # count:node
		sleep "$pace"
		post "/faults/produce?count=${step%:*}&error=NOT_LEADER_FOR_PARTITION&node=${step#*:}"
	done
}

# demo_loop runs the demo graph program again and again until $1 exists,
# each invocation with its own thread prefix and expect file.
demo_loop() {
	local stopfile=$1 prefix=$2 k=0
	while [[ ! -e $stopfile ]]; do
		k=$((k + 1))
		"$DIST_BIN/demo" -endpoint "$OTLP_GRPC_ENDPOINT" -threads 4 -runs 3 -latency 5ms \
			-thread-prefix "$prefix$k-" -expect "$RUN_DIR/chaos-expect-$k.json" >>"$RUN_DIR/chaos-demo.log" 2>&1 ||
			echo "demo invocation $k failed" >>"$RUN_DIR/chaos-demo.log"
		sleep 0.3 # pacing the load, not synchronisation
	done
	echo "$k" >"$stopfile.count"
}

# drained waits (at most 120 s) until the collector has nothing queued and no
# request in flight, twice in a row half a second apart: a request held by a
# slow election can keep the topic quiet for longer than a reader's idle time.
drained() {
	local metrics=http://127.0.0.1:$OTELCOL_METRICS_PORT/metrics quiet=0 i
	for ((i = 0; i < 240; i++)); do
		if curl -fsS "$metrics" | awk '/^otelcol_exporter_(queue_size|in_flight_requests)[{ ]/ { busy += $NF } END { exit busy > 0 }'; then
			quiet=$((quiet + 1))
			((quiet >= 2)) && return 0
		else
			quiet=0
		fi
		sleep 0.5
	done
	log "the collector did not drain within 120 s"
	return 1
}

run_once() {
	local scenario=$1 rep=$2 status=0 n lost
	export DASHSTREAM_QUEUE_DIR=$RUN_DIR/chaos-queue
	rm -rf "$DASHSTREAM_QUEUE_DIR" "$RUN_DIR"/chaos-expect-*.json "$RUN_DIR/chaos-demo.log" "$RUN_DIR/chaos-stop"*
	mkdir -p "$RUN_DIR"
	start_cluster
	local kafka=${STACK_PIDS[0]}
	start_collector collector "$OTLP_GRPC_ENDPOINT" "$OTLP_HTTP_ENDPOINT" "$OTELCOL_METRICS_PORT" "$DASHSTREAM_QUEUE_DIR"
	log "chaos $scenario $rep/$reps: $duration of load (loadgen + demo loop)"
	"$DIST_BIN/loadgen" -endpoint "$OTLP_GRPC_ENDPOINT" -rate 1000 -duration "$duration" -threads 12 -nodes 8 \
		>"$RUN_DIR/chaos-loadgen.log" 2>&1 &
	local load=$!
	local prefix="chaos-$scenario-$rep-"
	demo_loop "$RUN_DIR/chaos-stop" "$prefix" &
	local demos=$!
	"chaos_$scenario" "$kafka"
	wait "$load" || { log "loadgen failed (dist/run/chaos-loadgen.log)"; status=1; }
	touch "$RUN_DIR/chaos-stop"
	wait "$demos" || true
	n=$(cat "$RUN_DIR/chaos-stop.count")
	# The queue drains; then read until nothing new arrived for 5 s.
	drained || status=1
	"$DIST_BIN/dashstream" tail --brokers "$DASHSTREAM_KAFKA_ADDR" --from-beginning --follow=false --idle 5s >/dev/null
	"$DIST_BIN/dashstream" verify --brokers "$DASHSTREAM_KAFKA_ADDR" --thread 'bench-*' --strict \
		>"$RUN_DIR/chaos-verify.txt" 2>&1 || status=$?
	tail -n 2 "$RUN_DIR/chaos-verify.txt" >&2
	# Every demo invocation's final states in one file (jq: object merge).
	jq -s 'add // {}' "$RUN_DIR"/chaos-expect-*.json >"$RUN_DIR/chaos-expect.json"
	"$DIST_BIN/dashstream" verify --brokers "$DASHSTREAM_KAFKA_ADDR" --thread "$prefix*" --strict \
		--expect "$RUN_DIR/chaos-expect.json" --wait 30s >"$RUN_DIR/chaos-verify-demo.txt" 2>&1 ||
		{ status=$?; log "demo threads: verify --strict --expect failed (dist/run/chaos-verify-demo.txt)"; }
	tail -n 1 "$RUN_DIR/chaos-verify-demo.txt" >&2
	if grep -q "demo invocation .* failed" "$RUN_DIR/chaos-demo.log"; then
		log "a demo invocation failed (dist/run/chaos-demo.log)"
		status=1
	fi
	lost=$(grep -c "DashStream records dropped" "$RUN_DIR/collector.log" || true)
	if ((lost > 0)); then
		log "the collector dropped records $lost time(s) (dist/run/collector.log)"
		status=1
	fi
	local retries
	retries=$(grep -c "Kafka did not acknowledge some records" "$RUN_DIR/collector.log" || true)
	if ((status == 0)); then
		passed=$((passed + 1))
		log "PASS chaos $scenario $rep ($n demo invocations with expected states; $retries exporter retries)"
	else
		failed=$((failed + 1))
		log "FAIL chaos $scenario $rep (dist/run/chaos-verify*.txt, dist/run/collector.log, dist/run/devkafka.log)"
		cp "$RUN_DIR/collector.log" "$RUN_DIR/chaos-$scenario-$rep-collector.log"
	fi
	stop_stack
}

for ((rep = 1; rep <= reps; rep++)); do
	for scenario in $scenarios; do
		run_once "$scenario" "$rep"
	done
done
echo "chaos: $passed passed, $failed failed"
((failed == 0))
