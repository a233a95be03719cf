#!/usr/bin/env python3
"""A CZI of hundreds of thousands to millions of subblocks (a plate screen,
a long time-lapse), czifs next to libCZI's CZIcmd in the same run: parse
time and peak RSS, the daemon's RSS after mounting and after listings, the
time of `ls -lR` and `find`, and the first byte of planetable.csv.

    python3 benchmarks/many_subblocks.py build/czifs --synth build/czi-synth \\
        --cziccmd ../shared/tools/libczi/CZIcmd --data /tmp/czifs-many

Writes (once) hcs384k.czi (96 scenes x C4 x Z5 x T50, 2x2 tiles of 32x32
Gray16 zstd1: 384,000 subblocks) and hcs1536k.czi (96 x C4 x Z10 x T100,
2x2 tiles of 16x16: 1,536,000 subblocks) in --data, or takes --files.
"""
import argparse
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from mounting import force_unmount, is_mounted, wait_for  # noqa: E402

FILES = {
    "hcs384k.czi": ["--tile", "32x32", "--size", "C=4,Z=5,T=50"],
    "hcs1536k.czi": ["--tile", "16x16", "--size", "C=4,Z=10,T=100"],
}


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def mib(kib):
    return kib / 1024


def child_run(cmd):
    """Runs `cmd` alone; returns (seconds, peak RSS MiB) from wait4."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(p.pid, 0)
    secs = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd[0]} failed: {status}")
    return secs, usage.ru_maxrss / 1024


def make_files(synth, data):
    os.makedirs(data, exist_ok=True)
    paths = []
    for name, args in FILES.items():
        path = os.path.join(data, name)
        if not os.path.exists(path):
            print(f"writing {path} ...", flush=True)
            subprocess.run([synth, path + ".part", "--pixel-type", "Gray16", "--codec", "zstd1",
                            "--tiles", "2x2", "--scenes", "96"] + args, check=True,
                           capture_output=True)
            os.rename(path + ".part", path)
        paths.append(path)
    return paths


def warm(path):
    subprocess.run(["cat", path], stdout=subprocess.DEVNULL, check=True)


def parse_times(czifs, czicmd, path, repeat):
    """Median time and peak RSS of czifs inspect and CZIcmd PrintInformation."""
    ours, theirs = [], []
    for _ in range(repeat):
        ours.append(child_run([czifs, "inspect", path]))
        theirs.append(child_run([czicmd, "-c", "PrintInformation", "-s", path]))
    med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    return ((med([t for t, _ in ours]), max(r for _, r in ours)),
            (med([t for t, _ in theirs]), max(r for _, r in theirs)))


def timed(cmd):
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, check=True)
    return time.perf_counter() - t, out.stdout


def first_byte(path):
    t = time.perf_counter()
    with open(path, "rb") as f:
        f.read(1)
    first = time.perf_counter() - t
    return first, os.path.getsize(path)


def mounted_figures(czifs, path, mnt, extra):
    force_unmount(mnt)
    os.makedirs(mnt, exist_ok=True)
    proc = subprocess.Popen([czifs, "-f", path, mnt, "--cache-size", "64M"] + extra,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    r = {}
    try:
        wait_for(lambda: is_mounted(mnt), 300)
        r["mount"] = status_kib(proc.pid, "VmRSS")
        names = sorted(os.listdir(mnt))
        r["ls root"] = status_kib(proc.pid, "VmRSS")
        first_scene = next(n for n in names if n[0] == "S" and n[1:].isdigit())  # S0 or S00
        r["ls -lR S0 s"], _ = timed(["ls", "-lR", os.path.join(mnt, first_scene)])
        r["ls -lR S0"] = status_kib(proc.pid, "VmRSS")
        r["ls -lR s"], out = timed(["ls", "-lR", mnt])
        r["entries"] = out.count(b"\n")
        r["ls -lR"] = status_kib(proc.pid, "VmRSS")
        r["find s"], out = timed(["find", mnt, "-name", "*.tif"])
        r["tifs"] = out.count(b"\n")
        r["peak"] = status_kib(proc.pid, "VmHWM")
    finally:
        subprocess.run(["fusermount3", "-u", mnt], capture_output=True)
        proc.wait(timeout=60)
    # planetable.csv on a fresh mount (ls -lR above generated it for its size).
    proc = subprocess.Popen([czifs, "-f", path, mnt, "--cache-size", "64M"] + extra,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: is_mounted(mnt), 300)
        r["planetable first byte s"], r["planetable bytes"] = first_byte(
            os.path.join(mnt, "planetable.csv"))
        r["planetable peak"] = status_kib(proc.pid, "VmHWM")
    finally:
        subprocess.run(["fusermount3", "-u", mnt], capture_output=True)
        proc.wait(timeout=60)
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("czifs")
    ap.add_argument("--synth", required=True)
    ap.add_argument("--czicmd", default=os.path.join(HERE, "..", "..", "shared", "tools",
                                                     "libczi", "CZIcmd"))
    ap.add_argument("--data", default="/tmp/czifs-many")
    ap.add_argument("--files", nargs="*", help="CZIs to measure instead of writing two")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--extra", default="", help="more czifs mount options, space-separated")
    a = ap.parse_args()
    paths = a.files or make_files(a.synth, a.data)
    mnt = os.path.join(a.data, "mnt")
    rows = []
    for path in paths:
        warm(path)
        (ours_t, ours_r), (ref_t, ref_r) = parse_times(a.czifs, a.czicmd, path, a.repeat)
        m = mounted_figures(a.czifs, path, mnt, a.extra.split())
        rows.append((os.path.basename(path), ours_t, ours_r, ref_t, ref_r, m))
        print(f"\n{os.path.basename(path)} ({os.path.getsize(path) / 1e6:.0f} MB, "
              f"{m['entries']} lines of ls -lR, {m['tifs']} .tif)")
        print(f"  parse (inspect vs PrintInformation, median of {a.repeat}): czifs {ours_t:.2f} s"
              f" vs CZIcmd {ref_t:.2f} s = {ours_t / ref_t:.2f}x; peak RSS {ours_r:.0f} vs "
              f"{ref_r:.0f} MiB = {ours_r / ref_r:.2f}x")
        print(f"  daemon RSS after mount {mib(m['mount']):.0f} MiB "
              f"({mib(m['mount']) / ref_r:.2f}x CZIcmd's peak), after ls root "
              f"{mib(m['ls root']):.0f}, after ls -lR S0 {mib(m['ls -lR S0']):.0f} "
              f"({m['ls -lR S0 s']:.2f} s), after ls -lR all {mib(m['ls -lR']):.0f} MiB, "
              f"peak {mib(m['peak']):.0f} MiB")
        print(f"  ls -lR {m['ls -lR s']:.2f} s, find -name '*.tif' {m['find s']:.2f} s, "
              f"planetable.csv first byte {m['planetable first byte s']:.2f} s "
              f"({m['planetable bytes'] / 1e6:.0f} MB; daemon peak RSS with it "
              f"{mib(m['planetable peak']):.0f} MiB)")
    if len(rows) == 2:
        small, big = rows[0][5], rows[1][5]
        print(f"\n{rows[1][0]} / {rows[0][0]}: RSS after ls -lR "
              f"{big['ls -lR'] / small['ls -lR']:.2f}x, ls -lR time "
              f"{big['ls -lR s'] / small['ls -lR s']:.2f}x, RSS after mount "
              f"{big['mount'] / small['mount']:.2f}x")


if __name__ == "__main__":
    main()
