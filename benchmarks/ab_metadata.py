#!/usr/bin/env python3
"""A/B of metadata speed between two czifs binaries, interleaved in one run:
`ls -lR` of a 10,000-plane file (W5) and `find -name '*.tif'` over a folder
of 2,000 files (W4), each a fresh mount.

    python3 benchmarks/ab_metadata.py OLD/czifs NEW/czifs --synth build/czi-synth \\
        --data /tmp/ab --repeat 5

Prints the median of each and the ratio new/old.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from mounting import is_mounted, wait_for, force_unmount  # noqa: E402


def make_data(synth, data):
    w5, w4 = os.path.join(data, "w5.czi"), os.path.join(data, "w4")
    if not os.path.exists(w5):
        subprocess.run([synth, w5, "--pixel-type", "Gray8", "--codec", "uncompressed", "--tile",
                        "64x64", "--size", "C=4,Z=50,T=50"], check=True, capture_output=True)
    if not os.path.isdir(w4) or len(os.listdir(w4)) != 2000:
        os.makedirs(w4, exist_ok=True)
        tmpl = os.path.join(data, "w4_template.czi")
        subprocess.run([synth, tmpl, "--tile", "256x256", "--size", "Z=5"], check=True,
                       capture_output=True)
        for i in range(2000):
            shutil.copyfile(tmpl, os.path.join(w4, f"well_{i:04d}.czi"))
    return w5, w4


def timed_on_mount(czifs, source, mnt, cmd):
    os.makedirs(mnt, exist_ok=True)
    force_unmount(mnt)
    subprocess.run([czifs, source, mnt], check=True, capture_output=True)
    try:
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        return time.perf_counter() - t0
    finally:
        subprocess.run(["fusermount3", "-u", mnt], capture_output=True)
        wait_for(lambda: not is_mounted(mnt), 5)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--synth", required=True)
    ap.add_argument("--data", default="/tmp/czifs-ab")
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    os.makedirs(a.data, exist_ok=True)
    w5, w4 = make_data(a.synth, a.data)
    mnt = os.path.join(a.data, "mnt")
    res = {(b, w): [] for b in ("old", "new") for w in ("W5 ls -lR", "W4 find")}
    for _ in range(a.repeat):
        for b in ("old", "new"):
            czifs = getattr(a, b)
            res[(b, "W5 ls -lR")].append(timed_on_mount(czifs, w5, mnt, ["ls", "-lR", mnt]))
            res[(b, "W4 find")].append(
                timed_on_mount(czifs, w4, mnt, ["find", mnt, "-name", "*.tif"]))
    for w in ("W5 ls -lR", "W4 find"):
        old, new = statistics.median(res[("old", w)]), statistics.median(res[("new", w)])
        print(f"{w:10s}  old {old:.3f} s  new {new:.3f} s  new/old {new / old:.2f}")


if __name__ == "__main__":
    main()
