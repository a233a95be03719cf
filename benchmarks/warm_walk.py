#!/usr/bin/env python3
"""A walk over a folder of many CZIs, cold and warm, next to the same tree on
the local file system, in the same run.

    python3 benchmarks/warm_walk.py build/czifs --synth build/czi-synth \
        --data /tmp/czifs-walk [--files 1000] [--rounds 3]

Mounts the folder with default options (--parsed-files 256: most trees are
let go during a walk), then times `find`, `ls -lR` and `find -size +1k`
twice each, and the same commands over a replica of the mounted tree on the
local file system (same folders, sparse files of the same sizes). Prints the
times, the ratios and how many CZIs the daemon parsed during each walk
(.czifs-stats parsed_files).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from mounting import force_unmount, is_mounted, wait_for  # noqa: E402

WALKS = {
    "find": ["find", "{}"],
    "ls -lR": ["ls", "-lR", "{}"],
    "find -size +1k": ["find", "{}", "-size", "+1k"],
}


def timed(cmd, where):
    t = time.perf_counter()
    subprocess.run([c.format(where) for c in cmd], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def parsed(mnt):
    with open(os.path.join(mnt, ".czifs-stats")) as f:
        return json.load(f)["parsed_files"]


def make_sources(args):
    src = os.path.join(args.data, "src")
    if os.path.isdir(src) and len(os.listdir(src)) == args.files:
        return src
    shutil.rmtree(src, ignore_errors=True)
    os.makedirs(src)
    one = os.path.join(args.data, "one.czi")
    subprocess.run([args.synth, "--tile", "256x256", "--size", "C=1,Z=5,T=1", one], check=True)
    for i in range(args.files):
        shutil.copyfile(one, os.path.join(src, f"f{i:05d}.czi"))
    return src


def make_replica(mnt, rep):
    """The mounted tree on the local file system: folders, sparse files."""
    shutil.rmtree(rep, ignore_errors=True)
    for root, dirs, files in os.walk(mnt):
        out = os.path.join(rep, os.path.relpath(root, mnt))
        os.makedirs(out, exist_ok=True)
        for name in files:
            with open(os.path.join(out, name), "wb") as f:
                f.truncate(os.lstat(os.path.join(root, name)).st_size)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("czifs")
    ap.add_argument("--synth", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    os.makedirs(args.data, exist_ok=True)
    src = make_sources(args)
    mnt = os.path.join(args.data, "mnt")
    rep = os.path.join(args.data, "replica")
    os.makedirs(mnt, exist_ok=True)
    rows = {name: {"cold": [], "warm": [], "local": [], "parsed_warm": []} for name in WALKS}
    replica_made = False
    for r in range(args.rounds):
        for name, cmd in WALKS.items():
            force_unmount(mnt)
            p = subprocess.Popen([args.czifs, "-f", src, mnt, "--log-level", "warn"])
            try:
                if not wait_for(lambda: is_mounted(mnt), 30, 0.002):
                    raise RuntimeError("did not mount")
                rows[name]["cold"].append(timed(cmd, mnt))
                before = parsed(mnt)
                rows[name]["warm"].append(timed(cmd, mnt))
                rows[name]["parsed_warm"].append(parsed(mnt) - before)
                if not replica_made:
                    make_replica(mnt, rep)
                    replica_made = True
            finally:
                subprocess.run(["fusermount3", "-u", mnt], capture_output=True)
                p.wait()
            timed(cmd, rep)  # the local file system warm too
            rows[name]["local"].append(timed(cmd, rep))
            print(f"round {r + 1} {name:15}: cold {rows[name]['cold'][-1]:.2f} s, warm "
                  f"{rows[name]['warm'][-1]:.2f} s (parsed {rows[name]['parsed_warm'][-1]}), "
                  f"local {rows[name]['local'][-1]:.2f} s", flush=True)
    print()
    print(f"{args.files} CZIs, default options, medians of {args.rounds} rounds")
    print("| walk | cold s | warm s | local fs s | warm / local | CZIs parsed by the warm walk |")
    print("|---|---|---|---|---|---|")
    for name, v in rows.items():
        warm, local = statistics.median(v["warm"]), statistics.median(v["local"])
        print(f"| {name} | {statistics.median(v['cold']):.2f} | {warm:.2f} | {local:.2f} | "
              f"{warm / local:.2f} | {max(v['parsed_warm'])} |")


if __name__ == "__main__":
    main()
