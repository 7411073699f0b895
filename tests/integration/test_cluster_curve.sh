#!/usr/bin/env bash
# test_cluster_curve: a cluster on tcp:// with CurveZMQ, set up with the CLI as on
# three hosts (three data directories): `canopy keygen` makes the key pairs, the
# daemons are started through `canopy coordinator` / `canopy worker`, a client
# with an allowed key submits and waits; a client without keys and one whose key
# is not allowed get no answer and a one-line error that says why it may be.
source "$(dirname "$0")/cluster_lib.sh"

C="$T/coord"; W="$T/wk"; K="$T/client"; X="$T/stranger"
cn_at() { local d=$1; shift; "$CANOPY" --data "$d" "$@"; }
cn_at "$C" keygen --name coordinator >/dev/null || fail "keygen coordinator"
cn_at "$W" keygen --name w1 >/dev/null || fail "keygen w1"
cn_at "$K" keygen >/dev/null || fail "keygen client"
cn_at "$X" keygen >/dev/null || fail "keygen stranger"
mkdir -p "$C/keys/allowed"
cp "$W/keys/w1.public" "$C/keys/allowed/"
cp "$K/keys/client.public" "$C/keys/allowed/"
for d in "$W" "$K" "$X"; do cp "$C/keys/coordinator.public" "$d/keys/"; done

# Started directly (not through a shell function) so that $! is the daemon: canopy
# execs it in place. A port someone else holds makes it exit: try another.
for try in 1 2 3 4 5; do
  port=$(( 20000 + RANDOM % 30000 ))
  ep="tcp://127.0.0.1:$port"
  "$CANOPY" --data "$C" coordinator --endpoint "$ep" --pub "tcp://127.0.0.1:$((port + 1))" >"$T/coord.log" 2>&1 &
  cpid=$!
  sleep 0.5
  gone "$cpid" || break
done
"$CANOPY" --data "$W" worker --coordinator "$ep" --name w1 --slots 2 >"$T/worker.log" 2>&1 &
wpid=$!
stop_daemons() { kill "$wpid" 2>/dev/null; wait "$wpid" 2>/dev/null; kill "$cpid" 2>/dev/null; wait "$cpid" 2>/dev/null; }
trap 'rc=$?; stop_daemons; (exit $rc); cleanup' EXIT

deadline=$(( $(date +%s) + 20 ))
until out=$(CANOPY_TIMEOUT_MS=1000 cn_at "$K" --coordinator "$ep" --json status 2>/dev/null) \
    && [ "$(jq '[.workers[] | select(.alive)] | length' <<<"$out")" -eq 1 ]; do
  gone "$cpid" && { cat "$T/coord.log" >&2; fail "the coordinator exited"; }
  [ "$(date +%s)" -ge "$deadline" ] && { cat "$T/coord.log" "$T/worker.log" >&2; fail "no encrypted cluster"; }
  sleep 0.2
done
grep -q "CurveZMQ" "$T/coord.log" || fail "the coordinator does not say it uses CurveZMQ"

cn_at "$K" --coordinator "$ep" submit sleep 20 --wait >/dev/null 2>&1 || fail "an allowed client cannot run a job"

if CANOPY_TIMEOUT_MS=1500 cn_at "$T/nokeys" --coordinator "$ep" status 2>"$T/err.txt"; then
  fail "a client without keys was answered"
fi
grep -q "needs keys/coordinator.public" "$T/err.txt" || fail "no hint for a client without keys: $(cat "$T/err.txt")"
if CANOPY_TIMEOUT_MS=1500 cn_at "$X" --coordinator "$ep" status 2>"$T/err.txt"; then
  fail "a client whose key is not allowed was answered"
fi
grep -q "keys/allowed" "$T/err.txt" || fail "no hint for a key not allowed: $(cat "$T/err.txt")"
[ "$(wc -l <"$T/err.txt")" -eq 1 ] || fail "the error is not one line: $(cat "$T/err.txt")"
log "PASS"
