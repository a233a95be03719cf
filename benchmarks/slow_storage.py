#!/usr/bin/env python3
"""Metadata latency on slow storage: every source read takes 50 ms
(CZIFS_TEST_READ_DELAY_MS), 24 readers stream planes of one file, and
meanwhile the time of `.czifs-stats`, of `stat` inside the file being read,
and of the first lookup into another, never-parsed file is taken; then
how long SIGTERM takes to end the daemon.

    python3 benchmarks/slow_storage.py build --data /tmp/czifs-slow
"""
import argparse
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from mounting import is_mounted, wait_for, force_unmount  # noqa: E402


def timed(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--data", default="/tmp/czifs-slow")
    ap.add_argument("--delay-ms", type=int, default=50)
    a = ap.parse_args()
    src = os.path.join(a.data, "src")
    os.makedirs(src, exist_ok=True)
    synth = os.path.join(a.build, "czi-synth")
    for name in ("busy.czi", "other.czi"):
        path = os.path.join(src, name)
        if not os.path.exists(path):
            subprocess.run([synth, path, "--pixel-type", "Gray16", "--codec", "uncompressed",
                            "--tile", "1024x1024", "--tiles", "2x2", "--overlap", "0", "--size",
                            "Z=8"], check=True, capture_output=True)
    mnt = os.path.join(a.data, "mnt")
    os.makedirs(mnt, exist_ok=True)
    force_unmount(mnt)
    env = dict(os.environ, CZIFS_TEST_READ_DELAY_MS=str(a.delay_ms))
    proc = subprocess.Popen([os.path.join(a.build, "czifs"), "-f", src, mnt, "--threads", "2"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    readers = []
    try:
        wait_for(lambda: is_mounted(mnt), 30)
        busy = os.path.join(mnt, "busy.czi")
        planes = sorted(os.path.join(r, f) for r, _, fs in os.walk(busy) for f in fs
                        if f.startswith("Z"))
        readers = [subprocess.Popen(["cat", p], stdout=subprocess.DEVNULL) for p in planes * 3]
        time.sleep(1)
        print(f"{a.delay_ms} ms per source read, {len(readers)} readers of busy.czi")
        print(f"cat .czifs-stats            {timed(['cat', os.path.join(mnt, '.czifs-stats')]):.3f} s")
        print(f"stat busy.czi/info.json     {timed(['stat', os.path.join(busy, 'info.json')]):.3f} s")
        print(f"first lookup into other.czi {timed(['stat', os.path.join(mnt, 'other.czi', 'S0')]):.3f} s "
              "(parses it)")
        t = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
        print(f"SIGTERM to exit             {time.perf_counter() - t:.3f} s")
    finally:
        for r in readers:
            r.kill()
            r.wait()
        if proc.poll() is None:
            proc.kill()
        force_unmount(mnt)


if __name__ == "__main__":
    main()
