#!/usr/bin/env bash
# dispatch.sh: durable no-op jobs/s from submit to succeeded through canopy
# (coordinator + 2 canopy-workers) next to beanstalkd doing the same work (put,
# reserve, delete; 2 consumers; binlog) in the same run; prints both rates and
# the ratio, the submit-to-lease latency on an idle cluster (p50/p99), and the
# coordinator's peak RSS after JOBS jobs.
# Usage: tests/bench/dispatch.sh [BUILD_DIR]   (env: JOBS=1000000 SLOTS=512 SAMPLES=1000)
set -euo pipefail
B=${1:-${CN_BIN:?give the build directory or set CN_BIN}}
JOBS=${JOBS:-1000000}
SLOTS=${SLOTS:-512}
SAMPLES=${SAMPLES:-1000}
BENCH="$B/tests/bench_dispatch"
[ -x "$BENCH" ] || BENCH="$B/bench_dispatch"
[ -x /usr/bin/beanstalkd ] || { echo "beanstalkd is not installed (apt-get install beanstalkd)"; exit 1; }
T=$(mktemp -d /tmp/cnd.XXXXXX)
trap 'rm -rf "$T"' EXIT
PORT=$((20000 + $$ % 20000))

echo "# dispatch benchmark: $JOBS no-op jobs, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
canopy=$("$BENCH" canopy "$B" "$T/canopy" "$JOBS" 2 "$SLOTS" 2>"$T/canopy.log")
echo "$canopy"
beans=$("$BENCH" beanstalk "$T/beanstalkd" "$JOBS" 2 "$PORT" 2>"$T/beanstalkd.log")
echo "$beans"
rc=$(echo "$canopy" | awk '/jobs\/s$/ {print $(NF-1)}')
rb=$(echo "$beans" | awk '/jobs\/s$/ {print $(NF-1)}')
awk -v c="$rc" -v b="$rb" 'BEGIN { printf "ratio canopy/beanstalkd: %.2fx (goal >= 2x, >= 50000 jobs/s)\n", c / b }'
# For reference: beanstalkd made as durable as canopy (an fsync per write; canopy
# acknowledges a submit only after its group commit is synced).
"$BENCH" beanstalk "$T/beanstalkd-f0" 2000 2 $((PORT + 1)) fsync 2>"$T/beanstalkd-f0.log" || true
"$BENCH" latency "$B" "$T/latency" "$SAMPLES" 2>"$T/latency.log"
echo "(goals: p50 < 1 ms; coordinator RSS flat and < 200 MiB)"
