#!/bin/bash
# test_worker_stop: SIGTERM to a worker of a real cluster (a real coordinator, no
# supervisor). A short job finishes within the grace period and succeeds on its
# first attempt; a long one is released when the grace period ends, leased again
# to the other worker without counting an attempt, and the stopped worker says
# Bye and exits 0 each time.
source "$(dirname "$0")/cluster_lib.sh"
mkdir -p "$D/logs"
"$CN_BIN/canopy-coordinator" --data "$D" 2>"$D/logs/coordinator.log" &

# start_worker NAME GRACE_MS: a child of this shell (so `wait` gets its exit
# status); its pid in $pid.
start_worker() {
  "$CN_BIN/canopy-worker" --data "$D" --name "$1" --slots 1 --grace-ms "$2" >/dev/null 2>>"$D/logs/$1.log" &
  pid=$!
}
wait_worker() {
  local i
  for i in $(seq 1 100); do
    cn --json status 2>/dev/null | jq -e --arg n "$1" '.workers[] | select(.name == $n and .alive)' >/dev/null && return 0
    sleep 0.1
  done
  fail "worker $1 did not register"
}
# stop_worker PID TIMEOUT_S: SIGTERM, then its exit status must be 0.
stop_worker() {
  kill -TERM "$1"
  local deadline=$(( $(date +%s) + $2 ))
  while ! gone "$1"; do
    [ "$(date +%s)" -ge "$deadline" ] && fail "worker $1 still runs $2 s after SIGTERM"
    sleep 0.1
  done
  local rc=0
  wait "$1" || rc=$?
  [ "$rc" -eq 0 ] || fail "worker $1 exited with $rc after SIGTERM"
}

for i in $(seq 1 50); do [ -f "$D/coordinator.endpoints" ] && break; sleep 0.1; done
start_worker w1 6000
w1=$pid
wait_worker w1

# 1. A job shorter than the grace period finishes and counts once. (A job shows
# as running from its worker's next heartbeat, up to 1 s after it starts: the
# job must be long enough for the test to see it running.)
a=$(cn submit sleep 3000) || fail "submit"
wait_state "$a" running 10
stop_worker "$w1" 10
j=$(job_json "$a")
[ "$(jq -r .state <<<"$j")" = succeeded ] || fail "job $a after a graceful stop: $j"
[ "$(jq .attempts <<<"$j")" -eq 1 ] || fail "job $a: attempts: $j"
grep -q '"msg":"stopped:' "$D/logs/w1.log" || fail "w1 did not log its clean stop"

# 2. A job longer than the grace period is released and runs on w2.
start_worker w1 1000
w1=$pid
wait_worker w1
b=$(cn submit sleep 60000) || fail "submit"
wait_state "$b" running 10
[ "$(job_json "$b" | jq -r .worker)" = w1 ] || fail "job $b did not start on w1"
start_worker w2 1000
w2=$pid
wait_worker w2
t0=$(now_ms)
stop_worker "$w1" 10
log "w1 stopped $(( $(now_ms) - t0 )) ms after SIGTERM (grace 1000 ms)"
deadline=$(( $(date +%s) + 10 ))
while :; do
  j=$(job_json "$b")
  [ "$(jq -r '.state + " " + .worker' <<<"$j")" = "running w2" ] && break
  [ "$(date +%s)" -ge "$deadline" ] && fail "job $b was not leased to w2 after w1 released it: $j"
  sleep 0.1
done
[ "$(jq .attempts <<<"$j")" -eq 1 ] || fail "the released attempt was counted: $j"
[ "$(jq -r '.history[0].worker' <<<"$j")" = w1 ] || fail "history: $j"
grep -q 'released' "$D/logs/w1.log" || fail "w1 did not log the release"
cn cancel "$b" >/dev/null || fail "cancel"
wait_state "$b" cancelled 10
stop_worker "$w2" 10
log "ok"
