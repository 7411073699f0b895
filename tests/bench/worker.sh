#!/bin/bash
# worker.sh: no-op jobs/s through WORKERS real canopy-worker processes (leases,
# slots, one synced group commit per loop turn, Results, acks) fed by a fake
# in-process coordinator (bench_worker: no durable queue, so this is the worker
# side's ceiling), against beanstalkd with a binlog and 2 consumers (bench_beanstalk).
# Prints both rates and the ratio for each round, then the best of each.
# Usage: CN_BIN=build-dir [N=200000 WORKERS=2 SLOTS=256 ROUNDS=2] worker.sh
set -euo pipefail
BIN=${CN_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/build}
N=${N:-200000}
WORKERS=${WORKERS:-2}
SLOTS=${SLOTS:-256}
ROUNDS=${ROUNDS:-2}
PORT=${PORT:-$((20000 + RANDOM % 20000))}
find_bench() { local b=$BIN/tests/$1; [ -x "$b" ] || b=$BIN/$1; [ -x "$b" ] || { echo "worker.sh: no $1 under $BIN" >&2; exit 1; }; echo "$b"; }
BW=$(find_bench bench_worker)
BB=$(find_bench bench_beanstalk)
[ -x "$BIN/canopy-worker" ] || { echo "worker.sh: no canopy-worker under $BIN" >&2; exit 1; }
command -v beanstalkd >/dev/null || { echo "worker.sh: no beanstalkd (apt-get install beanstalkd)" >&2; exit 1; }
tmp=$(mktemp -d /tmp/cnbw.XXXXXX)
bs_pid=
cleanup() { [ -n "$bs_pid" ] && kill "$bs_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

rate() { sed -n 's/.*: \([0-9]*\) jobs\/s.*/\1/p'; }
best_ours=0
best_peer=0
echo "worker.sh: $N no-op jobs; canopy: $WORKERS workers x $SLOTS slots; beanstalkd: binlog, 2 consumers"
for round in $(seq "$ROUNDS"); do
    mkdir -p "$tmp/w$round"
    ours=$("$BW" "$BIN" "$tmp/w$round" "$N" "$WORKERS" "$SLOTS" | rate)
    rm -rf "$tmp/w$round"
    mkdir -p "$tmp/b$round"
    beanstalkd -l 127.0.0.1 -p "$PORT" -b "$tmp/b$round" &
    bs_pid=$!
    peer=$("$BB" "$PORT" "$N" 2 | rate)
    kill "$bs_pid"
    wait "$bs_pid" 2>/dev/null || true
    bs_pid=
    rm -rf "$tmp/b$round"
    ratio=$(awk -v a="$ours" -v b="$peer" 'BEGIN { printf "%.2f", a / b }')
    echo "round $round: canopy-worker $ours jobs/s, beanstalkd $peer jobs/s, ratio $ratio"
    [ "$ours" -gt "$best_ours" ] && best_ours=$ours
    [ "$peer" -gt "$best_peer" ] && best_peer=$peer
done
ratio=$(awk -v a="$best_ours" -v b="$best_peer" 'BEGIN { printf "%.2f", a / b }')
echo "best: canopy-worker $best_ours jobs/s, beanstalkd $best_peer jobs/s, ratio $ratio (cluster goal >= 50,000 jobs/s)"
