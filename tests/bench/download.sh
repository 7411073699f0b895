#!/usr/bin/env bash
# download.sh [REPO]: the download benchmark. Without REPO, generates a repository
# (tests/bench/gen_repo.py, 30,000 commits; CN_BENCH_COMMITS to change). Runs our
# download core (bench_download) and, on the same repository in the same run, the
# peers: `git log --branches --tags --raw --no-renames` (commits + changed paths of
# the same refs we download: pull-request refs are left out) and
# `git cat-file --batch-all-objects --batch` (contents). Prints rates and ratios.
# Goals: commits+paths >= 1.0x git log --raw; contents >= 0.8x cat-file;
# shard <= 1.2x pack; re-download with no change < 100 ms.
set -euo pipefail
: "${CN_BIN:=$(cd "$(dirname "$0")/../.." && pwd)/build}"
SRC=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d /tmp/cnbench.XXXXXX)
trap 'rm -rf "$W"' EXIT
REPO=${1:-}
if [ -z "$REPO" ]; then
  REPO="$W/repo.git"
  echo "generating a repository with ${CN_BENCH_COMMITS:-30000} commits..." >&2
  python3 "$SRC/gen_repo.py" "$REPO" "${CN_BENCH_COMMITS:-30000}" 1500
fi
# What a download takes is the branches and tags: the peers and the pack size
# are measured on a bare clone of exactly those (a mirror with pull-request refs
# would give a pack of other objects too).
SRC_REPO=$(cd "$REPO" && pwd)
REPO="$W/clean.git"
git init -q --bare "$REPO"
git -C "$REPO" fetch -q --no-tags "$SRC_REPO" '+refs/heads/*:refs/heads/*' '+refs/tags/*:refs/tags/*'
GITDIR="$REPO"
ms() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000000 )); }
# Warm the page cache once, then time the peers.
git -C "$REPO" cat-file --batch-all-objects --batch >/dev/null
log_ms=$(ms git -C "$REPO" log --branches --tags --raw --no-renames --no-abbrev)
cat_ms=$(ms git -C "$REPO" cat-file --batch-all-objects --batch)
cat_bytes=$(git -C "$REPO" cat-file --batch-all-objects --batch | wc -c)
blob_bytes=$(git -C "$REPO" cat-file --batch-all-objects --batch-check='%(objecttype) %(objectsize)' |
  awk '$1 == "blob" { s += $2 } END { print s + 0 }')
pack_bytes=$(du -cb "$GITDIR"/objects/pack/*.pack | tail -1 | cut -f1)
BENCH="$CN_BIN/tests/bench_download"
[ -x "$BENCH" ] || BENCH="$CN_BIN/bench_download"
"$BENCH" "$REPO" "$W" >"$W/ours"
# shellcheck disable=SC1090
. "$W/ours"
awk -v c="$commits" -v ch="$changes" -v cb="$content_bytes" -v meta="$meta_ms" -v full="$full_ms" \
    -v nc="$nochange_ms" -v lg="$log_ms" -v cat="$cat_ms" -v catb="$cat_bytes" -v blobb="$blob_bytes" \
    -v shard="$shard_bytes" -v pack="$pack_bytes" -v clone="$clone_ms" -v repo="$SRC_REPO" \
    -v ncont="$contents" -v ndelta="$contents_delta" -v nbase="$base_reads" 'BEGIN {
  if (meta < 1) meta = 1; if (lg < 1) lg = 1; if (cat < 1) cat = 1
  cont = full - meta; if (cont < 1) cont = 1
  printf "repository: %s, branches and tags (%d commits, %d changed paths, %.1f MB of file contents stored; clone %d ms)\n", repo, c, ch, cb / 1e6, clone
  printf "%-34s %14s %14s %8s %s\n", "measure", "canopy", "peer", "ratio", "goal"
  printf "%-34s %12.0f/s %12.0f/s %7.2fx %s\n", "commits (with changed paths)", c / (meta / 1000), c / (lg / 1000), lg / meta, ">= 1.0 (git log --raw)"
  printf "%-34s %12.0f/s %12.0f/s %7.2fx\n", "changed paths", ch / (meta / 1000), ch / (lg / 1000), lg / meta
  printf "%-34s %10.1f MB/s %10.1f MB/s %7.2fx %s\n", "contents", cb / 1e6 / (cont / 1000), catb / 1e6 / (cat / 1000), (cb / cont) / (catb / cat), ">= 0.8 (cat-file --batch, all objects)"
  printf "%-34s %11.1f MB %11.1f MB %7.2fx %s\n", "store size (shard vs pack)", shard / 1e6, pack / 1e6, shard / pack, "<= 1.2"
  printf "%-34s %12d ms %14s %8s %s\n", "re-download, no change", nc, "-", "", "< 100 ms"
  printf "contents: %d stored, %d of them as deltas against the previous version of their path (%d bases read from git again)\n", ncont, ndelta, nbase
  printf "times: canopy commits+paths %d ms, full %d ms (contents %d ms); git log %d ms, cat-file %d ms (%.1f MB, blobs %.1f MB)\n", meta, full, cont, lg, cat, catb / 1e6, blobb / 1e6
}'
