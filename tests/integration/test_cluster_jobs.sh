#!/usr/bin/env bash
# test_cluster_jobs: a local cluster of 3 workers runs 2,000 sleep jobs (1-50 ms)
# submitted in batches through `submit --from`: every job succeeds with exactly
# one accepted result, `submit --wait` reports it, and `canopy down` stops every
# process of the cluster.
source "$(dirname "$0")/cluster_lib.sh"

up 3 4
grep -q "coordinator" "$T/up.out" || fail "up printed no summary"
[ -s "$D/up.pid" ] || fail "no up.pid"
sup=$(cat "$D/up.pid")

# Status answers and lists the three workers by name.
cn --json status >"$T/status.json" || fail "status failed"
[ "$(jq -r '[.workers[] | select(.alive) | .name] | sort | join(",")' "$T/status.json")" = "w1,w2,w3" ] \
  || fail "expected workers w1,w2,w3: $(cat "$T/status.json")"

sleep_jobs 2000 1 50 "$T/jobs.txt"
start=$(now_ms)
cn submit sleep --from "$T/jobs.txt" --wait --wait-timeout 90s >"$T/ids.txt" 2>"$T/wait.err" \
  || { cat "$T/wait.err" >&2; fail "submit --wait failed"; }
took=$(( $(now_ms) - start ))
[ "$(wc -l <"$T/ids.txt")" -eq 2000 ] || fail "submit printed $(wc -l <"$T/ids.txt") ids, not 2000"
[ "$(sort -u "$T/ids.txt" | wc -l)" -eq 2000 ] || fail "submit printed duplicate ids"
log "2000 sleep jobs done in $took ms"

check_all_succeeded_once 2000
# The ids printed are the jobs the coordinator has.
diff <(sort -n "$T/ids.txt") <(jobs_json | jq '.[].id' | sort -n) >/dev/null || fail "printed ids differ from the jobs"
# Work was spread over the workers.
[ "$(jobs_json | jq '[.[].worker] | unique | length')" -eq 3 ] || fail "not every worker ran jobs"

# jobs filters and job details.
[ "$(cn --json jobs --state succeeded --limit 10 | jq length)" -eq 10 ] || fail "jobs --limit"
[ "$(cn --json jobs --state queued | jq length)" -eq 0 ] || fail "jobs --state queued"
id=$(head -1 "$T/ids.txt")
job_json "$id" | jq -e '.spec.ms >= 1 and .spec.ms <= 50 and (.history | length) == 1' >/dev/null \
  || fail "job $id details: $(job_json "$id")"
# (Captured first: grep -q may close the pipe early, and pipefail would see SIGPIPE.)
out=$(cn job "$id") && grep -q "succeeded" <<<"$out" || fail "job text"
out=$(cn jobs) && grep -q "sleep" <<<"$out" || fail "jobs text"
out=$(cn status) && grep -q "w1" <<<"$out" || fail "status text"
out=$(cn watch --once) && grep -q "w2" <<<"$out" || fail "watch --once"
out=$(cn watch --for 1500ms) && grep -q "w3" <<<"$out" || fail "watch --for"

cn down >/dev/null || fail "down failed"
gone "$sup" || fail "supervisor $sup still running after down"
left=$(our_pids | grep -vx "$$" || true)
[ -z "$left" ] || fail "processes left after down: $left"
[ ! -e "$D/up.pid" ] || fail "up.pid left after down"
# With the cluster down, the CLI says so in one line.
if cn status 2>"$T/err.txt"; then fail "status succeeded without a cluster"; fi
grep -q "no coordinator at" "$T/err.txt" || fail "unclear error: $(cat "$T/err.txt")"
log "PASS"
