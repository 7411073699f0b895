# demo.d/10-jobs.sh: part of deploy/demo.sh (sourced). Dispatch on the cluster:
# 400 sleep jobs of 5-60 ms and 400 no-op jobs, submitted in batches with
# `submit --from`, waited for with a progress bar; then one job that fails once
# and is retried. Reports throughput to $SUMMARY.
step "jobs: 400 sleep jobs (5-60 ms) and 400 no-op jobs"
awk 'BEGIN { srand(7); for (i = 0; i < 400; i++) printf "{\"kind\":\"sleep\",\"ms\":%d}\n{\"kind\":\"noop\"}\n", 5 + int(rand() * 56) }' >"$WORK/jobs.txt"
t0=$(date +%s%3N)
cn submit --from "$WORK/jobs.txt" --wait >"$WORK/ids.txt"
t1=$(date +%s%3N)
n=$(wc -l <"$WORK/ids.txt")
echo "jobs: $n jobs succeeded in $((t1 - t0)) ms ($(( n * 1000 / (t1 - t0 + 1) )) jobs/s, $WORKERS workers x $SLOTS slots)" >>"$SUMMARY"

step "jobs: one job that fails its first attempt and is retried"
id=$(cn submit sleep 10 --fail_attempts 1 --message "a planned failure" --wait)
cn job "$id" | sed -n '1,2p;/history/,$p'
echo "retry: job $id succeeded on attempt $(cn --json job "$id" | sed -n 's/.*"attempts":\([0-9]*\).*/\1/p')" >>"$SUMMARY"
