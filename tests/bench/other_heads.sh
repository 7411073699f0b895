#!/bin/bash
# other_heads.sh: the first step of a download, finding the project's newest
# heads in the other workers' shards, with OTHERS shards whose writers are live
# and hold RECORDS un-flushed records each in their WAL: opening every shard
# read-only per lookup (the way before download_heads.c) against the secondaries
# kept open and caught up (cn_download_other_heads). Prints the median and worst
# lookup of each and the ratio. Goal: a re-download with no change < 100 ms.
# Usage: CN_BIN=build-dir [OTHERS=3 RECORDS=50000 ROUNDS=20] other_heads.sh
set -euo pipefail
BIN=${CN_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/build}
BENCH=$BIN/tests/bench_other_heads
[ -x "$BENCH" ] || BENCH=$BIN/bench_other_heads
[ -x "$BENCH" ] || { echo "other_heads.sh: no bench_other_heads under $BIN (set CN_BIN)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "other_heads.sh: load before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
"$BENCH" "$tmp" "${OTHERS:-3}" "${RECORDS:-50000}" "${ROUNDS:-20}" 2>"$tmp/log"
