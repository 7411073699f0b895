#!/bin/bash
# shard.sh: shard append throughput against RocksDB's own db_bench fillseq with the
# same key and value sizes, in the same run, into temp dirs. Prints both rates
# (records/s) and the ratio for each round, then the ratio of the best rates.
# Goal: >= 0.8. Usage: CN_BIN=build-dir [N=2000000 K=32 V=200 ROUNDS=2] shard.sh
set -euo pipefail
BIN=${CN_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/build}
N=${N:-2000000}
K=${K:-32}
V=${V:-200}
ROUNDS=${ROUNDS:-2}
FAMILY=${FAMILY:-commits}
DB_BENCH=${DB_BENCH:-db_bench}
BENCH=$BIN/tests/bench_shard
[ -x "$BENCH" ] || BENCH=$BIN/bench_shard
[ -x "$BENCH" ] || { echo "shard.sh: no bench_shard under $BIN (set CN_BIN to a build dir)" >&2; exit 1; }
command -v "$DB_BENCH" >/dev/null || { echo "shard.sh: no db_bench (apt-get install rocksdb-tools)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

best_ours=0
best_peer=0
echo "shard.sh: $N records, ${K}-byte keys, ~${V}-byte values, synced batches of 1000 (family $FAMILY)"
for round in $(seq "$ROUNDS"); do
    ours=$("$BENCH" "$tmp/shard" "$N" "$K" "$V" "$FAMILY" 2>/dev/null |
        sed -n 's/.*: \([0-9]*\) records\/s.*/\1/p')
    rm -rf "$tmp/shard"
    # RocksDB's own fastest path: sequential keys, one put per write, WAL on, no sync;
    # LZ4 as the shard uses (db_bench defaults to Snappy).
    peer=$("$DB_BENCH" --benchmarks=fillseq --num="$N" --key_size="$K" --value_size="$V" \
        --compression_type=lz4 --db="$tmp/peer" 2>/dev/null | awk '/^fillseq/ {print $5}')
    rm -rf "$tmp/peer"
    ratio=$(awk -v a="$ours" -v b="$peer" 'BEGIN { printf "%.2f", a / b }')
    echo "round $round: shard $ours records/s, db_bench fillseq $peer records/s, ratio $ratio"
    [ "$ours" -gt "$best_ours" ] && best_ours=$ours
    [ "$peer" -gt "$best_peer" ] && best_peer=$peer
done
ratio=$(awk -v a="$best_ours" -v b="$best_peer" 'BEGIN { printf "%.2f", a / b }')
echo "best: shard $best_ours records/s, db_bench fillseq $best_peer records/s, ratio $ratio (goal >= 0.80)"
