#!/usr/bin/env python3
"""What levels down to a thumbnail cost, in one run: on a 20000 x 20000
Gray16 zstd1 mosaic with no pyramid of its own (10 x 10 tiles of 2224²),
each round on a fresh mount:

- read the full-resolution plane (S0/C0/T0/Z0.tif, 800 MB) to /dev/null;
- read the thumbnail level (the last OME-Zarr level, 313², computed from the
  whole plane), first on a fresh mount, then again on the same mount;
- `ls -lR` and `find` of the CZI's folder with the new views (computed zarr
  levels, S0.ome.tif) and with `--without zarr,ometiff`.

    python3 benchmarks/pyramid_levels.py build/czifs --synth build/czi-synth \\
        --data /tmp/czifs-pyramid [--rounds 3]

Prints each round, then medians and the ratio thumbnail-first ÷ full plane.
The CZI stays in the page cache between rounds (what is measured is
decoding and composing, not the disk).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from mounting import force_unmount, is_mounted, wait_for  # noqa: E402


def mount(czifs, czi, mnt, *extra):
    os.makedirs(mnt, exist_ok=True)
    subprocess.run([czifs, czi, mnt, *extra], check=True)
    if not wait_for(lambda: is_mounted(mnt)):
        raise SystemExit("did not mount")


def unmount(mnt):
    subprocess.run(["fusermount3", "-u", mnt], capture_output=True)
    force_unmount(mnt)


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def read_all(path):
    with open(path, "rb", buffering=0) as f:
        while f.read(8 << 20):
            pass


def read_level(mnt, level):
    # Every chunk file of the level: what zarr reads for the whole array.
    root = os.path.join(mnt, "S0.ome.zarr", level)
    for dirpath, _, files in os.walk(root):
        for name in files:
            if not name.startswith("."):
                read_all(os.path.join(dirpath, name))


def stats(mnt):
    with open(os.path.join(mnt, ".czifs-stats")) as f:
        return json.load(f)


def one_round(czifs, czi, mnt):
    r = {}
    mount(czifs, czi, mnt)
    r["full plane"] = timed(lambda: read_all(os.path.join(mnt, "S0/C0/T0/Z0.tif")))
    unmount(mnt)
    mount(czifs, czi, mnt)
    attrs = json.load(open(os.path.join(mnt, "S0.ome.zarr", ".zattrs")))
    last = attrs["multiscales"][0]["datasets"][-1]["path"]
    r["thumbnail, first"] = timed(lambda: read_level(mnt, last))
    s = stats(mnt)
    r["decoded"] = s["decoded_subblocks"]
    r["computed tiles"] = s["computed_tiles"]
    r["thumbnail, again"] = timed(lambda: read_level(mnt, last))
    unmount(mnt)
    for label, extra in (("with the new views", []), ("without", ["--without", "zarr,ometiff"])):
        mount(czifs, czi, mnt, *extra)
        r[f"ls -lR {label}"] = timed(lambda: subprocess.run(
            ["ls", "-lR", mnt], stdout=subprocess.DEVNULL, check=True))
        r[f"find {label}"] = timed(lambda: subprocess.run(
            ["find", mnt], stdout=subprocess.DEVNULL, check=True))
        r[f"decoded by listing {label}"] = stats(mnt)["decoded_subblocks"]
        unmount(mnt)
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("czifs")
    ap.add_argument("--synth", required=True)
    ap.add_argument("--data", default="/tmp/czifs-pyramid")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    os.makedirs(a.data, exist_ok=True)
    czi = os.path.join(a.data, "mosaic20k.czi")
    if not os.path.exists(czi):
        subprocess.run([a.synth, czi, "--codec", "zstd1", "--tile", "2224x2224", "--tiles",
                        "10x10"], check=True, stdout=subprocess.DEVNULL)
    mnt = os.path.join(a.data, "mnt")
    print(f"load {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores")
    rounds = []
    for k in range(a.rounds):
        r = one_round(a.czifs, czi, mnt)
        rounds.append(r)
        print(f"round {k + 1}: " + ", ".join(
            f"{key} {v:.2f} s" if isinstance(v, float) else f"{key} {v}" for key, v in r.items()))
    print("medians:")
    for key in rounds[0]:
        med = statistics.median(r[key] for r in rounds)
        print(f"  {key:32} {med:.3f}" + (" s" if isinstance(rounds[0][key], float) else ""))
    ratio = statistics.median(r["thumbnail, first"] / r["full plane"] for r in rounds)
    print(f"thumbnail first read / full plane read: {ratio:.2f}")


if __name__ == "__main__":
    main()
