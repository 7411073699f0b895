#!/bin/bash
# test_job_progress_bytes: byte progress travels from a running job to the CLI in
# a real cluster. A sleep job with --bytes reports bytes through
# cn_job_progress_bytes; while it runs, `canopy job --json`, `jobs --json` and
# `status --json` show progress_bytes_done/total, the text forms print
# "N/M ms, X MB of 300.0 MB", and `canopy watch` (events) carries the bytes. A job
# that reports no bytes shows none.
source "$(dirname "$0")/cluster_lib.sh"
up 1 2

# Event watchers first, so they see the job's progress events.
cn --json watch --for 20s --interval 1s >"$T/watch.json" 2>"$T/watch.json.err" &
wj=$!
cn watch --for 20s --interval 1s >"$T/watch.txt" 2>"$T/watch.txt.err" &
wt=$!
sleep 0.5

a=$(cn submit sleep 8000 --bytes 300000000) || fail "submit with --bytes"
b=$(cn submit sleep 8000) || fail "submit without bytes"

# 1. While it runs, the job shows bytes done (growing) of the known total.
deadline=$(( $(date +%s) + 15 ))
while :; do
  j=$(job_json "$a") || fail "job $a"
  [ "$(jq -r .state <<<"$j")" = running ] && [ "$(jq .progress_bytes_done <<<"$j")" -gt 0 ] && break
  [ "$(date +%s)" -ge "$deadline" ] && fail "job $a never showed bytes while running: $j"
  sleep 0.2
done
first=$(jq .progress_bytes_done <<<"$j")
[ "$(jq .progress_bytes_total <<<"$j")" -eq 300000000 ] || fail "bytes total: $j"
[ "$first" -le 300000000 ] || fail "bytes done above the total: $j"
log "job $a at $first of 300000000 bytes"

txt=$(cn job "$a") || fail "canopy job $a"
grep -Eq '^  progress   [0-9]+/8000 ms, [0-9.]+ (B|kB|MB) of 300\.0 MB$' <<<"$txt" ||
  fail "canopy job text has no byte progress: $txt"
log "canopy job: $(grep '^  progress' <<<"$txt")"

s=$(cn --json status) || fail "status --json"
[ "$(jq --argjson id "$a" '.running[] | select(.id == $id) | .progress_bytes_total' <<<"$s")" = 300000000 ] ||
  fail "status --json running job $a without bytes: $s"
[ "$(jq --argjson id "$b" '.running[] | select(.id == $id) | .progress_bytes_total' <<<"$s")" = 0 ] ||
  fail "status --json: job $b reports no bytes but shows some: $s"
st=$(cn status) || fail "status"
grep -Eq "^  $a .* [0-9]+/8000 ms, [0-9.]+ (B|kB|MB) of 300\.0 MB$" <<<"$st" ||
  fail "status text has no byte progress for job $a: $st"
log "canopy status: $(grep -E "^  $a " <<<"$st")"
grep -E "^  $b " <<<"$st" | grep -Eq ' [0-9]+/8000 ms$' ||
  fail "status text of job $b (no bytes) should end with its units: $st"

[ "$(jobs_json | jq --argjson id "$a" '.[] | select(.id == $id) | .progress_bytes_total')" = 300000000 ] ||
  fail "jobs --json without bytes for job $a"

# 2. A later heartbeat brings more bytes.
deadline=$(( $(date +%s) + 10 ))
while :; do
  j=$(job_json "$a") || fail "job $a"
  [ "$(jq .progress_bytes_done <<<"$j")" -gt "$first" ] && break
  [ "$(jq -r .state <<<"$j")" = running ] || fail "job $a ended before its bytes grew past $first: $j"
  [ "$(date +%s)" -ge "$deadline" ] && fail "job $a bytes stuck at $first: $j"
  sleep 0.2
done
log "job $a later at $(jq .progress_bytes_done <<<"$j") bytes"
wait_state "$a" succeeded 20
wait_state "$b" succeeded 20

# 3. Watch: the progress events carry the bytes (JSON and text).
kill -TERM "$wj" "$wt" 2>/dev/null || true
wait "$wj" "$wt" 2>/dev/null || true
# (Slurped: jq 1.6's -e looks only at the last input's outputs.)
ev=$(jq -s -c --argjson id "$a" '[.[] | select(.event == "job" and .id == $id and .progress_bytes_total == 300000000
  and .progress_bytes_done > 0)] | length' "$T/watch.json") || fail "watch --json output is not JSON"
[ "$ev" -gt 0 ] || fail "watch --json has no byte progress event for job $a: $(grep "\"id\":$a," "$T/watch.json" | tail -3)"
ev=$(jq -s --argjson id "$b" '[.[] | select(.event == "job" and .id == $id and .progress_bytes_total != 0)] | length' \
  "$T/watch.json")
[ "$ev" -eq 0 ] || fail "watch --json shows bytes for job $b, which reports none"
grep -Eq "^job $a sleep running .* [0-9]+/8000, [0-9.]+ (B|kB|MB) of 300\.0 MB" "$T/watch.txt" ||
  fail "watch text has no byte progress for job $a: $(grep "^job $a" "$T/watch.txt" | head -5)"
log "canopy watch: $(grep -E "^job $a sleep running" "$T/watch.txt" | tail -1)"
log "ok"
