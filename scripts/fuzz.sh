#!/usr/bin/env bash
# Runs the libFuzzer target (parse -> decode -> compose -> TIFF) for a bounded
# time: bash scripts/fuzz.sh [SECONDS] (default 60). Built with clang, ASan and
# UBSan in build-fuzz/. Seeds: tests/fuzz/corpus (writer output),
# tests/fuzz/regressions (past findings) and the real corpus files up to
# 512 KiB from $CZIFS_TEST_DATA (read in place, never copied into the project).
# A finding fails the run and leaves its input in build-fuzz/artifacts/;
# add it to tests/fuzz/regressions once fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCZIFS_BUILD_FUZZERS=ON -DCZIFS_BUILD_TESTS=OFF \
  -DCZIFS_SANITIZE="address;undefined" >/dev/null
cmake --build build-fuzz --target fuzz_czi czifs-jxr-helper
work=build-fuzz/corpus-work
real=build-fuzz/corpus-real
mkdir -p "$work" "$real" build-fuzz/artifacts
rm -f "$real"/*
data="$(realpath -m "${CZIFS_TEST_DATA:-../shared/data/czi}")"
if [ -d "$data" ]; then
  find "$data" -maxdepth 1 -name '*.czi' -size -513k -exec ln -sf {} "$real/" \;
fi
echo "== fuzzing for ${seconds} s ($(ls "$real" | wc -l) real corpus seeds)"
log=build-fuzz/fuzz.log
status=0
ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  build-fuzz/fuzz_czi "$work" tests/fuzz/corpus tests/fuzz/regressions "$real" \
  -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2560 -max_len=1048576 \
  -artifact_prefix=build-fuzz/artifacts/ -print_final_stats=1 >"$log" 2>&1 || status=$?
# The progress lines are noise; findings and the final statistics are not.
grep -vE '^#[0-9]+\s+(NEW|REDUCE|pulse|RELOAD)' "$log" | tail -n 60
exit "$status"
