#!/usr/bin/python3
"""A slide viewer's random access with the kernel's readahead at 1 MiB
(czifs' default) and at the kernel's 128 KiB (--readahead 0), in one run.

A brightfield slide (Bgr24, zstd1, 16 x 12 tiles of 1024 x 768, 14854 x 8369, no pyramid
of its own) is mounted fresh each round; OpenSlide opens its S0.ome.tif and
reads 60 random 512² regions at level 0 (the same seed in every round: a
viewer zoomed in, jumping around). Opening decodes every tile (OpenSlide
hashes the smallest level), so what is timed is the reads alone, all from
the cache: per round and setting their time and how many FUSE reads and
bytes the kernel asked for (.czifs-stats) — what a larger window costs a
reader that jumps around.

    /usr/bin/python3 benchmarks/random_tiles.py build/czifs --synth build/czi-synth \\
        --data /tmp/czifs-random [--rounds 3]
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from mounting import force_unmount, is_mounted, wait_for  # noqa: E402

SETTINGS = {"readahead 1M (default)": [], "readahead 0 (kernel's 128K)": ["--readahead", "0"]}


def stats(mnt):
    with open(os.path.join(mnt, ".czifs-stats")) as f:
        return json.load(f)


def one_round(czifs, czi, mnt, extra, seed):
    os.makedirs(mnt, exist_ok=True)
    subprocess.run([czifs, czi, mnt, *extra], check=True)
    if not wait_for(lambda: is_mounted(mnt)):
        raise SystemExit("did not mount")
    try:
        import openslide
        rnd = random.Random(seed)
        with openslide.OpenSlide(os.path.join(mnt, "S0.ome.tif")) as s:
            before = stats(mnt)  # opening decodes every tile (OpenSlide's quickhash)
            t0 = time.monotonic()
            w, h = s.level_dimensions[0]
            for _ in range(60):
                s.read_region((rnd.randrange(w - 512), rnd.randrange(h - 512)), 0, (512, 512))
            elapsed = time.monotonic() - t0
        after = stats(mnt)
        return elapsed, after["reads"] - before["reads"], after["read_bytes"] - before["read_bytes"]
    finally:
        subprocess.run(["fusermount3", "-u", mnt], capture_output=True)
        force_unmount(mnt)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("czifs")
    ap.add_argument("--synth", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    os.makedirs(a.data, exist_ok=True)
    czi = os.path.join(a.data, "slide.czi")
    if not os.path.exists(czi):
        subprocess.run([a.synth, czi, "--pixel-type", "Bgr24", "--codec", "zstd1", "--tile",
                        "1024x768", "--tiles", "16x12"], check=True)
    mnt = os.path.join(a.data, "mnt")
    got = {name: [] for name in SETTINGS}
    for r in range(a.rounds):
        order = list(SETTINGS.items())
        if r % 2:
            order.reverse()
        for name, extra in order:
            t, reads, read_bytes = one_round(a.czifs, czi, mnt, extra, seed=r)
            got[name].append((t, reads, read_bytes))
            print(f"round {r + 1} {name}: {t:.3f} s, {reads} FUSE reads, "
                  f"{read_bytes / 2**20:.1f} MiB", flush=True)
    print(f"\nmedians of {a.rounds} rounds (60 random 512² regions at level 0)")
    print("| setting | s | FUSE reads | MiB read by the kernel |\n|---|---|---|---|")
    for name, runs in got.items():
        print(f"| {name} | {statistics.median(r[0] for r in runs):.3f} | "
              f"{statistics.median(r[1] for r in runs):.0f} | "
              f"{statistics.median(r[2] for r in runs) / 2**20:.1f} |")


if __name__ == "__main__":
    main()
