#!/usr/bin/env bash
# test_cli_usage: the canopy CLI without a cluster: every command has --help
# (exit 0), bad usage exits 2 and bad input 1, each with one "canopy: ..." line;
# a missing cluster is reported clearly; keygen writes a key pair; fsck checks
# shards.
source "$(dirname "$0")/cluster_lib.sh"

for c in up down submit status watch jobs job cancel retry query fsck keygen; do
  cn "$c" --help >"$T/help.txt" 2>&1 || fail "canopy $c --help exited non-zero"
  grep -q "canopy $c" "$T/help.txt" || fail "canopy $c --help does not show its usage"
done
out=$("$CANOPY" --help) && grep -q "commands:" <<<"$out" || fail "canopy --help"

# expect STATUS ARGS...: runs canopy and checks the exit status and the one-line error.
expect() {
  local want=$1 rc=0
  shift
  cn "$@" >"$T/out.txt" 2>"$T/err.txt" || rc=$?
  [ "$rc" -eq "$want" ] || fail "canopy $* exited $rc, not $want: $(cat "$T/err.txt")"
  head -1 "$T/err.txt" | grep -q "^canopy: " || fail "canopy $*: no 'canopy:' line: $(cat "$T/err.txt")"
}
expect 2 frobnicate
expect 2 --frob status
expect 2 submit
expect 2 submit nosuchkind
expect 2 submit sleep 5 --priority high
expect 2 submit sleep 5 --timeout soon
expect 2 submit sleep 5 --after x
expect 2 jobs --state sleepy
expect 2 job
expect 2 job abc
expect 2 cancel
expect 2 status extra
expect 2 up --workers many
expect 1 submit sleep 5 6          # too many arguments for the kind
expect 1 submit sleep --ms -3      # not a number
expect 1 submit sleep 5 --colour red   # an argument the kind does not take
printf '{"ms": 5}\n{"ms": \n' >"$T/bad.txt"
expect 1 submit sleep --from "$T/bad.txt"
grep -q "bad.txt:2" "$T/err.txt" || fail "--from error does not name the line: $(cat "$T/err.txt")"
expect 1 submit sleep --from "$T/none.txt"
# A query of a dataset not built yet fails with one clear line (or works, once built).
rc=0
cn query journal x >/dev/null 2>"$T/err.txt" || rc=$?
[ "$rc" -eq 0 ] || head -1 "$T/err.txt" | grep -q "^canopy: " || fail "query journal: $(cat "$T/err.txt")"
expect 2 query nosuch

# No cluster: one clear line, fast.
start=$(now_ms)
expect 1 status
grep -q "no coordinator at .*canopy up" "$T/err.txt" || fail "unclear no-cluster error: $(cat "$T/err.txt")"
expect 1 submit sleep 5
expect 1 down
[ $(( $(now_ms) - start )) -lt 5000 ] || fail "no-cluster errors took too long"
expect 1 --coordinator ipc://"$T"/nothing.sock jobs

# keygen: a key pair, secret file private, no overwrite without --force.
cn keygen --name host1 >"$T/key.txt" || fail "keygen"
[ "$(wc -c <"$D/keys/host1.public")" -eq 41 ] || fail "public key file"
[ "$(stat -c %a "$D/keys/host1.secret")" = 600 ] || fail "secret key mode"
expect 1 keygen --name host1
cn keygen --name host1 --force >/dev/null || fail "keygen --force"
cn --json keygen --name host2 | jq -e '.public | length == 40' >/dev/null || fail "keygen --json"

# fsck without shards is an error; with an empty directory, nothing to check.
expect 1 fsck
mkdir -p "$D/shards"
out=$(cn fsck) && grep -q "0 shard" <<<"$out" || fail "fsck of no shards"
log "PASS"
