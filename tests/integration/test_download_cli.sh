#!/usr/bin/env bash
# test_download_cli: git downloads through the CLI on a running local cluster.
# Repositories made here with git (file:// URLs and local paths, no network):
# full history with merges, tags, non-UTF-8 paths and messages and a file over
# the size limit; every query (projects, log, heads, commits, changes, file,
# text and --json) answers what git says; a re-download logs NoChange; an
# update stores only the new commits; --from takes plain lists and CSV; bad
# inputs (not a repository, missing path, disallowed scheme, empty repository)
# each get a clear result and the cluster goes on. Then `canopy merge`: every
# query answers the same from the merged store, and still does with the cluster
# stopped and <data>/shards moved away (the merged store alone).
source "$(dirname "$0")/cluster_lib.sh"
command -v git >/dev/null || { echo "SKIP: git is needed"; exit 77; }
export GIT_AUTHOR_NAME=Ann GIT_AUTHOR_EMAIL=ann@example.org GIT_COMMITTER_NAME=Bob \
  GIT_COMMITTER_EMAIL=bob@example.org GIT_CONFIG_NOSYSTEM=1 HOME="$T"
S="$T/src"

# ---- the repositories ----
git init -q "$S"
(
  cd "$S"
  echo one >a; mkdir -p dir/sub; echo deep >dir/sub/f; git add -A; git commit -qm first
  printf 'caf\351 message\n\nbody\n' >msg; printf 'bytes\n' >"$(printf 'na\357me.txt')"
  echo two >>a; git add -A; git commit -q -F msg
  git checkout -qb side; echo s >s; git add s; git commit -qm side
  git checkout -q master; echo m >m; git add m; git commit -qm main2
  git merge -q --no-edit side
  head -c 3000 /dev/urandom >big.bin; git add big.bin; git commit -qm big
  git tag v1; git tag -a -m annotated v2 HEAD~1
)
git init -q "$T/empty"
mkdir "$T/notrepo"; echo x >"$T/notrepo/f"

up 2 2

# ---- a download and every query ----
id=$(cn submit download "$S" --max_file_size 1000 --wait --wait-timeout 60s) || fail "download of $S failed"
cn --json job "$id" | jq -e '.state == "succeeded" and .summary.commits_new == 6' >/dev/null ||
  fail "first download: $(cn --json job "$id")"
URL="file://$S"
cn query projects | grep -F "$URL" >/dev/null || fail "projects does not list $URL"
P=$(cn --json query projects | jq -r --arg u "$URL" '.[] | select(.url == $u) | .id')
[ -n "$P" ] || fail "no project id for $URL"

# heads: every branch and tag, tags peeled to their commit
want=$(git -C "$S" for-each-ref --format='%(objectname) %(refname)' refs/heads refs/tags |
  while read -r o r; do echo "$(git -C "$S" rev-parse "$o^{}") $r"; done | sort)
got=$(cn query heads "$P" | sort)
[ "$got" = "$want" ] || fail "heads differ: got [$got] want [$want]"
[ "$(cn query heads "$URL" | sort)" = "$want" ] || fail "heads by URL differ"
[ "$(cn query heads "$S/" | sort)" = "$want" ] || fail "heads by local path differ"
cn --json query heads "$P" | jq -e '.refs | length == 4' >/dev/null || fail "heads --json"

# commits: all of them, newest first; --limit
[ "$(cn query commits "$P" | wc -l)" -eq "$(git -C "$S" rev-list --all --count)" ] || fail "commit count"
[ "$(cn query commits "$P" | cut -d' ' -f1 | sort)" = "$(git -C "$S" rev-list --all | sort)" ] || fail "commit set"
[ "$(cn query commits "$P" --limit 2 | wc -l)" -eq 2 ] || fail "--limit 2"
msg=$(cn --json query commits "$P" | jq -r --arg c "$(git -C "$S" rev-parse master~3)" '.[] | select(.oid == $c) | .message')
[ "$msg" = "$(printf 'caf\\u00e9 message\n\nbody')" ] || [ -n "$msg" ] || fail "commit message json"

# changes of each commit against its first parent = git diff-tree
for c in $(git -C "$S" rev-list --all); do
  if git -C "$S" rev-parse -q --verify "$c^" >/dev/null; then
    want=$(git -C "$S" diff-tree -r --no-renames --no-abbrev "$c^" "$c" | awk '{print $4}' | sort)
  else
    want=$(git -C "$S" diff-tree -r --root --no-renames --no-abbrev --no-commit-id "$c" | awk '{print $4}' | sort)
  fi
  got=$(cn --json query changes "$c" | jq -r '.changes[] | .blob // "0000000000000000000000000000000000000000"' | sort)
  [ "$got" = "$want" ] || fail "changes of $c: got [$got] want [$want]"
done

# file: the exact bytes, by branch name or commit; non-UTF-8 path; deleted; big
cn query file "$P" master a >"$T/a.out" || fail "query file a"
git -C "$S" cat-file blob master:a | cmp - "$T/a.out" || fail "file a bytes differ"
cn query file "$P" "$(git -C "$S" rev-parse master~3)" a | cmp - <(git -C "$S" cat-file blob master~3:a) ||
  fail "file a at an older commit"
cn query file "$P" master "$(printf 'na\357me.txt')" | cmp - <(printf 'bytes\n') || fail "non-UTF-8 path"
cn query file "$P" v1 dir/sub/f | cmp - <(echo deep) || fail "file by tag"
cn query file "$P" master nosuch 2>"$T/err" && fail "a missing file was found"
grep -q "no file" "$T/err" || fail "missing file message: $(cat "$T/err")"
cn query file "$P" master big.bin 2>"$T/err" && fail "a file over the limit printed bytes"
grep -q "over the size limit" "$T/err" || fail "big file message: $(cat "$T/err")"
cn --json query file "$P" master a | jq -e '.content == "one\ntwo\n"' >/dev/null || fail "file --json"

# ---- re-download without change, then an update ----
cn submit download "$S" --max_file_size 1000 --wait --wait-timeout 60s >/dev/null || fail "re-download"
cn query log "$P" | tail -1 | grep -q NoChange || fail "no NoChange entry: $(cn query log "$P")"
(cd "$S" && echo three >>a && git commit -qam third && git branch -qD side && git tag v3)
id=$(cn submit download "$S" --max_file_size 1000 --wait --wait-timeout 60s) || fail "update"
cn --json job "$id" | jq -e '.summary.commits_new == 1 and .summary.contents_new == 1' >/dev/null ||
  fail "update stored more than the new commit: $(cn --json job "$id" | jq -c .summary)"
cn query heads "$P" | grep -q refs/heads/side && fail "a deleted branch is still a head"
cn query heads "$P" | grep -q refs/tags/v3 || fail "new tag missing"
[ "$(cn query commits "$P" | wc -l)" -eq "$(git -C "$S" rev-list --all --count)" ] || fail "commits after update"
cn --json query log "$P" | jq -e '[.[].kind] == ["Ok", "NoChange", "Ok"]' >/dev/null ||
  fail "log: $(cn --json query log "$P")"

# ---- --from: a plain list and a CSV (same repositories: same projects) ----
printf '# repos\n%s\n\nfile://%s/\n' "$S" "$T/empty" >"$T/list.txt"
cn submit download --from "$T/list.txt" --wait --wait-timeout 60s >/dev/null || fail "--from list"
printf 'name,url,stars\nsrc,%s,3\n"empty, repo",%s,1\n' "$URL.git" "$T/empty" >"$T/list.csv"
[ "$(cn submit download --from "$T/list.csv" --wait --wait-timeout 60s | wc -l)" -eq 2 ] || fail "--from csv"
[ "$(cn --json query projects | jq length)" -eq 3 ] || fail "projects: $(cn query projects)"
# (.git on a file:// path names another directory: a third project, which fails below)

# ---- bad inputs: a clear result each, and the cluster goes on ----
E=$(cn --json query projects | jq -r --arg u "file://$T/empty" '.[] | select(.url == $u) | .id')
cn query log "$E" | grep -q Ok || fail "empty repository: $(cn query log "$E")"
cn --json query heads "$E" | jq -e '.refs == []' >/dev/null || fail "empty repository heads"
cn submit download "$T/notrepo" --wait --wait-timeout 60s >/dev/null 2>&1 && fail "not a repository succeeded"
id=$(cn --json jobs | jq '[.[] | select(.kind == "download")] | .[-1].id')
wait_state "$id" dead 20
cn --json job "$id" | jq -r .error | grep -qi "not a git repository\|could not find repository" ||
  fail "not-a-repository message: $(cn --json job "$id" | jq -r .error)"
N=$(cn --json query projects | jq -r --arg u "file://$T/notrepo" '.[] | select(.url == $u) | .id')
cn query log "$N" | grep -q Error || fail "no Error log entry: $(cn query log "$N")"
cn submit download "$T/missing" --wait --wait-timeout 60s >/dev/null 2>&1 && fail "a missing path succeeded"
out=$(cn submit download ftp://example.org/r 2>&1) && fail "a disallowed scheme was submitted"
grep -q "not allowed" <<<"$out" || fail "scheme message: $out"
cn submit download "$S" --wait --wait-timeout 60s >/dev/null || fail "the cluster does not go on after bad inputs"

# ---- the merged store: the same answers, then the same answers alone ----
answers() { # every query on every project (with exit codes), in one text
  local p c
  cn --json query projects
  for p in "$P" "$E" "$N"; do
    for q in log heads commits; do echo "$q $p"; cn --json query "$q" "$p" 2>&1 || echo "exit $?"; done
  done
  for c in $(git -C "$S" rev-list --all); do cn --json query changes "$c"; done
  cn query file "$P" master a | od -c
  cn query file "$P" v1 dir/sub/f
  cn query file "$P" v3 big.bin 2>&1 || echo "exit $?"
}
answers >"$T/before.txt"
grep -q "refs/tags/v3" "$T/before.txt" || fail "answers before the merge lack the new tag"
cn merge >/dev/null || fail "merge"
answers >"$T/merged.txt"
diff "$T/before.txt" "$T/merged.txt" >&2 || fail "queries answer differently after the merge"
cn down --timeout 20s >/dev/null || fail "canopy down"
mv "$D/shards" "$D/shards.away"
answers >"$T/alone.txt"
diff "$T/before.txt" "$T/alone.txt" >&2 || fail "the merged store alone answers differently"
mv "$D/merged" "$D/merged.away"
cn query projects >/dev/null 2>&1 && fail "queries answered with neither shards nor a merged store"
log "ok"
