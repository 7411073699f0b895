# shellcheck shell=bash
# demo.d/20-scan.sh: part of deploy/demo.sh (sourced). Filesystem scans of real
# trees: /usr/include and this canopy checkout; queries of them (list, --ls,
# --find); then a small tree is scanned, changed (a file edited, one added, one
# removed) and scanned again, and --diff shows exactly those changes.
# Reports entry counts and the diff to $SUMMARY.
step "scan: /usr/include and the canopy checkout ($here)"
t0=$(date +%s%3N)
sid_inc=$(cn submit scan /usr/include --space include --wait)
sid_src=$(cn submit scan "$here" --space canopy-src --wait)
t1=$(date +%s%3N)
cn query scan include
cn query scan canopy-src

step "scan: query scan include --ls /usr/include (first lines)"
cn query scan include --ls /usr/include | sed -n '1,8p'
step "scan: query scan canopy-src --find '*.proto'"
cn query scan canopy-src --find '*.proto' | sed -n '1,10p'

step "scan: a tree scanned, changed, scanned again, and --diff"
TREE="$WORK/tree"
mkdir -p "$TREE/docs"
cp "$here/README.md" "$TREE/docs/"
cp -r "$here/proto" "$TREE/proto"
echo "first" >"$TREE/notes.txt"
sid_a=$(cn submit scan "$TREE" --space demo-tree --wait)
echo "second line" >>"$TREE/notes.txt"
echo "new" >"$TREE/docs/added.txt"
rm "$TREE/proto/wire.h"
sid_b=$(cn submit scan "$TREE" --space demo-tree --wait)
cn query scan demo-tree
diff_out=$(cn query scan demo-tree --diff "$sid_a" "$sid_b")
echo "$diff_out"
diff_line=$(tail -1 <<<"$diff_out")

entries() { cn --json query scan "$1" --scan "$2" | jq '[.[] | .entries] | add'; }
echo "scan: /usr/include $(entries include "$sid_inc") entries, canopy checkout $(entries canopy-src "$sid_src") entries ($((t1 - t0)) ms for both); demo tree diff: $diff_line" >>"$SUMMARY"
