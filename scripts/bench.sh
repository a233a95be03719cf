#!/usr/bin/env bash
# Builds czifs with benchmarks, runs the micro-benchmarks and the mount suite.
# Workloads (about 2.7 GB) are generated once into build/bench-data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --tests
dpkg-query -W -f='${Status}' python3-matplotlib 2>/dev/null | grep -q "install ok installed" ||
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-matplotlib >/dev/null
bash scripts/build.sh -DCZIFS_BUILD_BENCHMARKS=ON >/dev/null
echo "== micro-benchmarks"
./build/benchmarks/czifs_micro_bench --benchmark_min_time=0.2 "$@"
echo
echo "== mount suite"
/usr/bin/python3 benchmarks/run_suite.py --build build --data build/bench-data \
  --out build/bench-results --repeat 3
