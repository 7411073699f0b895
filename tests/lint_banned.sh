#!/usr/bin/env bash
# Fails if any of our C sources calls a libc function listed in common/banned.h.
set -u
src=${1:-.}
pattern='\b(strcpy|strcat|strncpy|strncat|sprintf|vsprintf|gets|atoi|strtok)[[:space:]]*\('
hits=$(grep -rnE "$pattern" "$src"/{common,proto,storage,coordinator,worker,cli,tests} --include='*.c' --include='*.h' 2>/dev/null \
  | grep -v 'common/banned.h' | grep -vE '(snprintf|vsnprintf|asprintf)' )
if [ -n "$hits" ]; then
  echo "banned calls (see common/banned.h):"; echo "$hits"; exit 1
fi
echo "no banned calls"
