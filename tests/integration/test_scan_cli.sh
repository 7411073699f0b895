#!/usr/bin/env bash
# test_scan_cli: filesystem scans through the CLI on a running local cluster.
# Bad roots fail with a clear message; a tree with an unreadable directory,
# symlink loops, dangling links, names of every byte value and a chain deeper
# than 4,096 levels is scanned (the error is counted and listed, the scan goes
# on); list, --ls, --stat, --find and --diff answer (text and --json); and
# after `canopy down`, dropping and replaying the journals (--rebuild) gives
# byte-identical answers, and so does the merged store. The cluster runs as an unprivileged user when the
# test runs as root, so permission bits really deny.
source "$(dirname "$0")/cluster_lib.sh"
# The output of a command that is expected to fail (pipefail would hide a match).
errout() { "$@" 2>&1 || true; }

AS=()
if [ "$(id -u)" -eq 0 ]; then
  AS=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  chmod 755 "$T"
  mkdir -p "$D" && chmod 777 "$D"
fi
R="$T/tree"
SP="test-space"

# ---- the tree ----
mkdir -p "$R/src/lib" "$R/etc" "$R/shut/inner"
echo "int main;" >"$R/src/main.c"
echo "x" >"$R/src/lib/util.c"
echo "conf" >"$R/etc/app.conf"
ln -s ../src/main.c "$R/etc/main-link"
ln -s loop "$R/etc/loop"
ln -s nowhere "$R/etc/dangling"
ln -s /etc/passwd "$R/etc/outside"
echo hidden >"$R/shut/inner/secret"
# names with bytes that are not UTF-8, and one of every byte value
mkdir "$R/bytes"
python3 - "$R/bytes" <<'EOF'
import os, sys
d = sys.argv[1].encode()
for c in range(1, 256):
    if c in (ord('/'), ord('.')):
        continue
    open(d + b'/n' + bytes([c]) + b'\xfe', 'w').close()
# a chain deeper than 4096 levels, made with relative paths
os.chdir(os.path.dirname(sys.argv[1]))
os.mkdir('deep'); os.chdir('deep')
for i in range(4200):
    os.mkdir('d'); os.chdir('d')
open('leaf', 'w').write('bottom')
EOF
chmod -R a+rX "$R"
chmod 000 "$R/shut"

"${AS[@]}" "$CANOPY" --data "$D" up --workers 2 --slots 2 --detach >"$T/up.out" 2>&1 || { cat "$T/up.out" >&2; fail "up"; }

# ---- bad roots: dead at once with a message ----
id=$(cn submit scan "$T/does-not-exist" --space bad1 --wait 2>/dev/null) && fail "a missing root succeeded"
id=$(cn --json jobs | jq '[.[] | select(.kind == "scan")] | .[-1].id')
wait_state "$id" dead 20
cn --json job "$id" | jq -r .error | grep -q "does not exist" || fail "missing root message: $(cn --json job "$id" | jq -r .error)"
cn submit scan "$R/src/main.c" --space bad2 --wait >/dev/null 2>&1 && fail "a file as root succeeded"
id=$(cn --json jobs | jq '[.[] | select(.kind == "scan")] | .[-1].id')
cn --json job "$id" | jq -r .error | grep -q "not a directory" || fail "file root message"

# ---- a scan ----
a=$(cn submit scan "$R" --space "$SP" --wait 2>"$T/w.err") || { cat "$T/w.err" >&2; fail "scan 1"; }
cn --json query scan "$SP" >"$T/list.json" || fail "list"
jq -e 'length == 1' "$T/list.json" >/dev/null || fail "one scan expected: $(cat "$T/list.json")"
jq -e --argjson a "$a" '.[0].job == $a and .[0].errors_total == 1 and .[0].errors[0].path == "shut"
  and .[0].errors[0].what == "open directory"' "$T/list.json" >/dev/null || fail "errors: $(cat "$T/list.json")"
# every entry but the two below the unreadable directory: count with find as root
want=$(( $(find "$R" -print0 | tr -cd '\0' | wc -c) - 2 ))
[ "$(jq '.[0].entries' "$T/list.json")" -eq "$want" ] || fail "entries $(jq '.[0].entries' "$T/list.json") != $want"
cn query scan "$SP" | grep -q "error: shut: Permission denied" || fail "text list shows no error"

# --ls: names byte for byte (text), and as JSON
# (fixed-width columns: the name starts at byte 59; names may hold spaces and newlines)
# (the name with a newline is checked with --stat below: it spans two lines)
cn query scan "$SP" --ls "$R/bytes" | LC_ALL=C cut -b59- | LC_ALL=C grep -v -e '^$' -e '^n$' -e $'^\xfe$' | LC_ALL=C sort >"$T/ls.txt"
(cd "$R/bytes" && ls -1 | LC_ALL=C grep -v -e '^n$' -e $'^\xfe$' | LC_ALL=C sort) >"$T/ls.want"
[ "$(wc -l <"$T/ls.want")" -eq 252 ] || fail "expected 252 one-line names"
cmp -s "$T/ls.txt" "$T/ls.want" || fail "--ls names differ from ls"
cn --json query scan "$SP" --stat $'bytes/n\n\xfe' | jq -e '.type == "file"' >/dev/null || fail "stat of a name with a newline"
[ "$(cn --json query scan "$SP" --ls bytes | jq length)" -eq 253 ] || fail "--ls --json count"
errout cn query scan "$SP" --ls src/main.c | grep -q "not a directory" || fail "--ls of a file"

# --stat and --ls --json: types and symlink resolution (inside, loop, dangling, outside)
cn --json query scan "$SP" --stat "$R/src/main.c" | jq -e '.type == "file" and .size == 10' >/dev/null || fail "stat file"
cn --json query scan "$SP" --ls etc | jq -e 'map({(.name): (.link // .type)}) | add |
  .["main-link"] == "inside" and .loop == "broken" and .dangling == "broken" and .outside == "outside"' >/dev/null \
  || fail "symlink resolution: $(cn --json query scan "$SP" --ls etc)"
cn query scan "$SP" --stat etc/main-link | grep -qx "leads:  $R/src/main.c" || fail "stat shows where a link leads"
errout cn query scan "$SP" --stat nope | grep -q "does not exist" || fail "stat of a missing path"
errout cn query scan "$SP" --stat /elsewhere | grep -q "not under the scan root" || fail "stat outside the root"
deep="deep$(printf '/d%.0s' $(seq 1 4200))/leaf"
cn --json query scan "$SP" --stat "$deep" | jq -e '.size == 6' >/dev/null || fail "stat 4200 levels down"

# --find: by name, glob, path glob
[ "$(cn query scan "$SP" --find leaf)" = "$R/$deep" ] || fail "find leaf"
cn query scan "$SP" --find '*.c' | sort >"$T/find.txt"
printf '%s\n' "$R/src/lib/util.c" "$R/src/main.c" >"$T/find.want"
cmp -s "$T/find.txt" "$T/find.want" || fail "find *.c: $(cat "$T/find.txt")"
[ "$(cn --json query scan "$SP" --find 'src/*.c' | jq -r '.[].path')" = "$R/src/main.c" ] || fail "find path glob"

# ---- a second scan and the diff ----
rm "$R/etc/app.conf"
echo "more" >>"$R/src/main.c"
echo new >"$R/src/new.h"
b=$(cn submit scan "$R" --space "$SP" --wait 2>/dev/null) || fail "scan 2"
cn query scan "$SP" --diff "$a" "$b" >"$T/diff.txt" || fail "diff"
grep -qx -- "- $R/etc/app.conf" "$T/diff.txt" || fail "diff removed: $(cat "$T/diff.txt")"
grep -qx -- "+ $R/src/new.h" "$T/diff.txt" || fail "diff added"
grep -q -- "^~ $R/src/main.c (size,mtime)" "$T/diff.txt" || fail "diff changed"
tail -1 "$T/diff.txt" | grep -qx "1 added, 1 removed, 3 changed" || fail "diff summary: $(tail -1 "$T/diff.txt")"
cn --json query scan "$SP" --diff "$a" "$b" | jq -e '.added == 1 and .removed == 1' >/dev/null || fail "diff json"
# the latest scan is the default; --scan picks an older one
cn query scan "$SP" --stat etc/app.conf >/dev/null 2>&1 && fail "latest scan still has app.conf"
cn query scan "$SP" --scan "$a" --stat etc/app.conf >/dev/null || fail "--scan $a"

# ---- replay: same answers after dropping the derived tables ----
answers() {
  cn --json query scan "$SP" | jq -c 'map(del(.shard, .journal_id))'
  cn --json query scan "$SP" --scan "$a" --ls etc
  cn --json query scan "$SP" --ls bytes
  cn --json query scan "$SP" --scan "$a" --stat etc/app.conf
  cn --json query scan "$SP" --diff "$a" "$b"
}
answers >"$T/before.txt"
errout cn query scan --rebuild | grep -q "stop the cluster" || fail "rebuild beside running workers must refuse"
cn down --timeout 20s >/dev/null 2>&1 || fail "down"
cn query scan --rebuild >"$T/rebuild.txt" || fail "rebuild: $(cat "$T/rebuild.txt")"
grep -q "scans replayed" "$T/rebuild.txt" || fail "rebuild report"
answers >"$T/after.txt"
cmp -s "$T/before.txt" "$T/after.txt" || { diff "$T/before.txt" "$T/after.txt" | head >&2; fail "answers differ after replay"; }
# ---- the merged store: queries read it first, with the same answers ----
cn merge >"$T/merge.txt" 2>&1 || fail "merge: $(cat "$T/merge.txt")"
cn --json query scan "$SP" | jq -e 'length == 2 and all(.[]; .shard == "merged")' >/dev/null \
  || fail "scans not read from the merged store: $(cn --json query scan "$SP")"
answers >"$T/merged.txt"
cmp -s "$T/before.txt" "$T/merged.txt" || { diff "$T/before.txt" "$T/merged.txt" | head >&2; fail "answers differ from the merged store"; }
log "scan CLI: all checks passed"
