#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test (unit and integration),
# then the same tests in an AddressSanitizer + UndefinedBehaviorSanitizer build.
# The real-file corpus is read from $CZIFS_TEST_DATA (default ../shared/data/czi);
# under CI a missing corpus is a failure. CZIFS_SKIP_SANITIZERS=1 skips the
# sanitizer pass (for a quick local run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
# A relative path (CI passes ../shared/data/czi) is relative to the project
# root; tests run from build folders, so hand them an absolute one.
export CZIFS_TEST_DATA="$(realpath -m "${CZIFS_TEST_DATA:-../shared/data/czi}")"
if [ ! -d "$CZIFS_TEST_DATA/golden" ]; then
  if [ -n "${CI:-}" ]; then
    echo "czifs: CZI corpus not found at $CZIFS_TEST_DATA (required under CI)" >&2
    exit 1
  fi
  echo "czifs: warning: CZI corpus not found at $CZIFS_TEST_DATA; corpus tests will skip" >&2
fi
(cd build && ctest --output-on-failure -j "$(nproc)")
if [ "${CZIFS_SKIP_SANITIZERS:-0}" != 1 ]; then
  echo "== the same tests under AddressSanitizer + UndefinedBehaviorSanitizer"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DCZIFS_SANITIZE="address;undefined" >/dev/null
  cmake --build build-asan
  (cd build-asan &&
    ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    CZIFS_TEST_SLOWDOWN=4 ctest --output-on-failure -j "$(nproc)")
fi
