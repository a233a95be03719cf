#!/usr/bin/env bash
# Checks the code before the tests run: formatting (.clang-format), its
# shape (scripts/code_shape.py: file and function sizes, module shares), and
# a Clang build with the thread-safety analysis (-Wthread-safety) as errors.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files 'src/*.cc' 'src/*.h' 'tests/*.cc' 'tests/*.h' 'benchmarks/*.cc')
clang-format --dry-run --Werror "${files[@]}"
python3 scripts/code_shape.py
python3 scripts/check_map.py
cmake -S . -B build-tsa -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCZIFS_BUILD_TESTS=OFF \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_CXX_FLAGS="-Wthread-safety -Werror=thread-safety" >/dev/null
cmake --build build-tsa
