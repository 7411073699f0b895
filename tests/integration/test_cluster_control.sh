#!/usr/bin/env bash
# test_cluster_control: cancelling a running job ends it cancelled within a few
# seconds; a queued job is cancelled at once; a dedup key returns the first job;
# a job submitted --after another starts only once that one has succeeded; a
# refused batch is reported with the ids of what was stored.
source "$(dirname "$0")/cluster_lib.sh"

up 1 2

# Cancel a running job.
a=$(cn submit sleep 60000) || fail "submit"
wait_state "$a" running 20
start=$(now_ms)
cn cancel "$a" >/dev/null || fail "cancel failed"
wait_state "$a" cancelled 5
log "running job cancelled in $(( $(now_ms) - start )) ms"

# Cancel a queued job: it waits for a job that never finishes first.
b=$(cn submit sleep 60000) || fail "submit"
q=$(cn submit noop --after "$b") || fail "submit"
sleep 0.3
[ "$(job_json "$q" | jq -r .state)" = queued ] || fail "job $q should wait for $b"
cn cancel "$q" >/dev/null || fail "cancel failed"
wait_state "$q" cancelled 2
cn cancel "$b" >/dev/null || fail "cancel failed"
wait_state "$b" cancelled 5

# Dedup key: the second submit returns the first job.
k1=$(cn --json submit noop --key same-thing | jq '.[0].id') || fail "submit"
r=$(cn --json submit noop --key same-thing) || fail "submit"
[ "$(jq '.[0].id' <<<"$r")" -eq "$k1" ] || fail "dedup key gave a new job: $r (first $k1)"
[ "$(jq '.[0].existing' <<<"$r")" = true ] || fail "dedup not reported as existing: $r"
k3=$(cn submit noop --key other-thing) || fail "submit"
[ "$k3" -ne "$k1" ] || fail "different keys gave the same job"

# After: c runs only after a has succeeded, even with a free slot.
p=$(cn submit sleep 800) || fail "submit"
c=$(cn submit noop --after "$p") || fail "submit"
wait_state "$c" succeeded 20
pj=$(job_json "$p")
cj=$(job_json "$c")
[ "$(jq -r .state <<<"$pj")" = succeeded ] || fail "prerequisite not succeeded: $pj"
[ "$(jq .started_ms <<<"$cj")" -ge "$(jq .finished_ms <<<"$pj")" ] \
  || fail "job $c started at $(jq .started_ms <<<"$cj") before $p finished at $(jq .finished_ms <<<"$pj")"

# After a job that ends dead: the waiting job is cancelled.
x=$(cn submit sleep 1 --fail_attempts 5 --max-attempts 1) || fail "submit"
y=$(cn submit noop --after "$x") || fail "submit"
wait_state "$y" cancelled 20

# --from lines carry their own job options.
printf '{"kind":"noop","key":"from-1"}\n{"kind":"sleep","ms":5,"priority":3}\n# a comment\n\n{"kind":"noop","key":"from-1"}\n' >"$T/from.txt"
cn submit --from "$T/from.txt" --wait >"$T/from.ids" 2>/dev/null || fail "submit --from with options"
[ "$(sed -n 1p "$T/from.ids")" = "$(sed -n 3p "$T/from.ids")" ] || fail "dedup key in --from lines ignored"
[ "$(job_json "$(sed -n 2p "$T/from.ids")" | jq .priority)" -eq 3 ] || fail "priority in --from line ignored"
# A batch the coordinator refuses (an `after` id that does not exist) stores
# nothing of that batch: the CLI prints the ids of the jobs that were stored
# (the other batches of 1,000) and says which jobs were refused.
awk 'BEGIN { for (i = 1; i <= 3000; i++) print (i == 1500 ? "{\"after\": 999999}" : "{}") }' >"$T/mixed.txt"
if cn submit noop --from "$T/mixed.txt" >"$T/mixed.ids" 2>"$T/mixed.err"; then fail "a refused batch went unnoticed"; fi
grep -q "jobs 1001-2000 refused" "$T/mixed.err" || fail "unclear refusal: $(cat "$T/mixed.err")"
[ "$(wc -l <"$T/mixed.ids")" -eq 2000 ] || fail "expected the 2000 stored ids, got $(wc -l <"$T/mixed.ids")"
[ "$(comm -12 <(sort "$T/mixed.ids") <(jobs_json | jq '.[].id' | sort) | wc -l)" -eq 2000 ] \
  || fail "printed ids are not all stored jobs"
log "PASS"
