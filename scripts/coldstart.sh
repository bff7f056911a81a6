#!/usr/bin/env bash
# scripts/coldstart.sh [REF]: time a newcomer's first `RUN_STAY=0 make run`
# from `git clone` of this repository at REF (default HEAD), with empty Go
# caches (GOMODCACHE, GOCACHE in a new temporary directory) and no dist/, then
# two warm runs (after a code edit of exporter.go, and with nothing changed).
# Each phase prints wall and CPU time (user + sys) and the load average, so
# runs on a shared machine can be compared; the figures in README.md ("How
# long it takes") come from it. COLDSTART_PROFILE=release times `make run`
# with the release build profile instead of make run's own (dev). A REF
# from before the committed collector sources is timed phase by phase the
# old way (make collector, then make cli devkafka demo). Ports:
# COLDSTART_PORT_PREFIX (default 37) + two digits.
set -uo pipefail
profile=${COLDSTART_PROFILE:-dev}
repo=$(cd "$(dirname "$0")/.." && pwd)
ref=${1:-HEAD}
p=${COLDSTART_PORT_PREFIX:-37}
base=$(mktemp -d)
export GOMODCACHE=$base/modcache GOCACHE=$base/gocache GOFLAGS=-buildvcs=false
export DASHSTREAM_KAFKA_ADDR=127.0.0.1:${p}092 OTLP_GRPC_ENDPOINT=127.0.0.1:${p}317 \
	OTLP_HTTP_ENDPOINT=127.0.0.1:${p}318 OTELCOL_METRICS_PORT=${p}888 SERVE_ADDR=127.0.0.1:${p}080
TIMEFORMAT='%R s wall, %U s user, %S s sys'
phase() {
	local name=$1
	shift
	echo "== $name (load $(cut -d' ' -f1-3 /proc/loadavg))"
	{ time "$@" >>"$base/out.log" 2>&1; } 2>&1
}
echo "== $ref in $base, start $(date -u +%T)"
phase "clone" git clone -q "$repo" "$base/x"
cd "$base/x" && git checkout -q "$ref" || exit 1
if [[ -d cmd/otelcol-dashstream ]]; then
	phase "build: make programs PROFILE=$profile (one go build, downloads included)" make programs PROFILE="$profile"
else
	phase "build: make collector (ocb)" make collector
	phase "build: make cli devkafka demo" make cli devkafka demo
fi
phase "run: RUN_STAY=0 make run" env RUN_STAY=0 RUN_PROFILE="$profile" make run
echo "== cold done $(date -u +%T)"
printf '\nfunc coldstartEdit() int { return 1 }\n' >>exporter.go
phase "warm, after a code edit: RUN_STAY=0 make run" env RUN_STAY=0 RUN_PROFILE="$profile" make run
phase "warm, nothing changed: RUN_STAY=0 make run" env RUN_STAY=0 RUN_PROFILE="$profile" make run
echo "== verified runs: $(grep -c 'no inconsistencies' "$base/out.log") of 3 (log: $base/out.log)"
