#!/usr/bin/env bash
# test_merge_cluster: the merge on a running local cluster. Real download and
# scan jobs on 2 workers; `canopy merge` runs while workers are still writing
# (shards read read-only); every committed job is merged once (the report's job
# counts match the jobs that succeeded), the commits of the repository are all
# there, a second merge writes nothing, the `merge` job kind scheduled through
# the coordinator succeeds with the report as its summary, and the final merged
# store equals a fresh merge of the same shards into another directory.
source "$(dirname "$0")/cluster_lib.sh"
command -v git >/dev/null || { echo "SKIP: git is needed"; exit 77; }
export GIT_AUTHOR_NAME=Ann GIT_AUTHOR_EMAIL=ann@example.org GIT_COMMITTER_NAME=Bob \
  GIT_COMMITTER_EMAIL=bob@example.org GIT_CONFIG_NOSYSTEM=1 HOME="$T"
S="$T/src"
git init -q "$S"
(cd "$S" && for i in 1 2 3; do echo "$i" >"f$i"; git add -A; git commit -qm "c$i"; done)
mkdir -p "$T/tree/a/b" && echo x >"$T/tree/a/b/f" && echo y >"$T/tree/g"

up 2 2
cn submit download "$S" --wait --wait-timeout 60s >/dev/null || fail "download"
cn submit scan "$T/tree" --space s1 --wait >/dev/null || fail "scan"
(cd "$S" && echo 4 >f4 && git add -A && git commit -qm c4)

# Jobs still running while merges read the shards.
cn submit download "$S" >/dev/null
(for i in $(seq 1 20); do cn submit scan "$T/tree" --space "s$i" >/dev/null; done) &
submitter=$!
for i in 1 2 3; do
  cn --json merge >"$T/m$i.json" || fail "merge $i during writes"
done
wait "$submitter" || fail "submitting scans"
jq -e '.records.commits.new >= 3' "$T/m1.json" >/dev/null || fail "first merge: $(cat "$T/m1.json")"
wait_final 60 || fail "jobs did not finish"
cn --json merge >"$T/m4.json" || fail "merge"
merged=$(jq '[.jobs[]] | add' "$T"/m[1-4].json | jq -s 'add')
ok=$(jobs_json | jq '[.[] | select(.state == "succeeded" and (.kind == "scan" or .kind == "download"))] | length')
[ "$merged" = "$ok" ] || fail "merged $merged jobs, $ok succeeded: $(cat "$T"/m[1-4].json)"
jq -e '.problems | length == 0' "$T/m4.json" >/dev/null || fail "problems: $(cat "$T/m4.json")"
log "merged $merged jobs in four merges (three while jobs ran): $(jq -c .jobs "$T"/m[1-4].json | tr '\n' ' ')"

d=$(cn --json merge --digest)
echo "$d" | jq -e --argjson n "$(git -C "$S" rev-list --all | wc -l)" '.records.commits == $n' >/dev/null ||
  fail "commits in the merged store: $d"
echo "$d" | jq -e '.records.projects == 1 and .records.heads == 2' >/dev/null || fail "one project, two heads: $d"
scans=$(jobs_json | jq '[.[] | select(.state == "succeeded" and .kind == "scan")] | length')
echo "$d" | jq -e --argjson n "$scans" '.records.journal == 2 * $n' >/dev/null || fail "journal: $d"

cn --json merge >"$T/again.json"
jq -e '[.records[] | .new] | add == 0' "$T/again.json" >/dev/null || fail "a second merge wrote: $(cat "$T/again.json")"
[ "$(cn --json merge --digest)" = "$d" ] || fail "a second merge changed the store"

# The merge as a job: scheduled by the coordinator, run by a worker.
id=$(cn submit merge --wait --wait-timeout 60s) || fail "merge job: $(cn --json job "$(cn --json jobs | jq '.[-1].id')")"
cn --json job "$id" | jq -e '.summary.records.jobs.new >= 0 and .summary.generation >= 1' >/dev/null ||
  fail "merge job summary: $(cn --json job "$id")"
cn --json merge >/dev/null
final=$(cn --json merge --digest | jq -c 'del(.hash)')

# A fresh merge of the same shards elsewhere holds as many records of each
# family (journal ids may differ: incremental merges number entries in the
# order they were merged).
args=()
for s in "$D"/shards/*; do args+=(--shard "$s"); done
"$CANOPY" --data "$T/fresh" merge "${args[@]}" >/dev/null || fail "fresh merge"
fresh=$("$CANOPY" --data "$T/fresh" --json merge --digest | jq -c 'del(.hash)')
[ "$final" = "$fresh" ] || fail "incremental [$final] and fresh [$fresh] differ"
log "merged store: $final"
log "PASS"
