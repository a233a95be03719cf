#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test (unit and integration).
# The real-file corpus is read from $CZIFS_TEST_DATA (default ../shared/data/czi);
# under CI a missing corpus is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
export CZIFS_TEST_DATA="${CZIFS_TEST_DATA:-$(cd .. && pwd)/shared/data/czi}"
if [ ! -d "$CZIFS_TEST_DATA/golden" ]; then
  if [ -n "${CI:-}" ]; then
    echo "czifs: CZI corpus not found at $CZIFS_TEST_DATA (required under CI)" >&2
    exit 1
  fi
  echo "czifs: warning: CZI corpus not found at $CZIFS_TEST_DATA; corpus tests will skip" >&2
fi
cd build
ctest --output-on-failure -j "$(nproc)"
