#!/usr/bin/env python3
"""czifs next to libCZI's own reader (CZIcmd), per codec, in the same run.

For each workload, each round: CZIcmd composes the plane (SingleChannelTileAccessor,
the scene's whole box, no hash, no PNG written) and czifs serves it (the
plane's TIFF read end to end with 1 MiB reads, as cp does), back to back, in
alternating order. czifs is measured twice per round: "fresh", a mount started
for the read (a new process: every decoded tile lands in memory the process
never touched, and the kernel faults in and zeroes each page), and "serving",
a mount started for the round that first read another plane through a 128 MiB
cache (as a daemon that has been serving: its memory recycles) — the plane
itself is cold in both. Prints per round the time
ratio czifs / CZIcmd with the machine's 1-minute load, and per workload the
medians: times, peak RSS, czifs' CPU (daemon + JPEG-XR helpers) against the
CPU of decoding the same subblocks once on one thread with the codec library
alone (build/benchmarks/decode_alone), and for JPEG-XR the helpers' CPU / wall.

    python3 benchmarks/codecs_vs_libczi.py --build build \
        --czicmd ../shared/tools/libczi/CZIcmd --data /tmp/czifs-codecs [--rounds 5] [--busy 1]

--busy N runs N spinning processes beside (a machine at load about N).
JPG: CZIcmd cannot decode JPG subblocks; there the baseline is decode_alone's
one-thread libjpeg-turbo decode of the same tiles.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from mounting import force_unmount, is_mounted, wait_for  # noqa: E402

# name -> czi-synth arguments. 8 x 8 tiles of 1024^2 with 10 % overlap: one
# 7478^2 plane; "mosaic" is 22 x 22 of them: 20386^2, zstd1 hi/lo.
TILE = ["--tile", "1024x1024", "--tiles", "8x8"]
WORKLOADS = {
    "uncompressed": TILE + ["--codec", "uncompressed"],
    "zstd0": TILE + ["--codec", "zstd0"],
    "zstd1": TILE + ["--codec", "zstd1"],
    "zstd1-hilo": TILE + ["--codec", "zstd1-hilo"],
    "jxr-gray16": TILE + ["--codec", "jxr"],
    "jxr-bgr24": TILE + ["--codec", "jxr", "--pixel-type", "Bgr24"],
    "jpg-bgr24": TILE + ["--codec", "jpg", "--pixel-type", "Bgr24"],
    "mosaic-20386": ["--tile", "1024x1024", "--tiles", "22x22", "--codec", "zstd1-hilo"],
}
MOSAIC_CACHE = "256M"
# What a "serving" mount reads first (the second when measuring the first).
FILLER = ("zstd1", "zstd0")


def clock_ticks():
    return os.sysconf("SC_CLK_TCK")


def proc_cpu(pid):
    """utime + stime of one process, seconds (0 if gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / clock_ticks()
    except OSError:
        return 0.0


def children(pid):
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def scene_box(czifs, path):
    out = subprocess.run([czifs, "inspect", path], check=True, capture_output=True,
                         text=True).stdout
    m = re.search(r"S0\s+x=(-?\d+) y=(-?\d+) (\d+)x(\d+)", out)
    return tuple(int(v) for v in m.groups())


def run_czicmd(czicmd, path, box):
    x, y, w, h = box
    cmd = [czicmd, "-c", "SingleChannelTileAccessor", "-s", path, "-p", "C0Z0T0",
           "-r", f"abs({x},{y},{w},{h})", "-b", "0", "-o", "/nonexistent-czifs-bench/x"]
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = p.stdout.read().decode(errors="replace")
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    if "Error while writing PNG" not in out:  # it composed, then failed to write: expected
        raise RuntimeError(f"CZIcmd did not compose {path}: {out[-400:]}")
    return {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "rss": ru.ru_maxrss / 1024}


def read_all(path):
    buf = bytearray(1 << 20)
    mv = memoryview(buf)
    n = 0
    with open(path, "rb", buffering=0) as f:
        while (k := f.readinto(mv)):
            n += k
    return n


def tree_cpu(pid):
    """CPU seconds of a daemon and its JPEG-XR helpers so far."""
    helpers = sum(proc_cpu(c) for c in children(pid))
    return proc_cpu(pid) + helpers, helpers


def run_czifs(args, path, mnt, cache, filler=None):
    """Times the plane's read in a mount of `path` (and `filler`, read first
    when given); CPU is the daemon's and its helpers' during that read."""
    force_unmount(mnt)
    sources = [path] + ([filler] if filler else [])
    cmd = [args.czifs, "-f"] + sources + [mnt, "--log-level", "warn"]
    if cache:
        cmd += ["--cache-size", cache]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    plane = os.path.join("S0", "C0", "T0", "Z0.tif")
    if filler:
        plane = os.path.join(os.path.basename(path), plane)
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not wait_for(lambda: is_mounted(mnt), 30, 0.002):
            raise RuntimeError(f"{cmd} did not mount")
        if filler:
            read_all(os.path.join(mnt, os.path.basename(filler), "S0", "C0", "T0", "Z0.tif"))
            t = time.perf_counter()
        cpu0, helpers0 = tree_cpu(p.pid)
        size = read_all(os.path.join(mnt, plane))
        wall = time.perf_counter() - t
        cpu1, helpers1 = tree_cpu(p.pid)
        rss = peak_rss_mib(p.pid)
    finally:
        subprocess.run(["fusermount3", "-u", mnt], capture_output=True)
        os.wait4(p.pid, 0)
    return {"wall": wall, "cpu": cpu1 - cpu0, "helper_cpu": helpers1 - helpers0, "rss": rss,
            "bytes": size}


def make_data(args):
    os.makedirs(args.data, exist_ok=True)
    for name, synth in WORKLOADS.items():
        path = os.path.join(args.data, name + ".czi")
        if not os.path.exists(path):
            print(f"writing {path}", flush=True)
            subprocess.run([args.synth] + synth + [path + ".part"], check=True)
            os.rename(path + ".part", path)


def decode_alone(args, path):
    cpu, decoded, n = subprocess.run([args.decode_alone, path], check=True, capture_output=True,
                                     text=True).stdout.split()
    return float(cpu)


def spin(n):
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def med(rows, key):
    return statistics.median(r[key] for r in rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--czicmd", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--busy", type=int, default=0, help="spinning processes beside")
    ap.add_argument("--only", default="", help="comma-separated workload names")
    ap.add_argument("--threads", type=int, default=0, help="czifs --threads (default: its own)")
    args = ap.parse_args()
    args.czifs = os.path.abspath(os.path.join(args.build, "czifs"))
    args.synth = os.path.abspath(os.path.join(args.build, "czi-synth"))
    args.decode_alone = os.path.abspath(os.path.join(args.build, "benchmarks", "decode_alone"))
    make_data(args)
    names = [n for n in WORKLOADS if not args.only or n in args.only.split(",")]
    mnt = os.path.join(args.data, "mnt")
    os.makedirs(mnt, exist_ok=True)
    busy = spin(args.busy)
    if busy:
        time.sleep(2)
    results = {}
    try:
        for name in names:
            path = os.path.join(args.data, name + ".czi")
            read_all(path)  # both read it from the page cache
            box = scene_box(args.czifs, path)
            alone = decode_alone(args, path)
            cache = MOSAIC_CACHE if name.startswith("mosaic") else None
            ours, ref, serving = [], [], []
            for r in range(args.rounds):
                load = os.getloadavg()[0]
                first_ref = r % 2 == 0
                if first_ref:
                    ref.append(run_czicmd(args.czicmd, path, box) if "jpg" not in name else None)
                ours.append(run_czifs(args, path, mnt, cache))
                if not name.startswith("mosaic"):
                    filler = os.path.join(args.data, FILLER[name == FILLER[0]] + ".czi")
                    serving.append(run_czifs(args, path, mnt, "128M", filler))
                if not first_ref:
                    ref.append(run_czicmd(args.czicmd, path, box) if "jpg" not in name else None)
                base = ref[-1]["wall"] if ref[-1] else alone
                also = (f", serving {serving[-1]['wall']:.3f} s = "
                        f"{serving[-1]['wall'] / base:.2f}" if serving else "")
                print(f"{name:13} round {r + 1}: czifs fresh {ours[-1]['wall']:.3f} s, "
                      f"{'CZIcmd' if ref[-1] else 'one-thread decode CPU'} {base:.3f} s, "
                      f"ratio {ours[-1]['wall'] / base:.2f}{also} (load {load:.1f})", flush=True)
            results[name] = (ours, ref, alone)
            if serving:
                results[name + " serving"] = (serving, ref, alone)
    finally:
        for p in busy:
            p.kill()
            p.wait()
    print()
    print(f"medians of {args.rounds} rounds, {args.busy} busy process(es) beside")
    print("| workload | czifs s | CZIcmd s | ratio | czifs RSS MiB | CZIcmd RSS MiB | RSS ratio "
          "| czifs CPU s (daemon + helpers, during the read) | one-thread decode CPU s "
          "| CPU ratio | helper CPU / wall |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, (ours, ref, alone) in results.items():
        have_ref = ref[0] is not None
        ratios = [o["wall"] / (r["wall"] if r else alone) for o, r in zip(ours, ref)]
        helper = [o["helper_cpu"] / o["wall"] for o in ours]
        cells = [name, f"{med(ours, 'wall'):.3f}",
                 f"{med(ref, 'wall'):.3f}" if have_ref else "—",
                 f"{statistics.median(ratios):.2f}", f"{med(ours, 'rss'):.0f}",
                 f"{med(ref, 'rss'):.0f}" if have_ref else "—",
                 f"{med(ours, 'rss') / med(ref, 'rss'):.2f}" if have_ref else "—",
                 f"{med(ours, 'cpu'):.3f}", f"{alone:.3f}" if alone > 0 else "—",
                 f"{med(ours, 'cpu') / alone:.2f}" if alone > 0 else "—",
                 f"{statistics.median(helper):.2f}" if "jxr" in name else "—"]
        print("| " + " | ".join(cells) + " |")

if __name__ == "__main__":
    main()
