# shellcheck shell=bash
# demo.d/90-merge.sh: part of deploy/demo.sh (sourced), the last step: folds
# every worker's shard into the merged store with `canopy merge` while the
# cluster runs, schedules a merge as a job too, merges again (unchanged shards
# are skipped, nothing new is written), and queries the merged store: the
# projects and scans of the steps before, each scan listed with the store that
# answered it ("merged").
step "merge: canopy merge (every shard into $DATA/merged/)"
t0=$(date +%s%3N)
cn merge
t1=$(date +%s%3N)

step "merge: a merge job scheduled by the coordinator (serial key 'merge')"
cn submit merge --wait >/dev/null
cn merge

step "merge: the merged store (record counts per family, content hash)"
cn merge --digest
step "merge: queries of the merged store"
cn query projects
cn query scan
if [ -n "${R:-}" ]; then cn query log "$R"; fi
n_proj=$(cn --json query projects | jq length)
scans=$(cn --json query scan)
n_scans=$(jq length <<<"$scans")
n_merged=$(jq '[.[] | select(.shard == "merged")] | length' <<<"$scans")
echo "merge: $(cn --json merge --digest | sed -n 's/.*"total":\([0-9]*\).*/\1/p') records in $DATA/merged/ (first merge $((t1 - t0)) ms); queries: $n_proj projects, $n_scans scans ($n_merged answered by the merged store)" >>"$SUMMARY"
