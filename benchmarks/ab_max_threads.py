#!/usr/bin/env python3
"""A/B of FUSE request threads: first read of every plane of a workload, with
`-o max_threads=A` and `-o max_threads=B` interleaved, ROUNDS times.

    python3 benchmarks/ab_max_threads.py [BUILD] [WORKLOAD] [A] [B] [ROUNDS]
    (defaults: build build/bench-data/w1_uncompressed.czi 4 16 3)
"""
import os
import subprocess
import sys
import time

build = sys.argv[1] if len(sys.argv) > 1 else "build"
czi = sys.argv[2] if len(sys.argv) > 2 else os.path.join(build, "bench-data", "w1_uncompressed.czi")
variants = [int(sys.argv[3]) if len(sys.argv) > 3 else 4, int(sys.argv[4]) if len(sys.argv) > 4 else 16]
rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 3
mnt = "/tmp/czifs-ab-mnt"
os.makedirs(mnt, exist_ok=True)
results = {v: [] for v in variants}
for _ in range(rounds):
    for v in variants:
        subprocess.run([os.path.join(build, "czifs"), "-o", f"max_threads={v}", czi, mnt], check=True)
        try:
            planes = sorted(os.path.join(d, f) for d, _, fs in os.walk(mnt) for f in fs
                            if f.endswith(".tif") and f != "hyperstack.tif")
            start, n = time.monotonic(), 0
            for p in planes:
                with open(p, "rb", buffering=0) as fh:
                    while chunk := fh.read(1 << 20):
                        n += len(chunk)
            results[v].append(n / (time.monotonic() - start) / 1e9)
        finally:
            subprocess.run(["fusermount3", "-u", mnt])
        time.sleep(0.5)
for v in variants:
    print(f"max_threads={v}: " + ", ".join(f"{x:.2f}" for x in sorted(results[v])) + " GB/s")
