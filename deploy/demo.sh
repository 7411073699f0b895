#!/usr/bin/env bash
# The main job: installs missing Debian packages, builds a release build
# (build-release/), starts a local canopy cluster (a coordinator and 2 workers) in
# a fresh data directory, runs the embedded default workload (each deploy/demo.d/*.sh
# in order: jobs, then the scan and download steps as they are added), prints a
# summary and stops the cluster. The data directory is kept for queries.
# Usage: deploy/demo.sh [--data DIR] [--workers N] [--slots N]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

DATA=""
WORKERS=2
SLOTS=4
while [ $# -gt 0 ]; do
  case "$1" in
    --data) DATA=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    --slots) SLOTS=$2; shift 2 ;;
    -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

step() { printf '\n==> %s\n' "$*"; }

step "dependencies (deploy/install-deps.sh)"
bash deploy/install-deps.sh

BUILD=${CN_BUILD_DIR:-build-release}
case "$BUILD" in /*) ;; *) BUILD="$here/$BUILD" ;; esac
step "release build in $BUILD/"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target canopy canopy-coordinator canopy-worker 2>&1 | grep -E "error|warning|Built target" || true
CANOPY="$BUILD/canopy"
[ -x "$CANOPY" ] || { echo "demo: the build did not produce $CANOPY" >&2; exit 1; }

if [ -z "$DATA" ]; then
  DATA=$(mktemp -d /tmp/canopy-demo.XXXXXX)/canopy-data
fi
mkdir -p "$DATA"
DATA=$(cd "$DATA" && pwd)
cn() { "$CANOPY" --data "$DATA" "$@"; }

stop_cluster() {
  if [ -f "$DATA/up.pid" ]; then
    step "canopy down"
    cn down || true
  fi
}
trap stop_cluster EXIT

step "canopy up --workers $WORKERS --slots $SLOTS --detach"
cn up --workers "$WORKERS" --slots "$SLOTS" --detach

# The workload: every deploy/demo.d/*.sh, in name order. Each runs with cn (the
# CLI on this cluster), CANOPY, DATA, WORK (a scratch directory) and step; it may
# append lines to $SUMMARY for the final report.
WORK=$(mktemp -d /tmp/canopy-demo-work.XXXXXX)
SUMMARY="$WORK/summary.txt"
: >"$SUMMARY"
export CANOPY DATA WORK SUMMARY here
for part in deploy/demo.d/*.sh; do
  [ -f "$part" ] || continue
  # shellcheck source=/dev/null
  source "$part"
done

step "status"
cn status

step "summary"
cat "$SUMMARY"
echo "data directory: $DATA (logs in $DATA/logs/)"
echo "look around:    $CANOPY --data $DATA up --detach; $CANOPY --data $DATA jobs"
stop_cluster
trap - EXIT
rm -rf "$WORK"
