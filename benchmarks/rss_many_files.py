#!/usr/bin/env python3
"""Daemon memory (RSS) for a folder of many CZIs: after mounting, after
`find` over the whole mount, and after reading one plane of every file,
for two --parsed-files budgets, next to the same with no budget to speak of.

    python3 benchmarks/rss_many_files.py build/czifs --synth build/czi-synth \\
        --data /tmp/czifs-rss --files 10000
"""
import argparse
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from mounting import is_mounted, wait_for, force_unmount  # noqa: E402


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure(czifs, src, mnt, parsed):
    force_unmount(mnt)
    os.makedirs(mnt, exist_ok=True)
    proc = subprocess.Popen([czifs, "-f", src, mnt, "--parsed-files", str(parsed),
                             "--cache-size", "64M"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: is_mounted(mnt), 30)
        out = {"mounted": rss_mib(proc.pid)}
        t = time.perf_counter()
        subprocess.run(["find", mnt], check=True, capture_output=True)
        out["find_s"] = time.perf_counter() - t
        out["after find"] = rss_mib(proc.pid)
        t = time.perf_counter()
        for name in sorted(os.listdir(mnt)):
            with open(os.path.join(mnt, name, "S0", "C0", "T0", "Z0.tif"), "rb") as f:
                f.read()
        out["read_s"] = time.perf_counter() - t
        out["after reading one plane each"] = rss_mib(proc.pid)
        return out
    finally:
        subprocess.run(["fusermount3", "-u", mnt], capture_output=True)
        proc.wait(timeout=10)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("czifs")
    ap.add_argument("--synth", required=True)
    ap.add_argument("--data", default="/tmp/czifs-rss")
    ap.add_argument("--files", type=int, default=10000)
    a = ap.parse_args()
    src = os.path.join(a.data, "src")
    if not os.path.isdir(src) or len(os.listdir(src)) != a.files:
        shutil.rmtree(src, ignore_errors=True)
        os.makedirs(src)
        tmpl = os.path.join(a.data, "t.czi")
        subprocess.run([a.synth, tmpl, "--tile", "64x64", "--size", "Z=3"], check=True,
                       capture_output=True)
        for i in range(a.files):
            shutil.copyfile(tmpl, os.path.join(src, f"w{i:05d}.czi"))
    mnt = os.path.join(a.data, "mnt")
    print(f"{a.files} files of {os.path.getsize(os.path.join(src, os.listdir(src)[0]))} bytes, "
          f"64 MiB cache")
    for parsed in (256, a.files):
        r = measure(a.czifs, src, mnt, parsed)
        print(f"--parsed-files {parsed:6d}: RSS mounted {r['mounted']:.0f} MiB, after find "
              f"{r['after find']:.0f} MiB ({r['find_s']:.1f} s), after one plane of each "
              f"{r['after reading one plane each']:.0f} MiB ({r['read_s']:.1f} s)")


if __name__ == "__main__":
    main()
