#!/usr/bin/env bash
# test_cluster_retry: failed attempts are retried after a backoff (base 500 ms,
# +-25%) until max_attempts, then the job is dead; `canopy retry` re-queues a dead
# job with a fresh budget; a job over its timeout is stopped and fails.
source "$(dirname "$0")/cluster_lib.sh"

up 1 4

# Fails twice, succeeds on the third attempt; the gaps between attempts are backoffs.
a=$(cn submit sleep 5 --fail_attempts 2 --max-attempts 3) || fail "submit"
wait_state "$a" succeeded 30
j=$(job_json "$a")
[ "$(jq .attempts <<<"$j")" -eq 3 ] || fail "job $a: expected 3 attempts: $j"
[ "$(jq '.history | length' <<<"$j")" -eq 3 ] || fail "job $a: expected 3 history entries: $j"
[ "$(jq -c '[.history[].outcome]' <<<"$j")" = '["failed","failed","succeeded"]' ] || fail "job $a: outcomes: $j"
gap1=$(jq '.history[1].started_ms - .history[0].finished_ms' <<<"$j")
gap2=$(jq '.history[2].started_ms - .history[1].finished_ms' <<<"$j")
log "backoff gaps: $gap1 ms, $gap2 ms"
[ "$gap1" -ge 300 ] || fail "first retry after only $gap1 ms (backoff base is 500 ms): $j"
[ "$gap2" -ge 600 ] || fail "second retry after only $gap2 ms (backoff doubles to 1000 ms): $j"
# Each attempt's result was accepted exactly once (two failures, one success).
[ "$(jq .accepted_results <<<"$j")" -eq 3 ] || fail "job $a: accepted_results: $j"
[ "$(jq '[.history[] | select(.result_accepted)] | length' <<<"$j")" -eq 3 ] || fail "job $a: history results: $j"

# Always fails: dead after max_attempts, with the error kept; --wait exits non-zero.
if cn submit sleep 5 --fail_attempts 9 --max-attempts 2 --message "boom" --wait >"$T/b.txt" 2>"$T/b.err"; then
  fail "submit --wait succeeded for a job that always fails"
fi
b=$(head -1 "$T/b.txt")
j=$(job_json "$b")
[ "$(jq -r .state <<<"$j")" = dead ] || fail "job $b not dead: $j"
[ "$(jq .attempts <<<"$j")" -eq 2 ] || fail "job $b: expected 2 attempts: $j"
jq -e '.error | test("boom")' <<<"$j" >/dev/null || fail "job $b: error message lost: $j"
grep -q "did not succeed" "$T/b.err" || fail "submit --wait gave no reason: $(cat "$T/b.err")"

# A fatal failure is dead at once.
c=$(cn submit sleep 1 --fail_attempts 1 --fatal --max-attempts 5) || fail "submit"
wait_state "$c" dead 20
[ "$(job_json "$c" | jq .attempts)" -eq 1 ] || fail "fatal job retried: $(job_json "$c")"

# retry: a dead job runs again. Fails on attempt 1 only, max 1 attempt: dead; the
# retried attempt succeeds if attempts keep counting, else fails again: either way
# it must run again.
d=$(cn submit sleep 1 --fail_attempts 1 --max-attempts 1) || fail "submit"
wait_state "$d" dead 20
cn retry "$d" >"$T/retry.txt" || fail "retry failed"
wait_final 30
j=$(job_json "$d")
[ "$(jq '.history | length' <<<"$j")" -ge 2 ] || fail "retried job $d did not run again: $j"
log "retried job $d ended $(jq -r .state <<<"$j") after $(jq .attempts <<<"$j") attempts"
# retry of a succeeded job is refused with a message.
if cn retry "$a" 2>"$T/err.txt"; then log "note: retry of a succeeded job was accepted"; else
  [ "$(wc -l <"$T/err.txt")" -eq 1 ] || fail "retry error is not one line: $(cat "$T/err.txt")"
fi

# Timeout: an attempt over its timeout is stopped and fails; with one attempt, dead.
e=$(cn submit sleep 20000 --timeout 500ms --max-attempts 1) || fail "submit"
start=$(now_ms)
wait_state "$e" dead 15
took=$(( $(now_ms) - start ))
j=$(job_json "$e")
log "timed-out job ended after $took ms: $(jq -c '{error, error_code}' <<<"$j")"
[ "$took" -lt 10000 ] || fail "timeout took $took ms"
[ "$(jq .error_code <<<"$j")" -eq -12 ] || fail "timed-out job has error code $(jq .error_code <<<"$j"), not CN_ETIMEOUT (-12): $j"

# Unknown job ids are errors with one line.
if cn job 999999 2>"$T/err.txt"; then fail "job 999999 exists?"; fi
grep -q "^canopy: " "$T/err.txt" || fail "error without the canopy: prefix"
log "PASS"
