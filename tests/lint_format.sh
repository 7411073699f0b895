#!/usr/bin/env bash
# Fails if a C source or header differs from the checked-in .clang-format.
# Fix with: clang-format -i FILE
set -u
src=${1:-.}
cd "$src" || exit 1
command -v clang-format >/dev/null || { echo "clang-format is not installed (deploy/install-deps.sh installs it)"; exit 1; }
bad=$(git ls-files '*.c' '*.h' 2>/dev/null || find common proto storage coordinator worker cli tests -name '*.[ch]')
out=""
for f in $bad; do clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || out="$out $f"; done
if [ -n "$out" ]; then echo "not formatted (clang-format -i):$out"; exit 1; fi
echo "every C file is formatted"
