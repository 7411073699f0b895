#!/bin/bash
# scan.sh: the scan benchmark (DESIGN §5, §9) on the same inputs in one run:
#   walk   our parallel walker vs `find` (plain, and printing the stat fields we
#          record) on a warm ROOT (default /usr): entries/s and the ratio
#   build  our path tree vs `sort | zstd -3` and plocate-build / updatedb.plocate:
#          paths/s, bytes per path (names+tree; stat reported apart), peak RSS,
#          on ROOT's path list and on N (default 10,000,000) generated paths
#   query  --ls / --stat / --find latency (in-process, and as `canopy` processes)
#          against `plocate` for a name search
# Usage: CN_BIN=build-dir [ROOT=/usr N=10000000 NAME=ls ROUNDS=3] scan.sh
set -euo pipefail
BIN=${CN_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/build}
ROOT=${ROOT:-/usr}
N=${N:-10000000}
NAME=${NAME:-ls}
ROUNDS=${ROUNDS:-3}
BENCH=$BIN/tests/bench_scan
[ -x "$BENCH" ] || BENCH=$BIN/bench_scan
[ -x "$BENCH" ] || { echo "scan.sh: no bench_scan under $BIN (set CN_BIN to a build dir)" >&2; exit 1; }
for t in plocate plocate-build updatedb.plocate zstd find; do
  command -v "$t" >/dev/null || PATH=$PATH:/usr/sbin
  command -v "$t" >/dev/null || { echo "scan.sh: $t is missing (apt-get install plocate zstd)" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ms() { date +%s%3N; }
# best_ms CMD...: the best wall time of ROUNDS runs, output discarded
best_ms() {
  local best=999999999 i t0 t
  for i in $(seq "$ROUNDS"); do
    t0=$(ms); "$@" >/dev/null 2>&1; t=$(( $(ms) - t0 ))
    [ "$t" -lt "$best" ] && best=$t
  done
  echo "$best"
}
kv() { sed -n "s/.*[ ^]$1=\([^ ]*\).*/\1/p" <<<"$2"; }
rate() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.0f", n / (t > 0 ? t : 1) * 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
per() { awk -v a="$1" -v n="$2" 'BEGIN { printf "%.2f", a / n }'; }
rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }

echo "== walk: $ROOT (warm) =="
find "$ROOT" >/dev/null 2>&1 || true
find "$ROOT" >/dev/null 2>&1 || true
entries=$(find "$ROOT" 2>/dev/null | wc -l)
best_ours=0
for i in $(seq "$ROUNDS"); do
  out=$("$BENCH" walk "$ROOT" 4)
  r=$(kv entries_per_s "$out"); [ "${r%.*}" -gt "$best_ours" ] && best_ours=${r%.*}
done
t_find=$(best_ms find "$ROOT")
t_findst=$(best_ms find "$ROOT" -printf '%s %m %U %G %T@ %l\n')
r_find=$(rate "$entries" "$t_find"); r_findst=$(rate "$entries" "$t_findst")
echo "ours (4 threads, lstat+readlink every entry): $best_ours entries/s"
echo "find (names only, no stat):                   $r_find entries/s   ratio $(ratio "$best_ours" "$r_find")"
echo "find -printf size,mode,uid,gid,mtime,target:  $r_findst entries/s   ratio $(ratio "$best_ours" "$r_findst")"

build_table() { # LABEL LIST
  local label=$1 list=$2 n out t_sz sz t_pl pl rss_pl rss_sz
  n=$(wc -l <"$list")
  out=$("$BENCH" build "$list")
  t_sz=$(best_ms sh -c "LC_ALL=C sort '$list' | zstd -3 -q -c >'$tmp/sz'")
  sz=$(stat -c %s "$tmp/sz")
  rss_sz=$(rss sh -c "LC_ALL=C sort '$list' | zstd -3 -q -c >/dev/null")
  t_pl=$(best_ms plocate-build -p "$list" "$tmp/pl.db")
  pl=$(stat -c %s "$tmp/pl.db")
  rss_pl=$(rss plocate-build -p "$list" "$tmp/pl.db")
  echo "== build: $label ($n paths) =="
  printf '%-28s %12s %10s %12s %10s\n' "" "paths/s" "B/path" "stat B/path" "peak RSS"
  printf '%-28s %12s %10s %12s %9sK\n' "canopy path tree" "$(kv paths_per_s "$out")" \
    "$(kv names_tree_bytes_per_path "$out")" "$(per "$(kv stat_bytes "$out")" "$n")" "$(kv peak_rss_kb "$out")"
  printf '%-28s %12s %10s %12s %9sK\n' "sort | zstd -3" "$(rate "$n" "$t_sz")" "$(per "$sz" "$n")" "-" "$rss_sz"
  printf '%-28s %12s %10s %12s %9sK\n' "plocate-build -p" "$(rate "$n" "$t_pl")" "$(per "$pl" "$n")" "-" "$rss_pl"
  echo "ratios: build speed vs sort|zstd $(ratio "$(kv paths_per_s "$out")" "$(rate "$n" "$t_sz")"), vs plocate-build $(ratio "$(kv paths_per_s "$out")" "$(rate "$n" "$t_pl")"); size vs sort|zstd $(ratio "$(kv names_tree_bytes_per_path "$out")" "$(per "$sz" "$n")"), vs plocate $(ratio "$(kv names_tree_bytes_per_path "$out")" "$(per "$pl" "$n")")"
}

find "$ROOT" >"$tmp/root.txt" 2>/dev/null || true
build_table "$ROOT" "$tmp/root.txt"
t_up=$(best_ms updatedb.plocate -U "$ROOT" -o "$tmp/up.db" --require-visibility no)
echo "updatedb.plocate -U $ROOT (walk + build): $(rate "$entries" "$t_up") paths/s, $(per "$(stat -c %s "$tmp/up.db")" "$entries") B/path"
"$BENCH" gen "$N" >"$tmp/gen.txt"
build_table "generated" "$tmp/gen.txt"
rm -f "$tmp/gen.txt"

echo "== query: scan of $ROOT stored in a shard =="
out=$("$BENCH" scan "$ROOT" "$tmp/data" bench "$NAME" 2>/dev/null)
echo "scan job pipeline: walk $(kv walk_s "$out") s, build $(kv build_s "$out") s, store $(kv store_s "$out") s;" \
  "names+tree $(kv names_tree_bytes_per_path "$out") B/path, stat $(kv stat_bytes_per_path "$out") B/path"
echo "in-process: --ls median $(kv ls_median_us "$out") us (p99 $(kv ls_p99_us "$out")), --stat median" \
  "$(kv stat_median_us "$out") us (p99 $(kv stat_p99_us "$out")), --find $NAME $(kv find_ms "$out") ms"
CANOPY=$BIN/canopy
lsdir=$(dirname "$(command -v "$NAME" || echo "$ROOT/bin/x")")
t_ls=$(best_ms "$CANOPY" --data "$tmp/data" query scan bench --ls "$lsdir")
t_st=$(best_ms "$CANOPY" --data "$tmp/data" query scan bench --stat "$lsdir/$NAME")
t_fd=$(best_ms "$CANOPY" --data "$tmp/data" query scan bench --find "$NAME")
t_pl=$(best_ms plocate -d "$tmp/up.db" -b "$NAME")
echo "as processes: canopy --ls $t_ls ms, --stat $t_st ms, --find $NAME $t_fd ms; plocate -b $NAME $t_pl ms" \
  "(ratio find/plocate $(ratio "$t_fd" "$t_pl"))"
