#!/usr/bin/env python3
"""Small planes, two czifs binaries interleaved: what the 128 KiB gap before
a TIFF's pixels costs and saves where the pixels are few.

    /usr/bin/python3 benchmarks/small_planes.py OLD/czifs NEW/czifs --synth build/czi-synth \\
        [--data /tmp/czifs-small] [--repeat 3]

Workloads: 300 planes of 64x64 Gray8 (zstd1), 300 of 128x128 Gray16 (zstd1,
32 KiB) and 300 of 128x128 Gray16 JPEG-XR. Per binary, each on a fresh
mount: a tag scan (tifffile.TiffFile of every plane: seconds, subblocks
decoded), `rsync -a` of the planes (no -S: holes written out; seconds, du),
and `cat` of every plane (seconds). Medians of --repeat rounds.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

import tifffile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from run_suite import Mount  # noqa: E402

WORKLOADS = {
    "64x64 Gray8 zstd1": ["--pixel-type", "Gray8", "--tile", "64x64", "--codec", "zstd1"],
    "128x128 Gray16 zstd1": ["--tile", "128x128", "--codec", "zstd1"],
    "128x128 Gray16 JPEG-XR": ["--tile", "128x128", "--codec", "jxr"],
}


def planes(mnt):
    folder = os.path.join(mnt, "S0", "C0", "T0")
    return [os.path.join(folder, n) for n in sorted(os.listdir(folder))]


def decoded(mnt):
    with open(os.path.join(mnt, ".czifs-stats")) as f:
        return json.load(f)["decoded_subblocks"]


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def tag_scan(paths):
    for p in paths:
        with tifffile.TiffFile(p) as t:
            assert t.pages[0].shape


def cat_all(paths):
    for p in paths:
        with open(p, "rb") as f:
            while f.read(1 << 20):
                pass


def du(path):
    return int(subprocess.run(["du", "-s", "--block-size=1", path], capture_output=True,
                              text=True, check=True).stdout.split()[0])


def one_round(czifs, czi, data):
    mnt = os.path.join(data, "mnt")
    row = {}
    with Mount([czifs, "-f", czi, mnt], mnt):
        paths = planes(mnt)
        row["scan"] = timed(lambda: tag_scan(paths))
        row["scan_decoded"] = decoded(mnt)
    copy = os.path.join(data, "copy")
    shutil.rmtree(copy, ignore_errors=True)
    with Mount([czifs, "-f", czi, mnt], mnt):
        src = os.path.join(mnt, "S0", "C0", "T0") + "/"
        row["rsync"] = timed(lambda: subprocess.run(["rsync", "-a", src, copy + "/"], check=True))
        row["du"] = du(copy)
    with Mount([czifs, "-f", czi, mnt], mnt):
        paths = planes(mnt)
        row["cat"] = timed(lambda: cat_all(paths))
        row["size"] = sum(os.path.getsize(p) for p in paths)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--synth", required=True)
    ap.add_argument("--data", default="/tmp/czifs-small")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    os.makedirs(args.data, exist_ok=True)
    print("| planes | binary | tag scan s | decoded by the scan | rsync -a s | du of the copy KiB "
          "| ls -l size KiB | cat s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, synth in WORKLOADS.items():
        czi = os.path.join(args.data, name.replace(" ", "_") + ".czi")
        if not os.path.exists(czi):
            subprocess.run([args.synth, czi, "--size", "Z=300"] + synth, check=True,
                           capture_output=True)
        rows = {"old": [], "new": []}
        for _ in range(args.repeat):
            for label in ("old", "new"):
                rows[label].append(one_round(getattr(args, label), czi, args.data))
        for label in ("old", "new"):
            m = {k: statistics.median(r[k] for r in rows[label]) for k in rows[label][0]}
            print(f"| {name} | {label} | {m['scan']:.3f} | {m['scan_decoded']:.0f} | "
                  f"{m['rsync']:.3f} | {m['du'] / 1024:.0f} | {m['size'] / 1024:.0f} | "
                  f"{m['cat']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
