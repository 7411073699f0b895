#!/bin/bash
# merge.sh: the merge against its floor, in the same run: writes SHARDS shards
# of about 4*JOBS*COMMITS records each (download-like records, overlapping
# projects; bench_merge gen), reads them all sequentially (the floor), merges
# them into a fresh merged store and prints both rates and the ratio.
# Goals: >= 1,000,000 records/s and merge time <= 2x the sequential read.
# Then the second merge's cost: a copy of shard w0 gets AGAIN new jobs (100
# commits each) and is merged again (records read and time; it reads only what
# is new when the shard has a change feed).
# Usage: CN_BIN=build-dir [SHARDS=4 JOBS=100 COMMITS=5000 AGAIN=10 WORK=dir] merge.sh
# (WORK keeps the generated shards for the next run.)
set -euo pipefail
BIN=${CN_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/build}
SHARDS=${SHARDS:-4}
JOBS=${JOBS:-100}
COMMITS=${COMMITS:-5000}
BENCH=$BIN/tests/bench_merge
[ -x "$BENCH" ] || BENCH=$BIN/bench_merge
[ -x "$BENCH" ] || { echo "merge.sh: no bench_merge under $BIN (set CN_BIN to a build dir)" >&2; exit 1; }
if [ -n "${WORK:-}" ]; then
    mkdir -p "$WORK"
else
    WORK=$(mktemp -d)
    trap 'rm -rf "$WORK"' EXIT
fi
key="$SHARDS-$JOBS-$COMMITS"
if [ "$(cat "$WORK/shards.key" 2>/dev/null)" != "$key" ]; then
    rm -rf "$WORK/shards"
    for k in $(seq 0 $((SHARDS - 1))); do
        echo "merge.sh: writing shard w$k ($JOBS jobs of $COMMITS commits, ~$((4 * JOBS * COMMITS)) records)"
        "$BENCH" gen "$WORK/shards/w$k" "$k" "$JOBS" "$COMMITS" 2>/dev/null
    done
    echo "$key" >"$WORK/shards.key"
fi
rm -rf "$WORK/data"
"$BENCH" run "$WORK/data" "$WORK"/shards/w* 2>/dev/null
if [ "${AGAIN:-10}" -gt 0 ]; then
    rm -rf "$WORK/again" "$WORK/data2"
    mkdir -p "$WORK/again" && cp -r "$WORK/shards/w0" "$WORK/again/w0"
    others=$(ls -d "$WORK"/shards/w* | grep -v '/w0$' || true)
    # shellcheck disable=SC2086
    "$BENCH" again "$WORK/data2" "${AGAIN:-10}" "$WORK/again/w0" $others 2>/dev/null
    rm -rf "$WORK/again" "$WORK/data2"
fi
