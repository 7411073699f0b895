#!/usr/bin/env bash
# test_download_kill9: a worker is killed with SIGKILL in the middle of a
# download (after it has stored part of the history, before its commit record).
# Proves: the killed attempt leaves nothing visible (no heads, no log entry of
# its lease), the job is leased again and succeeds exactly once, the second
# attempt reuses what the first stored (content-addressed records), every commit
# and the heads are right afterwards, and fsck finds the shards clean.
source "$(dirname "$0")/../integration/cluster_lib.sh"
command -v git >/dev/null || { echo "SKIP: git is needed"; exit 77; }
up 1 1
# Wait until the walk is under way, then kill the worker running it. Progress
# comes with the 1 s heartbeat: a build fast enough to walk the history between
# two heartbeats gets a repository four times bigger, once.
n=${CN_KILL_COMMITS:-8000}
for round in 1 2; do
  R="$T/src-$n.git"
  python3 "$CN_SRC/tests/bench/gen_repo.py" "$R" "$n" 200 >/dev/null || fail "gen_repo"
  total=$(git -C "$R" rev-list --all --count)
  id=$(cn submit download "$R" --max-attempts 5) || fail "submit"
  caught=false
  deadline=$(( $(date +%s) + 120 ))
  while :; do
    j=$(cn --json job "$id")
    [ "$(jq -r .state <<<"$j")" = succeeded ] && break
    if [ "$(jq -r .progress_unit <<<"$j")" = commits ] && [ "$(jq -r .progress_done <<<"$j")" -gt 600 ]; then
      caught=true
      break
    fi
    [ "$(date +%s)" -ge "$deadline" ] && fail "the download never got under way: $j"
    sleep 0.05
  done
  $caught && break
  log "the download of $n commits ended before it could be killed"
  [ "$round" = 1 ] && n=$(( n * 4 ))
done
$caught || fail "the download ended before it could be killed, even with $n commits"
pid=$(cn --json status | jq -r '.workers[0].pid')
kill -9 "$pid" || fail "kill $pid"
log "killed worker pid $pid at $(jq -r '"\(.progress_done)/\(.progress_total)"' <<<"$j") commits"
first_lease=$(jq -r .lease_seq <<<"$j")

wait_state "$id" succeeded 240
j=$(cn --json job "$id")
[ "$(jq -r .accepted_results <<<"$j")" -eq 1 ] || fail "accepted results: $j"
[ "$(jq -r .attempts <<<"$j")" -ge 2 ] || fail "the job was not run again: $j"
jq -e '.summary.commits_skipped > 0' <<<"$j" >/dev/null ||
  fail "the second attempt stored everything again: $(jq -c .summary <<<"$j")"
[ "$(jq -r .summary.commits_new <<<"$j")" -lt "$total" ] || fail "commits_new not less than $total"

P=$(cn --json query projects | jq -r --arg r "src-$n.git" '.[] | select(.url | endswith($r)) | .id')
[ -n "$P" ] || fail "no project for $R: $(cn --json query projects)"
# The killed lease left no log entry: exactly one, Ok, from the lease that succeeded.
cn --json query log "$P" | jq -e --argjson l "$first_lease" 'length == 1 and .[0].kind == "Ok" and .[0].lease_seq != $l' \
  >/dev/null || fail "log after the kill: $(cn --json query log "$P")"
[ "$(cn query commits "$P" | cut -d' ' -f1 | sort)" = "$(git -C "$R" rev-list --all | sort)" ] ||
  fail "stored commits differ from the repository's"
want=$(git -C "$R" for-each-ref --format='%(objectname) %(refname)' refs/heads refs/tags | sort)
[ "$(cn query heads "$P" | sort)" = "$want" ] || fail "heads differ"
f=$(git -C "$R" ls-tree -r --name-only master | sed -n 1p)  # sed reads it all: no SIGPIPE under pipefail
cn query file "$P" master "$f" | cmp - <(git -C "$R" cat-file blob "master:$f") || fail "file $f differs"

cn down --timeout 20s >/dev/null 2>&1 || fail "down"
cn fsck >"$T/fsck.out" 2>&1 || fail "fsck: $(cat "$T/fsck.out")"
log "ok"
