# cluster_lib.sh: sourced by the cluster's integration and fault tests. Gives each
# test its own temporary data directory, a local cluster started with
# `canopy up --detach`, JSON helpers (jq), and a trap that stops the cluster and
# kills anything still running from that directory. Not a test by itself.
set -euo pipefail

: "${CN_BIN:?set CN_BIN to the build directory}"
CANOPY="$CN_BIN/canopy"
command -v jq >/dev/null || { echo "SKIP: jq is needed (deploy/install-deps.sh installs it)"; exit 77; }
# A short path: ipc:// socket paths are limited to about 100 bytes.
T=$(mktemp -d /tmp/cnt.XXXXXX)
D="$T/data"
export CANOPY_TIMEOUT_MS=${CANOPY_TIMEOUT_MS:-10000}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S.%3N)" "$*" >&2; }
fail() {
  log "FAIL: $*"
  for f in "$D"/logs/*.log; do
    [ -f "$f" ] || continue
    echo "---- tail of $f" >&2
    tail -n 15 "$f" >&2 || true
  done
  exit 1
}
now_ms() { date +%s%3N; }
cn() { "$CANOPY" --data "$D" "$@"; }

# Pids of processes whose command line names our data directory (only ours).
our_pids() {
  local p
  for p in /proc/[0-9]*; do
    [ -r "$p/cmdline" ] || continue
    gone "${p#/proc/}" && continue
    if tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -F -- "$D" >/dev/null; then echo "${p#/proc/}"; fi
  done
}

# gone PID: true when PID has exited (a zombie not yet reaped by its new parent
# has exited too).
gone() {
  [ -r "/proc/$1/stat" ] || return 0
  local st
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 0
  [ "$st" = Z ] || [ "$st" = X ] || [ -z "$st" ]
}

cleanup() {
  local rc=$?
  if [ -f "$D/up.pid" ]; then cn down --timeout 20s >/dev/null 2>&1 || true; fi
  local pids
  pids=$(our_pids | grep -vx "$$" || true)
  if [ -n "$pids" ]; then
    # shellcheck disable=SC2086
    kill -9 $pids 2>/dev/null || true
  fi
  rm -rf "$T"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# up WORKERS SLOTS: starts a detached cluster and waits until it answers.
up() {
  cn up --workers "$1" --slots "$2" --detach >"$T/up.out" 2>&1 || { cat "$T/up.out" >&2; fail "canopy up failed"; }
}

# All jobs as a JSON array, retrying while the coordinator restarts.
jobs_json() {
  local i
  for i in $(seq 1 30); do
    if cn --json jobs >"$T/jobs.json" 2>"$T/jobs.err"; then cat "$T/jobs.json"; return 0; fi
    sleep 0.5
  done
  cat "$T/jobs.err" >&2
  return 1
}

job_json() { cn --json job "$1"; }

# wait_final TIMEOUT_S: waits until no job is queued, leased, running or failed.
wait_final() {
  local deadline=$(( $(date +%s) + $1 )) left
  while :; do
    left=$(jobs_json | jq '[.[] | select(.state != "succeeded" and .state != "dead" and .state != "cancelled")] | length') \
      || fail "cannot list jobs"
    [ "$left" -eq 0 ] && return 0
    [ "$(date +%s)" -ge "$deadline" ] && fail "$left jobs still not final after $1 s"
    sleep 0.5
  done
}

# wait_state ID STATE TIMEOUT_S
wait_state() {
  local deadline=$(( $(date +%s) + $3 )) s
  while :; do
    s=$(job_json "$1" | jq -r .state) || fail "cannot read job $1"
    [ "$s" = "$2" ] && return 0
    [ "$(date +%s)" -ge "$deadline" ] && fail "job $1 is $s, not $2, after $3 s"
    sleep 0.1
  done
}

# sleep_jobs N MIN_MS MAX_MS FILE: N sleep job lines of random duration.
sleep_jobs() {
  awk -v n="$1" -v lo="$2" -v hi="$3" 'BEGIN { srand(42); for (i = 0; i < n; i++) printf "{\"ms\": %d}\n", lo + int(rand() * (hi - lo + 1)) }' >"$4"
}

# check_all_succeeded_once N: exactly N jobs, all succeeded, each with exactly one
# accepted result.
check_all_succeeded_once() {
  local j
  j=$(jobs_json) || fail "cannot list jobs"
  [ "$(jq length <<<"$j")" -eq "$1" ] || fail "expected $1 jobs, the coordinator has $(jq length <<<"$j")"
  local bad
  bad=$(jq -c '[.[] | select(.state != "succeeded")] | .[:5]' <<<"$j")
  [ "$bad" = "[]" ] || fail "jobs not succeeded: $bad"
  bad=$(jq -c '[.[] | select(.accepted_results != 1)] | .[:5]' <<<"$j")
  [ "$bad" = "[]" ] || fail "jobs without exactly one accepted result: $bad"
}
