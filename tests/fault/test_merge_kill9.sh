#!/usr/bin/env bash
# test_merge_kill9.sh: a `canopy merge` killed with kill -9 leaves the merged
# store exactly as it was before (same record counts and content hash), at each
# phase (paused there by CN_MERGE_PAUSE, so the kill lands inside the merge) and
# at random moments; the next merge completes with the same content as an
# uninterrupted merge of the same shards, and a merge after that is empty.
# Shards are written by bench_merge gen the way the download job writes them.
set -euo pipefail
BIN=${CN_BIN:?set CN_BIN to the build directory}
CANOPY=$BIN/canopy
GEN=$BIN/tests/bench_merge
[ -x "$GEN" ] || GEN=$BIN/bench_merge
[ -x "$GEN" ] || { echo "no bench_merge under $BIN (build it: cmake --build $BIN --target bench_merge)" >&2; exit 1; }
tmp=$(mktemp -d)
pid=""
cleanup() {
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

D=$tmp/data
cn() { "$CANOPY" --data "$D" "$@"; }
digest() { "$CANOPY" --data "$1" merge --digest --json; }

"$GEN" gen "$D/shards/w0" 0 4 800 2>/dev/null
"$GEN" gen "$D/shards/w1" 1 4 800 2>/dev/null
cn merge --json >/dev/null
before=$(digest "$D")
echo "before: $before"

# New data since the first merge: a third shard, and the reference result of
# merging all three without interruption (in another data directory).
"$GEN" gen "$D/shards/w2" 2 4 800 2>/dev/null
"$CANOPY" --data "$tmp/ref" merge --shard "$D/shards/w0" --shard "$D/shards/w1" --shard "$D/shards/w2" >/dev/null
after=$(digest "$tmp/ref")
[ "$after" != "$before" ] || fail "the third shard changed nothing"

# A kill -9 inside each phase of the merge.
for point in copied ingested written closed; do
    CN_MERGE_PAUSE=$point "$CANOPY" --data "$D" merge 2>"$tmp/err" >/dev/null &
    pid=$!
    for _ in $(seq 300); do
        grep -q "paused at $point" "$tmp/err" && break
        kill -0 "$pid" 2>/dev/null || fail "merge ended before reaching $point: $(cat "$tmp/err")"
        sleep 0.1
    done
    grep -q "paused at $point" "$tmp/err" || fail "merge never reached $point"
    kill -9 "$pid"
    wait "$pid" 2>/dev/null || true
    pid=""
    now=$(digest "$D")
    [ "$now" = "$before" ] || fail "kill -9 at $point changed the merged store: $now"
    echo "kill -9 at $point: merged store unchanged"
done

# kill -9 at random moments: the store is either the old one or the new one.
for delay in 0.2 0.7; do
    "$CANOPY" --data "$D" merge >/dev/null 2>&1 &
    pid=$!
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
    now=$(digest "$D")
    if [ "$now" = "$after" ]; then
        echo "kill -9 after ${delay}s: the merge had finished"
        break
    fi
    [ "$now" = "$before" ] || fail "kill -9 after ${delay}s left a third state: $now"
    echo "kill -9 after ${delay}s: merged store unchanged"
done

# The next merge completes, with the same content as the uninterrupted one.
cn merge --json >"$tmp/final.json"
now=$(digest "$D")
[ "$now" = "$after" ] || fail "after the interrupted merges: $now, uninterrupted: $after"
# Nothing is left of the killed merges: one generation.
gens=$(find "$D/merged" -maxdepth 1 -name 'gen-*' | wc -l)
[ "$gens" -eq 1 ] || fail "$gens generations left in $D/merged"
# And merging again changes nothing.
cn merge --json >"$tmp/again.json"
grep -q '"new":[1-9]' "$tmp/again.json" && fail "a second merge wrote records: $(cat "$tmp/again.json")"
[ "$(digest "$D")" = "$after" ] || fail "a second merge changed the store"
echo "PASS"
