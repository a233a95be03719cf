#!/usr/bin/env python3
"""A/B of reading only the tags of every TIFF (what file browsers, tiffinfo,
tifffile.TiffFile and ImageJ's sequence dialog do first), two czifs binaries
interleaved in one run, each scan on a fresh mount (nothing cached).

    python3 benchmarks/ab_tag_scan.py OLD/czifs NEW/czifs --synth build/czi-synth \\
        [--corpus ../shared/data/czi] [--data /tmp/czifs-tagscan] [--repeat 3]

Workloads: a zstd mosaic (80 planes of 3x3 tiles of 1024x1024, Gray16) and,
if given, the corpus. Prints per binary the median wall time of a tifffile
tag scan, the subblocks it decoded (.czifs-stats) and the ratio new/old.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import tifffile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from run_suite import Mount  # noqa: E402


def make_mosaic(synth, data):
    path = os.path.join(data, "mosaic.czi")
    if not os.path.exists(path):
        subprocess.run([synth, path, "--codec", "zstd1", "--tile", "1024x1024", "--tiles", "3x3",
                        "--size", "C=2,Z=40"], check=True, capture_output=True)
    return path


def scan(czifs, source, mnt):
    """(seconds, TIFFs, subblocks decoded) of a tag scan on a fresh mount."""
    with Mount([czifs, "-f", source, mnt], mnt):
        paths = []
        for root, _, files in os.walk(mnt):
            paths += [os.path.join(root, f) for f in files if f.endswith(".tif")]
        with open(os.path.join(mnt, ".czifs-stats")) as f:
            before = json.load(f)["decoded_subblocks"]
        t0 = time.perf_counter()
        for p in sorted(paths):
            with tifffile.TiffFile(p) as t:
                for page in t.pages:
                    _ = page.tags["ImageWidth"].value
        seconds = time.perf_counter() - t0
        with open(os.path.join(mnt, ".czifs-stats")) as f:
            decoded = json.load(f)["decoded_subblocks"] - before
    return seconds, len(paths), decoded


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--synth", required=True)
    ap.add_argument("--corpus")
    ap.add_argument("--data", default="/tmp/czifs-tagscan")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    os.makedirs(a.data, exist_ok=True)
    mnt = os.path.join(a.data, "mnt")
    workloads = {"mosaic": make_mosaic(a.synth, a.data)}
    if a.corpus:
        workloads["corpus"] = a.corpus
    print(f"{os.cpu_count()} cores; tifffile tag scan on a fresh mount; medians of {a.repeat}")
    for name, source in workloads.items():
        runs = {"old": [], "new": []}
        for _ in range(a.repeat):
            for which in ("old", "new"):
                runs[which].append(scan(getattr(a, which), source, mnt))
        med = {w: statistics.median(r[0] for r in runs[w]) for w in runs}
        for w in ("old", "new"):
            _, n, decoded = runs[w][-1]
            print(f"{name:7s} {w}: {med[w]:.3f} s for {n} TIFFs, {decoded} subblocks decoded")
        print(f"{name:7s} new/old time {med['new'] / med['old']:.2f}")


if __name__ == "__main__":
    main()
