#!/usr/bin/env bash
# test_cluster_priority: with one slot, queued jobs run higher priority first and
# FIFO within a priority.
source "$(dirname "$0")/cluster_lib.sh"

up 1 1
blocker=$(cn submit sleep 3000) || fail "submit"
wait_state "$blocker" running 20
: >"$T/jobs.txt"
for i in 1 2 3 4 5; do
  printf '{"kind":"noop","priority":0}\n{"kind":"noop","priority":10}\n{"kind":"noop","priority":-5}\n' >>"$T/jobs.txt"
done
cn submit --from "$T/jobs.txt" --wait >"$T/ids.txt" 2>/dev/null || fail "submit --wait"
# Order of start: sort the jobs by lease_seq (the cluster-wide lease order); the priorities must read
# 10 x5, 0 x5, -5 x5 and ids ascend within each priority.
order=$(jobs_json | jq -c --argjson b "$blocker" '[.[] | select(.id != $b)] | sort_by(.lease_seq) | map(.priority)')
[ "$order" = "[10,10,10,10,10,0,0,0,0,0,-5,-5,-5,-5,-5]" ] || fail "start order by priority: $order"
fifo=$(jobs_json | jq -c --argjson b "$blocker" '[.[] | select(.id != $b)] | group_by(.priority) | map(sort_by(.lease_seq) | map(.id) == (map(.id) | sort)) | all')
[ "$fifo" = true ] || fail "not FIFO within a priority"
log "PASS"
