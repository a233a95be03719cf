#!/usr/bin/env python3
"""A 20000x20000 zstd mosaic plane (Gray16, 10x10 tiles, 800 MB) read whole,
in one run: as one TIFF (`cat`), through its OME-Zarr chunks by dask with a
2-worker dask.distributed LocalCluster, and the ideal single-thread zstd
decode of its tiles (benchmarks/zstd_ideal) as the baseline; then the
latency of single chunk reads (p50/p99), cold (fresh mount, the daemon's
cache empty) and warm (read again). Each whole read is a fresh mount; the
CZI is in the page cache first, so the figures are czifs' cost, not the disk's.

    cmake -S . -B build -DCZIFS_BUILD_BENCHMARKS=ON && cmake --build build
    python3 benchmarks/zarr_vs_tiff.py build [--data /tmp/czifs-zarr] [--repeat 3]
"""
import argparse
import os
import random
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from run_suite import Mount, cat_all  # noqa: E402


def make_mosaic(synth, data):
    path = os.path.join(data, "mosaic20k.czi")
    if not os.path.exists(path):
        subprocess.run([synth, path, "--codec", "zstd1", "--tile", "2224x2224", "--tiles", "10x10"],
                       check=True, capture_output=True)
    return path


def whole_tiff(czifs, czi, mnt):
    with Mount([czifs, "-f", czi, mnt], mnt):
        path = os.path.join(mnt, "S0", "C0", "T0", "Z0.tif")
        t0 = time.perf_counter()
        subprocess.run(["cat", path], stdout=subprocess.DEVNULL, check=True)
        return os.path.getsize(path) / (time.perf_counter() - t0) / 1e9


def whole_zarr(czifs, czi, mnt):
    # dask computes on the LocalCluster's client, the default once made.
    import dask.array as da
    with Mount([czifs, "-f", czi, mnt], mnt):
        arr = da.from_zarr(os.path.join(mnt, "S0.ome.zarr", "0"))
        t0 = time.perf_counter()
        arr.sum(dtype="uint64").compute()
        return arr.nbytes / (time.perf_counter() - t0) / 1e9


def whole_chunks_one_by_one(czifs, czi, mnt):
    """The plane's chunk files read in order by this one process (no dask):
    what czifs serves chunks at, apart from dask's own costs."""
    with Mount([czifs, "-f", czi, mnt], mnt):
        root = os.path.join(mnt, "S0.ome.zarr", "0", "0", "0", "0")
        paths = [os.path.join(root, y, x) for y in sorted(os.listdir(root), key=int)
                 for x in sorted(os.listdir(os.path.join(root, y)), key=int)]
        t0 = time.perf_counter()
        n = 0
        for p in paths:
            with open(p, "rb") as f:
                n += len(f.read())
        return n / (time.perf_counter() - t0) / 1e9


def chunk_latencies(czifs, czi, mnt, n):
    """Milliseconds to read n chunk files chosen at random: cold, then warm."""
    with Mount([czifs, "-f", czi, mnt], mnt):
        root = os.path.join(mnt, "S0.ome.zarr", "0", "0", "0", "0")
        chunks = [os.path.join(root, y, x) for y in os.listdir(root)
                  for x in os.listdir(os.path.join(root, y))]
        random.Random(1).shuffle(chunks)
        out = {}
        for kind in ("cold", "warm"):
            ms = []
            for p in chunks[:n]:
                t0 = time.perf_counter()
                with open(p, "rb") as f:
                    f.read()
                ms.append((time.perf_counter() - t0) * 1e3)
            out[kind] = ms
        return out


def pct(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q / 100 * (len(v) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--data", default="/tmp/czifs-zarr")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--chunks", type=int, default=100)
    a = ap.parse_args()
    czifs = os.path.join(a.build, "czifs")
    os.makedirs(a.data, exist_ok=True)
    czi = make_mosaic(os.path.join(a.build, "czi-synth"), a.data)
    mnt = os.path.join(a.data, "mnt")
    cat_all([czi])()
    ideal = subprocess.run([os.path.join(a.build, "benchmarks", "zstd_ideal"), czi, "3"],
                           capture_output=True, text=True, check=True).stdout
    ideal_gbs = float(ideal.strip()) / 1e3  # it prints MB/s
    import distributed
    tiff, zarr, seq = [], [], []
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        for _ in range(a.repeat):
            cat_all([czi])()
            tiff.append(whole_tiff(czifs, czi, mnt))
            zarr.append(whole_zarr(czifs, czi, mnt))
            cat_all([czi])()
            seq.append(whole_chunks_one_by_one(czifs, czi, mnt))
    lat = chunk_latencies(czifs, czi, mnt, a.chunks)
    t, z, q = statistics.median(tiff), statistics.median(zarr), statistics.median(seq)
    print(f"{os.cpu_count()} cores; 20000x20000 Gray16 zstd1 mosaic plane; medians of {a.repeat}")
    print(f"ideal zstd decode, 1 thread  {ideal_gbs:.2f} GB/s")
    print(f"one TIFF (cat)               {t:.2f} GB/s  {t / ideal_gbs:.2f} x ideal")
    print(f"zarr chunks, dask 2 workers  {z:.2f} GB/s  {z / ideal_gbs:.2f} x ideal  "
          f"{z / t:.2f} x TIFF")
    print(f"zarr chunks, one by one      {q:.2f} GB/s  {q / ideal_gbs:.2f} x ideal  "
          f"{q / t:.2f} x TIFF")
    for kind in ("cold", "warm"):
        print(f"chunk read {kind}: p50 {pct(lat[kind], 50):.1f} ms  p99 {pct(lat[kind], 99):.1f} ms "
              f"({len(lat[kind])} chunks of 2 MiB)")


if __name__ == "__main__":
    main()
