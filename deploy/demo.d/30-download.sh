# shellcheck shell=bash
# demo.d/30-download.sh: part of deploy/demo.sh (sourced). Git downloads with no
# network: this canopy checkout ($here, a local path) and a small repository made
# here with git; the small one gets two new commits and is downloaded again (a
# second Ok with only the new commits), then once more (NoChange). Shows
# projects, log, heads, commits --limit 5 and file. Reports to $SUMMARY.
step "download: the canopy checkout ($here) and a small repository made in $WORK"
R="$WORK/repo"
rgit() { git -C "$R" -c user.name="Demo Author" -c user.email=demo@example.org "$@"; }
# Commits a day apart (a fixed clock: the same history, and a readable log, every run).
day=0
rcommit() {
  day=$((day + 1))
  local at
  at=$(printf '2024-01-%02d 12:00:00 +0000' "$day")
  GIT_AUTHOR_DATE=$at GIT_COMMITTER_DATE=$at rgit commit -q "$@"
}
git init -q "$R"
git -C "$R" symbolic-ref HEAD refs/heads/main
printf 'hello\n' >"$R/hello.txt"
mkdir -p "$R/src" && printf 'int main(void) { return 0; }\n' >"$R/src/main.c"
rgit add -A && rcommit -m "first: hello and main.c"
printf 'hello again\n' >>"$R/hello.txt"
rcommit -am "second: hello grows" && rgit tag v1
printf '# demo\n' >"$R/README.md"
rgit add README.md && rcommit -m "third: a README"
# The checkout itself when it is a git repository (not, say, an unpacked tarball).
SRC=""
git -C "$here" rev-parse --git-dir >/dev/null 2>&1 && SRC=$here
t0=$(date +%s%3N)
ids=$(cn submit download ${SRC:+"$SRC"} "$R" --wait --wait-timeout 300s)
t1=$(date +%s%3N)
id_r1=$(echo "$ids" | tail -1)
cn query projects

step "download: the small repository changes (two commits) and is downloaded again"
printf 'new file\n' >"$R/src/util.c"
rgit add -A && rcommit -m "fourth: util.c"
rgit rm -q hello.txt && rcommit -m "fifth: hello.txt removed"
id_r2=$(cn submit download "$R" --wait)
id_r3=$(cn submit download "$R" --wait)
cn query log "$R"
cn query heads "$R"
cn query commits "$R"

if [ -n "$SRC" ]; then
  id_src=$(echo "$ids" | sed -n 1p)
  step "download: the canopy checkout: log, heads, commits --limit 5, file README.md"
  cn query log "$SRC"
  heads=$(cn query heads "$SRC")
  echo "$heads"
  cn query commits "$SRC" --limit 5
  head_ref=$(echo "$heads" | sed -n '1s/^[0-9a-f]* //p')
  cn query file "$SRC" "$head_ref" README.md | sed -n '1,6p'
  summary=$(cn --json job "$id_src" | jq -r '"\(.summary.commits_new // 0) commits (\(.summary.contents_new // 0) file contents)"')
  echo "download: canopy checkout $summary in $((t1 - t0)) ms together with the small repository" >>"$SUMMARY"
fi
step "download: file at a tag and at the newest commit"
cn query file "$R" v1 hello.txt
cn query file "$R" main src/util.c

new() { cn --json job "$1" | jq -r '.summary.commits_new // 0'; }
kinds=$(cn --json query log "$R" | jq -r '[.[].kind] | join(", ")')
echo "download: small repository $(new "$id_r1") commits, then $(new "$id_r2") new, then $(new "$id_r3") new; its log: $kinds" >>"$SUMMARY"
