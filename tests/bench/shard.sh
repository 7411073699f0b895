#!/bin/bash
# shard.sh: shard append throughput against RocksDB's own db_bench fillseq with the
# same key and value sizes, in the same run, into temp dirs. For each round it
# prints both rates (records/s of wall time) and their ratio, and the records per
# CPU-second of each (user+sys of all threads: steadier when the machine is
# shared). Then the median and best ratios. Goal: >= 0.8.
# Usage: CN_BIN=build-dir [N=2000000 K=32 V=200 ROUNDS=3 FAMILY=commits] shard.sh
set -euo pipefail
BIN=${CN_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/build}
N=${N:-2000000}
K=${K:-32}
V=${V:-200}
ROUNDS=${ROUNDS:-3}
FAMILY=${FAMILY:-commits}
DB_BENCH=${DB_BENCH:-db_bench}
BENCH=$BIN/tests/bench_shard
[ -x "$BENCH" ] || BENCH=$BIN/bench_shard
[ -x "$BENCH" ] || { echo "shard.sh: no bench_shard under $BIN (set CN_BIN to a build dir)" >&2; exit 1; }
command -v "$DB_BENCH" >/dev/null || { echo "shard.sh: no db_bench (apt-get install rocksdb-tools)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Runs a command, prints its output, and leaves its CPU seconds in $tmp/cpu.
timed() {
    /usr/bin/time -f "%U %S" -o "$tmp/time" "$@"
    awk '{ print $1 + $2 }' "$tmp/time" >"$tmp/cpu"
}

echo "shard.sh: $N records, ${K}-byte keys, ~${V}-byte values, synced batches of 1000 (family $FAMILY)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$tmp/ratios"
best_ours=0
best_peer=0
for round in $(seq "$ROUNDS"); do
    ours=$(timed "$BENCH" "$tmp/shard" "$N" "$K" "$V" "$FAMILY" 2>/dev/null |
        sed -n 's/.*: \([0-9]*\) records\/s.*/\1/p')
    ours_cpu=$(cat "$tmp/cpu")
    rm -rf "$tmp/shard"
    # RocksDB's own fastest path: sequential keys, one put per write, WAL on, no
    # sync; LZ4 as the shard uses (db_bench defaults to Snappy).
    peer=$(timed "$DB_BENCH" --benchmarks=fillseq --num="$N" --key_size="$K" --value_size="$V" \
        --compression_type=lz4 --db="$tmp/peer" 2>/dev/null | awk '/^fillseq/ {print $5}')
    peer_cpu=$(cat "$tmp/cpu")
    rm -rf "$tmp/peer"
    awk -v a="$ours" -v b="$peer" -v ac="$ours_cpu" -v bc="$peer_cpu" -v n="$N" -v r="$round" 'BEGIN {
        printf "round %d: shard %d records/s, db_bench fillseq %d records/s, ratio %.2f; ", r, a, b, a / b
        printf "per CPU-second: shard %.0f, db_bench %.0f, ratio %.2f\n", n / ac, n / bc, (n / ac) / (n / bc)
    }'
    awk -v a="$ours" -v b="$peer" 'BEGIN { printf "%.4f\n", a / b }' >>"$tmp/ratios"
    [ "$ours" -gt "$best_ours" ] && best_ours=$ours
    [ "$peer" -gt "$best_peer" ] && best_peer=$peer
done
median=$(sort -n "$tmp/ratios" | awk '{ v[NR] = $1 } END { printf "%.2f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
best=$(awk -v a="$best_ours" -v b="$best_peer" 'BEGIN { printf "%.2f", a / b }')
echo "median ratio $median; best rates: shard $best_ours, db_bench $best_peer records/s, ratio $best (goal >= 0.80)"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
