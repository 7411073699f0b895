#!/usr/bin/env bash
# test_cluster_up: `canopy up` in the foreground supervises the cluster: it
# writes up.pid, refuses a second cluster on the same data directory, restarts a
# worker killed with SIGKILL under the same name, and on SIGINT stops workers and
# coordinator and exits 0. If the supervisor itself is killed, the cluster stops
# with it. A worker that cannot start is restarted with a doubling backoff.
# `canopy coordinator` / `canopy worker` exec the daemons.
source "$(dirname "$0")/cluster_lib.sh"

out=$(cn coordinator --help) && grep -q "canopy-coordinator" <<<"$out" || fail "canopy coordinator --help"
out=$(cn worker --help) && grep -q "canopy-worker" <<<"$out" || fail "canopy worker --help"

"$CANOPY" --data "$D" up --workers 2 --slots 1 >"$T/up.out" 2>&1 &
sup=$!
deadline=$(( $(date +%s) + 30 ))
until grep -q "stop with" "$T/up.out" 2>/dev/null; do
  gone "$sup" && { cat "$T/up.out" >&2; fail "canopy up exited at start"; }
  [ "$(date +%s)" -ge "$deadline" ] && fail "canopy up did not report the cluster up"
  sleep 0.1
done
[ "$(cat "$D/up.pid")" = "$sup" ] || fail "up.pid is $(cat "$D/up.pid"), not $sup"
grep -q "worker w2" "$T/up.out" || fail "summary does not list w2: $(cat "$T/up.out")"

# A second cluster on the same directory is refused with one line.
if cn up --detach 2>"$T/err.txt"; then fail "a second up succeeded"; fi
grep -q "already up" "$T/err.txt" || fail "unclear error: $(cat "$T/err.txt")"

# A killed worker comes back under its name with a new pid.
old=$(cn --json status | jq '.workers[] | select(.name == "w1") | .pid')
kill -9 "$old"
deadline=$(( $(date +%s) + 15 ))
while :; do
  new=$(cn --json status | jq '.workers[] | select(.name == "w1" and .alive) | .pid')
  [ -n "$new" ] && [ "$new" != "$old" ] && break
  [ "$(date +%s)" -ge "$deadline" ] && fail "w1 was not restarted"
  sleep 0.2
done
id=$(cn submit sleep 10 --wait 2>/dev/null) || fail "jobs do not run after the restart"

# SIGINT (Ctrl-C) stops everything in order; up exits 0.
kill -INT "$sup"
rc=0
wait "$sup" || rc=$?
[ "$rc" -eq 0 ] || fail "canopy up exited $rc after SIGINT"
grep -q "cluster stopped" "$T/up.out" || fail "no 'cluster stopped': $(cat "$T/up.out")"
[ -z "$(our_pids | grep -vx "$$" || true)" ] || fail "processes left after SIGINT: $(our_pids)"
[ ! -e "$D/up.pid" ] || fail "up.pid left behind"

# Killing the supervisor takes the cluster down with it (no orphans).
up 2 1
sup=$(cat "$D/up.pid")
kill -9 "$sup"
deadline=$(( $(date +%s) + 30 ))
until [ -z "$(our_pids | grep -vx "$$" || true)" ]; do
  [ "$(date +%s)" -ge "$deadline" ] && fail "processes outlived their supervisor: $(our_pids)"
  sleep 0.2
done
if cn down 2>"$T/err.txt"; then fail "down succeeded with no cluster"; fi
grep -q "no cluster is up" "$T/err.txt" || fail "unclear error: $(cat "$T/err.txt")"
# And a new cluster starts on the same directory, with the jobs of the first.
up 1 1
[ "$(cn --json job "$id" | jq -r .state)" = succeeded ] || fail "job $id lost across cluster restarts"
cn down >/dev/null || fail "down"

# A worker that cannot start (another process holds its shard) is restarted with
# a backoff that doubles (100, 200, 400 ms ...) until it can.
"$CN_BIN/canopy-worker" --data "$D" --name w1 --coordinator "ipc://$T/nothing.sock" >"$T/holder.log" 2>&1 &
holder=$!
deadline=$(( $(date +%s) + 15 ))
until [ "$(tr -d '\n' <"$D/shards/w1/canopy.lock" 2>/dev/null)" = "$holder" ]; do  # its pid: it holds the shard
  gone "$holder" && fail "the holder worker exited: $(cat "$T/holder.log")"
  [ "$(date +%s)" -ge "$deadline" ] && fail "the holder worker did not take w1's shard"
  sleep 0.1
done
up 2 1
grep -q "w1 .*EXITED at start" "$T/up.out" || fail "up does not say w1 exited: $(cat "$T/up.out")"
deadline=$(( $(date +%s) + 15 ))
until grep -q "restarting in 400 ms" "$D/logs/up.log"; do
  [ "$(date +%s)" -ge "$deadline" ] && fail "no doubling backoff: $(cat "$D/logs/up.log")"
  sleep 0.2
done
grep -q "w1 (pid [0-9]*) exited with status [1-9][0-9]* after [0-9]* ms; restarting in 200 ms" "$D/logs/up.log" \
  || fail "backoff did not go 100, 200, 400 ms: $(cat "$D/logs/up.log")"
kill "$holder"
wait "$holder" || true
deadline=$(( $(date +%s) + 20 ))
until [ "$(cn --json status | jq '[.workers[] | select(.alive)] | length')" -eq 2 ]; do
  [ "$(date +%s)" -ge "$deadline" ] && fail "w1 did not join once its shard was free"
  sleep 0.2
done
cn down >/dev/null || fail "down"
log "PASS"
