#!/usr/bin/env bash
# test_kill_coordinator: the coordinator is killed with SIGKILL twice while jobs
# are queued and leased; the `canopy up` supervisor restarts it. Proves that it
# rebuilds its state from its store: every job completes, none is lost, none has
# two accepted results, and a `submit --wait` in progress sees them all through.
source "$(dirname "$0")/../integration/cluster_lib.sh"

up 2 4
sleep_jobs 800 20 100 "$T/jobs.txt"
# A job cut by several kills uses an attempt each time (PROTOCOL.md): give it room.
# The submitting CLI waits for the jobs across both coordinator restarts.
CANOPY_TIMEOUT_MS=2000 "$CANOPY" --data "$D" submit sleep --from "$T/jobs.txt" --max-attempts 10 --wait \
  >"$T/ids.txt" 2>"$T/wait.err" &
waiter=$!
deadline=$(( $(date +%s) + 30 ))
until [ "$(wc -l <"$T/ids.txt")" -eq 800 ]; do
  gone "$waiter" && { cat "$T/wait.err" >&2; fail "submit --wait ended early"; }
  [ "$(date +%s)" -ge "$deadline" ] && fail "submit printed $(wc -l <"$T/ids.txt") ids, not 800"
  sleep 0.1
done

coord_pid() { jq .pid "$D/coordinator.endpoints" 2>/dev/null || echo 0; }

for round in 1 2; do
  # Wait until some jobs are done, and some are queued and leased.
  deadline=$(( $(date +%s) + 30 ))
  while :; do
    cn --json status >"$T/st.json" 2>/dev/null || { sleep 0.2; continue; }
    done_n=$(jq '[.counts[] | select(.state == "succeeded") | .count] | add // 0' "$T/st.json")
    queued=$(jq '[.counts[] | select(.state == "queued") | .count] | add // 0' "$T/st.json")
    leased=$(jq '[.counts[] | select(.state == "leased" or .state == "running") | .count] | add // 0' "$T/st.json")
    [ "$done_n" -ge $((round * 150)) ] && [ "$queued" -gt 0 ] && [ "$leased" -gt 0 ] && break
    [ "$(date +%s)" -ge "$deadline" ] && fail "no moment with jobs queued and leased (done $done_n, queued $queued, leased $leased)"
    sleep 0.2
  done
  pid=$(coord_pid)
  [ "$pid" -gt 0 ] || fail "no coordinator pid in coordinator.endpoints"
  kill -9 "$pid" || fail "cannot kill the coordinator (pid $pid)"
  log "killed the coordinator (pid $pid) with $done_n done, $queued queued, $leased leased"
  # The supervisor restarts it; it answers again.
  deadline=$(( $(date +%s) + 30 ))
  until [ "$(coord_pid)" != "$pid" ] && cn status >/dev/null 2>&1; do
    [ "$(date +%s)" -ge "$deadline" ] && fail "the coordinator did not come back"
    sleep 0.2
  done
  log "coordinator back as pid $(coord_pid)"
done

wait_final 100
check_all_succeeded_once 800
rc=0
wait "$waiter" || rc=$?
[ "$rc" -eq 0 ] || { cat "$T/wait.err" >&2; fail "submit --wait exited $rc across coordinator restarts"; }
grep -q "coordinator restarted" "$D/logs/up.log" || fail "the supervisor did not log the restart"
log "PASS"
