# demo.d/90-merge.sh: part of deploy/demo.sh (sourced), the last step: folds
# every worker's shard into the merged store with `canopy merge` while the
# cluster runs, schedules a merge as a job too, merges again (unchanged shards
# are skipped, nothing new is written), and queries the merged store.
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
cn query projects || true
cn query scan || true
echo "merge: $(cn --json merge --digest | sed -n 's/.*"total":\([0-9]*\).*/\1/p') records in $DATA/merged/ (first merge $((t1 - t0)) ms)" >>"$SUMMARY"
