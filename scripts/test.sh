#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test (unit and integration),
# then the same tests in an AddressSanitizer + UndefinedBehaviorSanitizer build,
# every unit test (ctest label `unit`) and the integration tests marked
# `concurrency` (mounts under load, changes, signals) in a ThreadSanitizer build, and the libFuzzer target for 60 s
# (CZIFS_FUZZ_SECONDS changes that; 0 skips it). scripts/check.sh first
# checks the code's shape (format, sizes) and builds it with Clang's
# thread-safety analysis as errors.
# The real-file corpus is read from $CZIFS_TEST_DATA (default ../shared/data/czi);
# under CI a missing corpus is a failure. CZIFS_SKIP_SANITIZERS=1 skips the
# sanitizer passes (for a quick local run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --tests
bash scripts/build.sh -DCZIFS_BUILD_TESTS=ON
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
bash scripts/check.sh
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

  echo "== concurrency tests under ThreadSanitizer"
  cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCZIFS_SANITIZE=thread >/dev/null
  cmake --build build-tsan
  rm -f build-tsan/tsan.*
  export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 log_path=$PWD/build-tsan/tsan"
  (cd build-tsan && ctest --output-on-failure -j "$(nproc)" -L unit)
  (cd build-tsan &&
    CZIFS_TEST_SLOWDOWN=8 CZIFS_LOAD_SECONDS=20 /usr/bin/python3 -m pytest -q \
      ../tests/integration -m concurrency \
      --czifs=./czifs --czi-synth=./czi-synth)
  unset TSAN_OPTIONS
  if ls build-tsan/tsan.* >/dev/null 2>&1; then
    cat build-tsan/tsan.*
    echo "czifs: ThreadSanitizer reported the above" >&2
    exit 1
  fi
fi
if [ "${CZIFS_FUZZ_SECONDS:-60}" != 0 ]; then
  bash scripts/fuzz.sh "${CZIFS_FUZZ_SECONDS:-60}"
fi
