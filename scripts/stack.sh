# shellcheck shell=bash
# Shared by scripts/run.sh and scripts/e2e.sh: start the dev Kafka and the
# collector in the background, wait until they listen, and stop exactly the
# processes started here (by pid) when the calling script exits.
#
# Settings (environment):
#   DASHSTREAM_KAFKA_ADDR   dev Kafka listen address      (127.0.0.1:9092)
#   OTLP_GRPC_ENDPOINT      collector OTLP/gRPC address   (127.0.0.1:4317)
#   OTLP_HTTP_ENDPOINT      collector OTLP/HTTP address   (127.0.0.1:4318)
#   OTELCOL_METRICS_PORT    collector's Prometheus port   (8888)
#   COLLECTOR_CONFIG        collector configuration       (examples/collector.yaml)
#   STARTUP_TIMEOUT         seconds to wait for a port    (60)
#   SERVE_ADDR              dashstream serve's address    (127.0.0.1:8080)
#   DASHFLOW_UI_DIST        the DashFlow UI's built files, served at / by dashstream serve (optional)
#   DIST_DIR                where the built programs are  (dist; make run: dist/dev)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# DIST_DIR: where the programs are (dist/ of the release profile; make run
# passes dist/dev/, see the Makefile's PROFILE).
DIST_DIR=${DIST_DIR:-$ROOT/dist}
DIST_BIN=$DIST_DIR/bin
COLLECTOR_BIN=$DIST_DIR/otelcol-dashstream
RUN_DIR=$ROOT/dist/run

export DASHSTREAM_KAFKA_ADDR=${DASHSTREAM_KAFKA_ADDR:-127.0.0.1:9092}
export OTLP_GRPC_ENDPOINT=${OTLP_GRPC_ENDPOINT:-127.0.0.1:4317}
export OTLP_HTTP_ENDPOINT=${OTLP_HTTP_ENDPOINT:-127.0.0.1:4318}
export OTELCOL_METRICS_PORT=${OTELCOL_METRICS_PORT:-8888}
export DASHSTREAM_BROKERS=$DASHSTREAM_KAFKA_ADDR
export DASHSTREAM_QUEUE_DIR=${DASHSTREAM_QUEUE_DIR:-$RUN_DIR/queue}
COLLECTOR_CONFIG=${COLLECTOR_CONFIG:-$ROOT/examples/collector.yaml}
STARTUP_TIMEOUT=${STARTUP_TIMEOUT:-60}
export SERVE_ADDR=${SERVE_ADDR:-127.0.0.1:8080}

STACK_PIDS=()

log() { printf '==> %s\n' "$*" >&2; }

die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

# require_built fails early with the make target that builds what is missing.
require_built() {
	local f
	for f in "$COLLECTOR_BIN" "$DIST_BIN/devkafka" "$DIST_BIN/dashstream" "$@"; do
		[[ -x $f ]] || die "$f is missing: run 'make programs' (PROFILE=dev for dist/dev/), or 'make run'"
	done
}

# port_open HOST:PORT succeeds when something accepts connections there.
port_open() {
	local host=${1%:*} port=${1##*:}
	(exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}

# require_free HOST:PORT VAR fails when the port is taken (an earlier run
# still going, or another service), naming the variable that moves it.
require_free() {
	if port_open "$1"; then
		die "$1 is already in use; stop what listens there or set $2 to another address"
	fi
}

# wait_port NAME PID HOST:PORT LOG: poll until the port accepts connections,
# failing when the process dies or STARTUP_TIMEOUT passes.
wait_port() {
	local name=$1 pid=$2 addr=$3 logf=$4
	local deadline=$((SECONDS + STARTUP_TIMEOUT))
	until port_open "$addr"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 30 "$logf" >&2 || true
			die "$name exited before listening on $addr (log: $logf)"
		fi
		if ((SECONDS >= deadline)); then
			tail -n 30 "$logf" >&2 || true
			die "$name did not listen on $addr within ${STARTUP_TIMEOUT}s (log: $logf)"
		fi
		sleep 0.2
	done
}

# stop_stack ends the processes started here, newest first, and waits for
# them (the collector flushes its queue to file storage on the way out).
stop_stack() {
	local i pid
	for ((i = ${#STACK_PIDS[@]} - 1; i >= 0; i--)); do
		pid=${STACK_PIDS[i]}
		if kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
		fi
	done
	STACK_PIDS=()
}

# start_stack starts the dev Kafka and the collector, logs in $RUN_DIR.
start_stack() {
	mkdir -p "$RUN_DIR"
	require_free "$DASHSTREAM_KAFKA_ADDR" DASHSTREAM_KAFKA_ADDR
	require_free "$OTLP_GRPC_ENDPOINT" OTLP_GRPC_ENDPOINT
	require_free "$OTLP_HTTP_ENDPOINT" OTLP_HTTP_ENDPOINT
	require_free "127.0.0.1:$OTELCOL_METRICS_PORT" OTELCOL_METRICS_PORT

	log "starting dev Kafka on $DASHSTREAM_KAFKA_ADDR (log: dist/run/devkafka.log)"
	"$DIST_BIN/devkafka" -listen "$DASHSTREAM_KAFKA_ADDR" >"$RUN_DIR/devkafka.log" 2>&1 &
	STACK_PIDS+=($!)
	wait_port devkafka "$!" "$DASHSTREAM_KAFKA_ADDR" "$RUN_DIR/devkafka.log"

	start_collector collector "$OTLP_GRPC_ENDPOINT" "$OTLP_HTTP_ENDPOINT" "$OTELCOL_METRICS_PORT" "$DASHSTREAM_QUEUE_DIR"
}

# start_collector NAME GRPC HTTP METRICS_PORT QUEUE_DIR starts one more
# otelcol-dashstream instance with $COLLECTOR_CONFIG (the scale-out check of
# scripts/e2e.sh runs two), logging to $RUN_DIR/NAME.log.
start_collector() {
	local name=$1 grpc=$2 http=$3 metrics=$4 queue=$5
	if [[ $name != collector ]]; then
		require_free "$grpc" "the gRPC address of $name"
		require_free "$http" "the HTTP address of $name"
		require_free "127.0.0.1:$metrics" "the metrics port of $name"
	fi
	log "starting otelcol-dashstream ($name): OTLP gRPC $grpc, HTTP $http (log: dist/run/$name.log)"
	OTLP_GRPC_ENDPOINT=$grpc OTLP_HTTP_ENDPOINT=$http OTELCOL_METRICS_PORT=$metrics DASHSTREAM_QUEUE_DIR=$queue \
		"$COLLECTOR_BIN" --config "$COLLECTOR_CONFIG" >"$RUN_DIR/$name.log" 2>&1 &
	STACK_PIDS+=($!)
	wait_port "$name" "$!" "$grpc" "$RUN_DIR/$name.log"
	wait_port "$name" "$!" "$http" "$RUN_DIR/$name.log"
}

# start_serve starts `dashstream serve` on $SERVE_ADDR (the live view, and
# the DashFlow UI's relay; the UI itself at / when $DASHFLOW_UI_DIST is set),
# logging to $RUN_DIR/serve.log.
start_serve() {
	require_free "$SERVE_ADDR" SERVE_ADDR
	local ui=()
	if [[ -n ${DASHFLOW_UI_DIST:-} ]]; then
		ui=(--ui-dir "$DASHFLOW_UI_DIST")
	fi
	log "starting dashstream serve on http://$SERVE_ADDR/live/ (log: dist/run/serve.log)"
	"$DIST_BIN/dashstream" serve --brokers "$DASHSTREAM_KAFKA_ADDR" --listen "$SERVE_ADDR" "${ui[@]}" \
		>"$RUN_DIR/serve.log" 2>&1 &
	STACK_PIDS+=($!)
	wait_port serve "$!" "$SERVE_ADDR" "$RUN_DIR/serve.log"
}
