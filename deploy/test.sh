#!/usr/bin/env bash
# The test command: installs missing Debian packages, builds canopy with -Werror and
# AddressSanitizer + UndefinedBehaviorSanitizer, and runs every test under CTest.
# A run that executes no test fails. Usage: deploy/test.sh [ctest args...]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bash deploy/install-deps.sh
build=${CN_BUILD_DIR:-build-test}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCN_WERROR=ON -DCN_SANITIZE=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
# libFuzzer builds of every decoder, run briefly (clang only; the replay tests
# run the same targets under gcc+ASan in CTest either way).
if command -v clang >/dev/null && [ "${CN_SKIP_LIBFUZZER:-0}" != 1 ]; then
  fbuild="$build-fuzz"
  CC=clang cmake -S . -B "$fbuild" -DCN_FUZZ=ON -DCN_SANITIZE=ON -DCN_WERROR=ON >/dev/null
  targets=$(for f in tests/fuzz/fuzz_*.c; do basename "$f" .c; done)
  # shellcheck disable=SC2086
  cmake --build "$fbuild" -j"$(nproc)" --target $targets >/dev/null
  for f in "$fbuild"/tests/fuzz_*; do
    [ -x "$f" ] && [[ "$f" != *_replay ]] || continue
    name=$(basename "$f")
    corpus=$(mktemp -d)
    cp -r tests/fuzz/corpus/"$name"/. "$corpus"/ 2>/dev/null || true
    echo "libFuzzer: $name (${CN_FUZZ_SECONDS:-20} s)"
    "$f" -max_total_time="${CN_FUZZ_SECONDS:-20}" -rss_limit_mb=4096 "$corpus" >"$corpus.log" 2>&1 \
      || { tail -40 "$corpus.log"; exit 1; }
    rm -rf "$corpus" "$corpus.log"
  done
fi
cd "$build"
ctest --output-on-failure --no-tests=error -j"${CN_TEST_JOBS:-2}" "$@"
