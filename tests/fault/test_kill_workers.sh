#!/usr/bin/env bash
# test_kill_workers: while 1,500 sleep jobs run on 3 workers, a random worker is
# killed with SIGKILL every second (the `canopy up` supervisor restarts it).
# Proves: no job is lost, every job ends succeeded, no job has two accepted
# results, and the jobs a killed worker was running are leased again within 4 s.
source "$(dirname "$0")/../integration/cluster_lib.sh"

up 3 4
sleep_jobs 1500 20 300 "$T/jobs.txt"
# A job cut by several kills uses an attempt each time (PROTOCOL.md): give it room.
cn submit sleep --from "$T/jobs.txt" --max-attempts 10 >"$T/ids.txt" || fail "submit"
[ "$(wc -l <"$T/ids.txt")" -eq 1500 ] || fail "submit printed $(wc -l <"$T/ids.txt") ids"

: >"$T/kills.txt"
kills=0
for round in $(seq 1 12); do
  sleep 1
  cn --json status >"$T/st.json" 2>/dev/null || continue
  # A live worker that is running jobs, chosen at random, killed at once (its
  # short jobs must still be running when the kill lands).
  pick=$(jq -r --argjson r "$RANDOM" '[.workers[] | select(.alive and (.running | length) > 0)]
    | if length == 0 then empty else .[$r % length] | "\(.pid) \(.name) \(.running | join(","))" end' "$T/st.json")
  [ -n "$pick" ] || continue
  read -r pid name jobs <<<"$pick"
  at=$(now_ms)
  if kill -9 "$pid" 2>/dev/null; then
    kills=$((kills + 1))
    echo "$at $name $pid $jobs" >>"$T/kills.txt"
    log "killed $name (pid $pid) running jobs $jobs"
  fi
done
[ "$kills" -ge 5 ] || fail "only $kills workers could be killed"

wait_final 100
check_all_succeeded_once 1500

# Re-lease delay, found afterwards from the jobs' histories (whatever the status
# snapshot showed, the kill cuts the jobs running at that instant): for each
# attempt on a killed worker that started before the kill and ended without an
# accepted result after it, the time from the kill to the job's next attempt.
jq -R -s 'split("\n") | map(select(length > 0) | split(" ") | {at: (.[0] | tonumber), worker: .[1]})' \
  "$T/kills.txt" >"$T/kills.json"
: >"$T/delays.txt"
for id in $(jobs_json | jq '.[] | select(.attempts > 1) | .id'); do
  job_json "$id" | jq --slurpfile kills "$T/kills.json" '
    .history as $h | $kills[0][] as $k
    | [$h[] | select(.worker == $k.worker and .started_ms <= $k.at
                     and (.finished_ms == 0 or .finished_ms >= $k.at) and (.result_accepted | not))]
    | if length == 0 then empty else
        ([$h[] | select(.started_ms >= $k.at) | .started_ms] | min) as $next
        | if $next == null then "none" else ($next - $k.at) end
      end' >>"$T/delays.txt"
done
measured=$(grep -c . "$T/delays.txt" || true)
[ "$measured" -ge 3 ] || fail "only $measured cut jobs could be measured"
grep -q none "$T/delays.txt" && fail "a cut job was never leased again: $(cat "$T/kills.txt")"
max=$(sort -n "$T/delays.txt" | tail -1)
log "$kills kills, $measured cut jobs re-leased after $(sort -n "$T/delays.txt" | head -1)..$max ms (median $(sort -n "$T/delays.txt" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') ms)"
[ "$max" -le 4000 ] || fail "a killed worker's job waited $max ms to be leased again (limit 4000)"
grep -q "restarted" "$D/logs/up.log" || fail "the supervisor did not log restarts"
log "PASS"
