#!/usr/bin/env python3
"""czifs benchmark suite: workloads W1..W5 through real mounts, each figure
next to a baseline measured in the same run, repeated, medians reported.

    python3 benchmarks/run_suite.py --build build --data build/bench-data

Prints a table, writes results JSON, a Markdown table and a PNG plot.
"""
import argparse
import hashlib
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from mounting import is_mounted, wait_for, force_unmount  # noqa: E402


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=isinstance(cmd, str), check=True, capture_output=True,
                          text=True, **kw)


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def cat_all(paths):
    # One process reading every file with 1 MiB buffers, like cp.
    def run():
        buf = bytearray(1 << 20)
        mv = memoryview(buf)
        for p in paths:
            with open(p, "rb", buffering=0) as f:
                while f.readinto(mv):
                    pass
    return run


class Mount:
    def __init__(self, cmd, mnt):
        self.cmd, self.mnt = cmd, mnt

    def __enter__(self):
        os.makedirs(self.mnt, exist_ok=True)
        force_unmount(self.mnt)
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_for(lambda: is_mounted(self.mnt), 30, 0.002):
            raise RuntimeError(f"{self.cmd} did not mount")
        self.ready = time.perf_counter() - self.t0
        return self

    def pid(self):
        return self.proc.pid

    def __exit__(self, *a):
        subprocess.run(["fusermount3", "-u", self.mnt], capture_output=True)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        force_unmount(self.mnt)


def vm_hwm_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def stats(mnt):
    with open(os.path.join(mnt, ".czifs-stats")) as f:
        return json.load(f)


def planes_of(mnt):
    """The plane files (not the scenes' hyperstack.tif, tiles/ or pyramid/,
    which show the same pixels again)."""
    out = []
    for root, dirs, files in os.walk(mnt):
        dirs[:] = [d for d in dirs if d not in ("tiles", "pyramid")]
        out += [os.path.join(root, f) for f in files
                if f.endswith(".tif") and f != "hyperstack.tif"]
    return sorted(out)


def median(xs):
    return statistics.median(xs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--data", default="build/bench-data")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default="build/bench-results")
    ap.add_argument("--mnt", default="/tmp/czifs-bench-mnt")
    args = ap.parse_args()
    czifs = os.path.abspath(os.path.join(args.build, "czifs"))
    bench = os.path.abspath(os.path.join(args.build, "benchmarks"))
    data = os.path.abspath(args.data)
    os.makedirs(args.out, exist_ok=True)
    mnt = args.mnt
    cores = os.cpu_count()
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), platform.processor())
    machine = f"{cores} cores ({cpu}), {mem_gib:.0f} GiB RAM, Linux {platform.release()}"
    print(f"machine: {machine}")
    print("generating workloads (kept between runs) ...", flush=True)
    sh([os.path.join(bench, "make_workloads"), data])
    w1 = os.path.join(data, "w1_uncompressed.czi")
    w2 = os.path.join(data, "w2_zstd1.czi")
    w3 = os.path.join(data, "w3_mosaic.czi")
    w4 = os.path.join(data, "w4_folder")
    w5 = os.path.join(data, "w5_many_planes.czi")
    R = {"machine": machine, "repeat": args.repeat}
    mount = lambda src, *extra: Mount([czifs, "-f", src, mnt] + list(extra), mnt)

    # ---- W1 / W2 against baselines, interleaved ---------------------------
    # This machine is shared and its speed drifts over minutes, so every
    # repeat measures the baselines and czifs back to back and the ratios are
    # taken per repeat; the table reports medians of values and of ratios.
    cat_all([w1, w2])()  # into the page cache
    with mount(w1):
        w1_planes = planes_of(mnt)
        plane_size = os.path.getsize(w1_planes[0])
        w1_bytes = sum(os.path.getsize(p) for p in w1_planes)
    keys = ["cat", "ceiling", "ideal", "w1_first", "w1_reread", "w2_first", "w2_reread"]
    runs = {k: [] for k in keys}
    ratios = {k: [] for k in ["w1_first", "w1_reread", "w2_first"]}
    for _ in range(args.repeat):
        cat = os.path.getsize(w1) / median([timed(cat_all([w1])) for _ in range(3)]) / 1e9
        with Mount([os.path.join(bench, "fuse_ceiling"), mnt, str(len(w1_planes)),
                    str(plane_size), str(max(4, 2 * cores))], mnt):
            files = [os.path.join(mnt, f"f{i}") for i in range(len(w1_planes))]
            ceiling = w1_bytes / timed(cat_all(files)) / 1e9
            ceiling_again = w1_bytes / timed(cat_all(files)) / 1e9
        ideal = float(sh([os.path.join(bench, "zstd_ideal"), w2, "1"]).stdout) * cores / 1e3
        got = {}
        for name, src in (("w1", w1), ("w2", w2)):
            with mount(src):
                planes = planes_of(mnt)
                total = sum(os.path.getsize(p) for p in planes)
                got[name + "_first"] = total / timed(cat_all(planes)) / 1e9
                got[name + "_reread"] = total / timed(cat_all(planes)) / 1e9
        runs.setdefault("ceiling_reread", []).append(ceiling_again)
        ratios.setdefault("w1_reread_vs_fuse", []).append(got["w1_reread"] / ceiling_again)
        for k, v in dict(cat=cat, ceiling=ceiling, ideal=ideal, **got).items():
            runs[k].append(v)
        ratios["w1_first"].append(got["w1_first"] / ceiling)
        ratios["w1_reread"].append(got["w1_reread"] / cat)
        ratios["w2_first"].append(got["w2_first"] / min(ceiling, ideal))
    R["cat_gbps"] = median(runs["cat"])
    R["fuse_ceiling_gbps"] = median(runs["ceiling"])
    R["fuse_ceiling_reread_gbps"] = median(runs["ceiling_reread"])
    R["ideal_decode_gbps"] = median(runs["ideal"])
    R["zstd_single_thread_gbps"] = R["ideal_decode_gbps"] / cores
    for k in ("w1_first", "w1_reread", "w2_first", "w2_reread"):
        R[k + "_gbps"] = median(runs[k])
    R["w2_baseline_gbps"] = median([min(c, i) for c, i in zip(runs["ceiling"], runs["ideal"])])
    R["ratios"] = {k: median(v) for k, v in ratios.items()}
    R["runs"] = runs

    # ---- W3: latency of the first bytes, streaming memory, md5sum ----------
    lat, md5_t, rss = [], [], []
    for _ in range(args.repeat):
        with mount(w3, "--cache-size", "256M") as m:
            p = os.path.join(mnt, "S0", "C0", "T0", "Z0.tif")
            t0 = time.perf_counter()
            with open(p, "rb") as f:
                f.read(65536)
            lat.append((time.perf_counter() - t0) * 1e3)
            md5_t.append(timed(lambda: sh(["md5sum", p])))
            rss.append(vm_hwm_mib(m.pid()))
    R["w3_first64k_ms"] = median(lat)
    R["w3_md5sum_s"] = median(md5_t)
    R["w3_peak_rss_mib"] = max(rss)
    R["w3_cache_mib"] = 256

    # ---- W4 / W5: metadata speed, nothing decoded -------------------------
    ls_t, w5_dec = [], []
    for _ in range(args.repeat):
        with mount(w5):
            ls_t.append(timed(lambda: sh(["ls", "-lR", mnt])))
            w5_dec.append(stats(mnt)["decoded_subblocks"])
    R["w5_ls_lR_s"] = median(ls_t)
    R["w5_decoded"] = max(w5_dec)
    ready, find_t, w4_dec = [], [], []
    for _ in range(args.repeat):
        force_unmount(mnt)
        os.makedirs(mnt, exist_ok=True)
        t0 = time.perf_counter()
        sh([czifs, w4, mnt])  # background mode: returns once the mount is ready
        ready.append(time.perf_counter() - t0)
        try:
            out = []
            find_t.append(timed(lambda: out.append(sh(["find", mnt, "-name", "*.tif"]).stdout)))
            # 5 planes and the hyperstack per file (no tiles/: each tile is its plane)
            assert out[0].count("\n") == 2000 * 6
            w4_dec.append(stats(mnt)["decoded_subblocks"])
        finally:
            sh(["fusermount3", "-u", mnt])
            wait_for(lambda: not is_mounted(mnt), 5)
    R["w4_mount_ready_s"] = median(ready)
    R["w4_find_s"] = median(find_t)
    R["w4_decoded"] = max(w4_dec)

    # ---- 4 KiB random reads with a warm decode cache ----------------------
    with mount(w2, "--cache-size", "2G"):
        planes = planes_of(mnt)
        cat_all(planes)()  # decode everything once (the cache holds all of it)
        fds = [os.open(p, os.O_RDONLY) for p in planes]
        for fd in fds:  # drop the kernel's copy: reads must reach czifs
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        rnd = random.Random(1)
        size = os.path.getsize(planes[0])
        lat = []
        for _ in range(3000):
            fd = rnd.choice(fds)
            off = rnd.randrange(0, size - 4096) // 4096 * 4096
            t0 = time.perf_counter_ns()
            os.pread(fd, 4096, off)
            lat.append((time.perf_counter_ns() - t0) / 1e3)
            os.posix_fadvise(fd, off, 4096, os.POSIX_FADV_DONTNEED)
        for fd in fds:
            os.close(fd)
    lat.sort()
    R["rand4k_p50_us"] = lat[len(lat) // 2]
    R["rand4k_p99_us"] = lat[int(len(lat) * 0.99)]

    # ---- export of W2 to tmpfs ---------------------------------------------
    exp, exp_ratio = [], []
    for _ in range(args.repeat):
        ideal = float(sh([os.path.join(bench, "zstd_ideal"), w2, "1"]).stdout) * cores / 1e3
        dst = "/dev/shm/czifs-bench-export"
        shutil.rmtree(dst, ignore_errors=True)
        t = timed(lambda: sh([czifs, "export", w2, dst]))
        size = sum(os.path.getsize(p) for p in planes_of(dst))
        shutil.rmtree(dst, ignore_errors=True)
        exp.append(size / t / 1e9)
        exp_ratio.append(exp[-1] / ideal)
    R["w2_export_gbps"] = median(exp)
    R["ratios"]["w2_export"] = median(exp_ratio)

    report(R, args.out)


def report(R, out):
    q = R["ratios"]
    rows = [
        ("W1 first read (GB/s)", R["w1_first_gbps"], "FUSE ceiling", R["fuse_ceiling_gbps"], 0.8,
         q["w1_first"]),
        ("W1 re-read (GB/s)", R["w1_reread_gbps"], "cat from page cache", R["cat_gbps"], 0.9,
         q["w1_reread"]),
        ("W1 re-read vs FUSE (GB/s)", R["w1_reread_gbps"], "FUSE ceiling re-read",
         R["fuse_ceiling_reread_gbps"], 0.9, q["w1_reread_vs_fuse"]),
        ("W2 first read (GB/s)", R["w2_first_gbps"], "min(ceiling, ideal decode)",
         R["w2_baseline_gbps"], 0.8, q["w2_first"]),
        ("W2 export to tmpfs (GB/s)", R["w2_export_gbps"], "ideal decode", R["ideal_decode_gbps"],
         0.8, q["w2_export"]),
    ]
    lines = ["| figure | czifs | baseline | baseline value | ratio (median per run) | target | met |",
             "|---|---|---|---|---|---|---|"]
    for name, v, bname, b, target, ratio in rows:
        lines.append(f"| {name} | {v:.2f} | {bname} | {b:.2f} | {ratio:.2f} | ≥ {target} | "
                     f"{'yes' if ratio >= target else 'NO'} |")
    abs_rows = [
        ("W3 first 64 KiB after mount (ms)", R["w3_first64k_ms"], "≤ 50", R["w3_first64k_ms"] <= 50),
        ("W3 md5sum of the 831 MB plane (s)", R["w3_md5sum_s"],
         "< 3.7 (CZIcmd, issue's figure, not run here)", R["w3_md5sum_s"] < 3.7),
        ("W3 peak RSS streaming, 256 MiB cache (MiB)", R["w3_peak_rss_mib"], "≤ 356",
         R["w3_peak_rss_mib"] <= 356),
        ("W5 ls -lR after mount (s)", R["w5_ls_lR_s"], "≤ 0.2", R["w5_ls_lR_s"] <= 0.2),
        ("W4 mount ready (s)", R["w4_mount_ready_s"], "≤ 1", R["w4_mount_ready_s"] <= 1),
        ("W4 find -name '*.tif' (s)", R["w4_find_s"], "≤ 2", R["w4_find_s"] <= 2),
        ("W4+W5 subblocks decoded by ls/find", R["w4_decoded"] + R["w5_decoded"], "0",
         R["w4_decoded"] + R["w5_decoded"] == 0),
        ("4 KiB random read p50, warm (µs)", R["rand4k_p50_us"], "≤ 100", R["rand4k_p50_us"] <= 100),
        ("4 KiB random read p99, warm (µs)", R["rand4k_p99_us"], "report", True),
    ]
    lines += ["", "| figure | czifs | target | met |", "|---|---|---|---|"]
    for name, v, target, ok in abs_rows:
        lines.append(f"| {name} | {v:.3g} | {target} | {'yes' if ok else 'NO'} |")
    lines += ["", f"Baselines: cat {R['cat_gbps']:.2f} GB/s, FUSE ceiling "
              f"{R['fuse_ceiling_gbps']:.2f} GB/s, zstd single thread "
              f"{R['zstd_single_thread_gbps']:.2f} GB/s (ideal decode {R['ideal_decode_gbps']:.2f} GB/s)."
              f" Machine: {R['machine']}. Medians of {R['repeat']} runs."]
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(R, f, indent=1)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(text + "\n")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(8, 4))
        names = [r[0].replace(" (GB/s)", "") for r in rows]
        xs = range(len(rows))
        ax.bar([x - 0.2 for x in xs], [r[1] for r in rows], 0.4, label="czifs")
        for x, r in zip(xs, rows):
            ax.text(x - 0.2, r[1], f"{r[5]:.2f}x", ha="center", va="bottom", fontsize=8)
        ax.bar([x + 0.2 for x in xs], [r[3] for r in rows], 0.4, label="baseline (same run)")
        for x, r in zip(xs, rows):
            ax.text(x + 0.2, r[3], r[2], ha="center", va="bottom", fontsize=7)
        ax.set_xticks(list(xs))
        ax.set_xticklabels(names, fontsize=8)
        ax.set_ylabel("GB/s")
        ax.set_title("czifs throughput vs baselines measured in the same run")
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(out, "throughput.png"), dpi=110)
    except ImportError:
        print("matplotlib not available: no plot", file=sys.stderr)


if __name__ == "__main__":
    main()
