#!/usr/bin/env python3
"""First-read throughput of uncompressed 2x2-mosaic planes against the FUSE
ceiling measured in the same run (and, if given, a second czifs binary), with
the number of source reads per plane.

    cmake -S . -B build -DCZIFS_BUILD_BENCHMARKS=ON && cmake --build build
    python3 benchmarks/mosaic_vs_ceiling.py build --data /tmp/czifs-mosaic [--old OLD/czifs]

The workload (1 GiB): Gray16, 2x2 tiles of 2048x2048 without overlap, Z=32;
each plane a 32 MiB TIFF. The CZI is in the page cache before every run, so
the figure is czifs' own cost, not the disk's.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from run_suite import Mount, cat_all, timed  # noqa: E402


def planes_of(mnt):
    out = []
    for root, _, files in os.walk(mnt):
        out += [os.path.join(root, f) for f in files if f.startswith("Z") and f.endswith(".tif")]
    return sorted(out)


def first_read(czifs, czi, mnt):
    cat_all([czi])()
    with Mount([czifs, "-f", czi, mnt, "--without", "tiles,pyramid,hyperstacks"], mnt):
        planes = planes_of(mnt)
        total = sum(os.path.getsize(p) for p in planes)
        return total / timed(cat_all(planes)) / 1e9, len(planes), os.path.getsize(planes[0])


def preads_per_plane(czifs, czi, mnt):
    with Mount([czifs, "-f", czi, mnt], mnt) as m:
        plane = planes_of(mnt)[0]
        os.path.getsize(plane)
        log = os.path.join(os.path.dirname(mnt), "strace.txt")
        st = subprocess.Popen(["strace", "-f", "-c", "-e", "trace=pread64", "-o", log, "-p",
                               str(m.proc.pid)], stderr=subprocess.DEVNULL)
        time.sleep(1)
        cat_all([plane])()
        time.sleep(0.5)
    st.wait(timeout=30)
    with open(log) as f:
        for line in f:
            if "pread64" in line:
                return int(line.split()[3])
    return -1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--data", default="/tmp/czifs-mosaic")
    ap.add_argument("--old", help="another czifs binary to measure in the same run")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    os.makedirs(a.data, exist_ok=True)
    czi = os.path.join(a.data, "mosaic_unc.czi")
    if not os.path.exists(czi):
        subprocess.run([os.path.join(a.build, "czi-synth"), czi, "--pixel-type", "Gray16", "--codec",
                        "uncompressed", "--tile", "2048x2048", "--tiles", "2x2", "--overlap", "0",
                        "--size", "Z=32"], check=True)
    mnt = os.path.join(a.data, "mnt")
    binaries = {"czifs": os.path.join(a.build, "czifs")}
    if a.old:
        binaries["old"] = a.old
    cores = os.cpu_count()
    res = {k: [] for k in ["ceiling", *binaries]}
    ratios = {k: [] for k in binaries}
    for _ in range(a.repeat):
        got = {k: first_read(b, czi, mnt) for k, b in binaries.items()}
        _, n, size = got["czifs"]
        with Mount([os.path.join(a.build, "benchmarks", "fuse_ceiling"), mnt, str(n), str(size),
                    str(max(4, 2 * cores))], mnt):
            files = [os.path.join(mnt, f"f{i}") for i in range(n)]
            ceiling = n * size / timed(cat_all(files)) / 1e9
        res["ceiling"].append(ceiling)
        for k in binaries:
            res[k].append(got[k][0])
            ratios[k].append(got[k][0] / ceiling)
    print(f"{cores} cores; {n} planes of {size / 2**20:.0f} MiB; medians of {a.repeat} runs")
    print(f"FUSE ceiling      {statistics.median(res['ceiling']):.2f} GB/s")
    for k, b in binaries.items():
        print(f"{k:6s} first read {statistics.median(res[k]):.2f} GB/s, "
              f"{statistics.median(ratios[k]):.2f} x ceiling, "
              f"{preads_per_plane(b, czi, mnt)} preads for one plane")


if __name__ == "__main__":
    main()
