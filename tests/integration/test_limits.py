"""Limits never leave a dead mount: few descriptors, many files."""
import os
import re
import signal
import shutil
import subprocess
import time

import pytest

from conftest import run, SLOWDOWN
from mounting import default_signals, is_mounted, wait_for, force_unmount

N_FILES = 10000


def stop_daemon(proc, mnt):
    """Unmounts and waits for the daemon; kills it if it does not go."""
    run(["fusermount3", "-u", str(mnt)])
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    force_unmount(mnt)


def test_ten_thousand_files_under_ulimit_n_64_every_plane_readable(czifs, czi_synth, tmp_path):
    tmpl = tmp_path / "t.czi"
    assert run([czi_synth, str(tmpl), "--tile", "16x16", "--codec", "uncompressed"]).returncode == 0
    ref = tmp_path / "ref"
    assert run([czifs, "export", str(tmpl), str(ref)]).returncode == 0
    want = (ref / "S0" / "C0" / "T0" / "Z0.tif").read_bytes()
    src = tmp_path / "src"
    src.mkdir()
    for i in range(N_FILES):
        shutil.copyfile(tmpl, src / f"w{i:05d}.czi")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    log = tmp_path / "log.txt"
    # Soft and hard limit 64: czifs cannot raise it and must live within it.
    proc = subprocess.Popen(["bash", "-c", f'ulimit -n 64 && exec "$0" -f "$1" "$2" --parsed-files 64',
                             czifs, str(src), str(mnt)],
                            stdout=subprocess.DEVNULL, stderr=open(log, "w"))
    try:
        assert wait_for(lambda: is_mounted(mnt), 30 * SLOWDOWN), log.read_text()
        names = sorted(os.listdir(mnt))
        assert len(names) == N_FILES
        bad = []
        for name in names:
            try:
                got = (mnt / name / "S0" / "C0" / "T0" / "Z0.tif").read_bytes()
            except OSError as e:
                bad.append((name, e.errno))
                continue
            if got != want:
                bad.append((name, "wrong bytes"))
        assert not bad, f"{len(bad)} of {N_FILES}: {bad[:5]}"
        assert proc.poll() is None
    finally:
        stop_daemon(proc, mnt)


def sanitizer_build():
    # ASan/TSan reserve terabytes of address space: RLIMIT_AS cannot apply to them.
    return float(os.environ.get("CZIFS_TEST_SLOWDOWN", "1")) != 1


def make_cgroup(limit_bytes):
    """A memory cgroup with `limit_bytes`, as (procs file, cleanup), or None."""
    name = f"czifs-test-{os.getpid()}"
    for folder, limit_file in (("/sys/fs/cgroup/" + name, "memory.max"),
                               ("/sys/fs/cgroup/memory/" + name, "memory.limit_in_bytes")):
        try:
            os.mkdir(folder)
        except OSError:
            continue
        if not os.path.exists(os.path.join(folder, "cgroup.procs")):  # a plain folder, not a cgroup
            shutil.rmtree(folder, ignore_errors=True)
            continue
        try:
            with open(os.path.join(folder, limit_file), "w") as f:
                f.write(str(limit_bytes))
            return os.path.join(folder, "cgroup.procs"), lambda: os.rmdir(folder)
        except OSError:
            os.rmdir(folder)
    return None


@pytest.fixture(scope="module")
def big_mosaic(czi_synth, tmp_path_factory):
    czi = tmp_path_factory.mktemp("big") / "big.czi"
    r = run([czi_synth, str(czi), "--pixel-type", "Gray16", "--codec", "zstd1", "--tile",
             "2048x2048", "--tiles", "4x4", "--size", "Z=2"])
    assert r.returncode == 0, r.stderr
    return czi


def four_readers_under(czifs, czi, tmp_path, wrap):
    """Mounts under `wrap` (a shell prefix) with the default cache; 4 readers
    read every plane at once. Returns the daemon's log."""
    mnt, log = tmp_path / "mnt", tmp_path / "log.txt"
    mnt.mkdir()
    # AddressSanitizer keeps 256 MiB of freed memory in quarantine, memory the
    # real daemon reuses at once: under a 500 MiB cgroup that alone got the
    # ASan build killed (measured: 470 MiB RSS, vs 216 MiB with 32 MiB).
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=32"
    proc = subprocess.Popen(["bash", "-c", wrap + ' && exec "$0" -f "$1" "$2"', czifs, str(czi),
                             str(mnt)], stdout=subprocess.DEVNULL, stderr=open(log, "w"), env=env)
    try:
        assert wait_for(lambda: is_mounted(mnt), 30), log.read_text()
        planes = sorted(str(p) for p in mnt.rglob("Z*.tif"))
        sizes = {p: os.path.getsize(p) for p in planes}
        readers = [subprocess.Popen(["bash", "-c", 'for f in "$@"; do cat "$f" | wc -c; done',
                                     "x", *planes], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                   for _ in range(4)]
        for r in readers:
            out, err = r.communicate(timeout=300)
            for line in err.decode().splitlines():  # a failed read is an errno, never a crash
                assert "Input/output error" in line or "Cannot allocate memory" in line, line
            for n, p in zip(out.split(), planes):
                assert int(n) in (sizes[p], 0) or b"error" in err, (p, n)
        assert proc.poll() is None, "the daemon died: " + log.read_text()[-2000:]
        assert (mnt / "info.json").read_bytes().startswith(b"{")
        return log.read_text()
    finally:
        stop_daemon(proc, mnt)


def cache_mib(log):
    m = re.search(r"(\d+) MiB cache", log)
    assert m, log
    return int(m.group(1))


@pytest.mark.skipif(sanitizer_build(), reason="sanitizers cannot run under ulimit -v")
def test_under_ulimit_v_the_default_cache_fits_and_the_daemon_stays_up(czifs, big_mosaic, tmp_path):
    log = four_readers_under(czifs, big_mosaic, tmp_path, f"ulimit -v {800 * 1024}")
    assert cache_mib(log) <= 200, log
    assert "RLIMIT_AS" in log


def test_in_a_500_mib_cgroup_the_default_cache_fits_and_the_daemon_stays_up(
        czifs, big_mosaic, tmp_path):
    cg = make_cgroup(500 << 20)
    if cg is None:
        pytest.skip("no writable memory cgroup on this machine")
    procs, cleanup = cg
    try:
        log = four_readers_under(czifs, big_mosaic, tmp_path, f"echo $$ > {procs}")
        assert cache_mib(log) <= 125, log
        assert "cgroup" in log
    finally:
        time.sleep(0.5)
        cleanup()


def test_a_cache_larger_than_the_memory_allowed_is_refused(czifs, big_mosaic, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run(["bash", "-c", f'ulimit -v {800 * 1024} && exec "$0" "$1" "$2" --cache-size 2G',
                        czifs, str(big_mosaic), str(mnt)], capture_output=True, text=True,
                       timeout=30)
    if sanitizer_build():
        pytest.skip("sanitizers cannot run under ulimit -v")
    assert r.returncode == 2, r.stderr
    assert "more than half" in r.stderr and "RLIMIT_AS" in r.stderr
    assert not is_mounted(mnt)


def test_on_slow_storage_metadata_answers_while_reads_wait_and_sigterm_ends_it_in_two_seconds(
        czifs, czi_synth, tmp_path):
    czi = tmp_path / "m.czi"
    r = run([czi_synth, str(czi), "--pixel-type", "Gray16", "--codec", "uncompressed", "--tile",
             "1024x1024", "--tiles", "2x2", "--overlap", "0", "--size", "Z=8"])
    assert r.returncode == 0, r.stderr
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    # Every read of the source takes 50 ms, as on a loaded NFS server.
    env = dict(os.environ, CZIFS_TEST_READ_DELAY_MS="50")
    proc = subprocess.Popen([czifs, "-f", str(czi), str(mnt), "--threads", "2"], env=env,
                            preexec_fn=default_signals,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    readers = []
    try:
        assert wait_for(lambda: is_mounted(mnt), 30 * SLOWDOWN)
        planes = sorted(str(p) for p in mnt.rglob("Z*.tif"))
        readers = [subprocess.Popen(["cat", p], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                   for p in planes * 3]  # 24 readers: more than FUSE has request threads
        time.sleep(0.5)
        # Lookups, listings and the stats file do not queue behind the reads.
        for cmd in (["cat", str(mnt / ".czifs-stats")], ["ls", "-l", str(mnt / "S0" / "C0" / "T0")],
                    ["stat", str(mnt / "info.json")]):
            r = subprocess.run(cmd, capture_output=True, timeout=10 * SLOWDOWN)
            assert r.returncode == 0, (cmd, r.stderr)
        assert all(p.poll() is None for p in readers[:4]), "reads ended too soon to test anything"
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60 * SLOWDOWN)  # a hang detector; the time is printed, not judged
        print(f"SIGTERM with 24 slow readers: exited in {time.monotonic() - start:.1f} s")
        assert rc == 0
    finally:
        for p in readers:
            p.kill()
            p.wait()
        if proc.poll() is None:
            proc.kill()
        force_unmount(mnt)


@pytest.mark.parametrize("budget", [("--parsed-files", "1"), ("--parsed-files", "3"),
                                    ("--parsed-memory", "1")])
@pytest.mark.concurrency
def test_parsed_files_smaller_than_the_files_in_use_fails_no_reader(
        czifs, czi_synth, tmp_path, budget):
    """8 readers over 500 files with --parsed-files 1 (or 3, or a byte budget
    smaller than any file): trees are let go between a lookup and the next
    request all the time, and built again folder by folder; every read is
    exact."""
    import random
    import threading
    from mounting import mounted
    kinds = {}
    for k, size in enumerate(("Z=2", "C=2", "T=2", "Z=3", "C=3")):
        tmpl = tmp_path / f"t{k}.czi"
        assert run([czi_synth, str(tmpl), "--tile", "24x16", "--size", size]).returncode == 0
        ref = tmp_path / f"ref{k}"
        assert run([czifs, "export", str(tmpl), str(ref)]).returncode == 0
        kinds[k] = {rel: (ref / rel).read_bytes()
                    for rel in ("S0/C0/T0/Z0.tif", "metadata.xml", "S0.ome.zarr/0/0/0/0/0/0")}
    src = tmp_path / "src"
    src.mkdir()
    for i in range(500):
        shutil.copyfile(tmp_path / f"t{i % 5}.czi", src / f"f{i:03d}.czi")
    mnt = tmp_path / "mnt"
    bad, reads = [], [0]
    lock = threading.Lock()

    def reader(seed):
        rng = random.Random(seed)
        names = list(range(500))
        rng.shuffle(names)
        for i in names[:200]:
            for rel, want in kinds[i % 5].items():
                path = mnt / f"f{i:03d}.czi" / rel
                try:
                    got = path.read_bytes()
                    ok = got == want
                except OSError as e:
                    ok, got = False, e
                with lock:
                    reads[0] += 1
                    if not ok:
                        bad.append((str(path), got if isinstance(got, OSError) else "wrong bytes"))

    with mounted(czifs, src, mnt, *budget, "--watch", "ttl", "--ttl", "0.5"):
        threads = [threading.Thread(target=reader, args=(s,)) for s in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert reads[0] == 8 * 200 * 3
    assert not bad, f"{len(bad)} of {reads[0]} reads failed: {bad[:5]}"


@pytest.mark.concurrency
def test_a_second_walk_over_more_files_than_parsed_files_parses_nothing(czifs, czi_synth, tmp_path):
    """40 CZIs, --parsed-files 4: after one walk that lists and stats every
    entry (ls -lR), a second walk (find, ls -lR, du) parses no file again —
    .czifs-stats counts parses — and shows the same sizes; reading a file of
    a let-go tree still gives its bytes (that tree is parsed again). TTL 0,
    so that the kernel keeps nothing and every walk reaches the daemon (as
    when a busy server's kernel has dropped its entries)."""
    import json
    from mounting import mounted
    tmpl = tmp_path / "t.czi"
    assert run([czi_synth, str(tmpl), "--tile", "24x16", "--size", "Z=3"]).returncode == 0
    src = tmp_path / "src"
    src.mkdir()
    for i in range(40):
        shutil.copyfile(tmpl, src / f"f{i:02d}.czi")
    mnt = tmp_path / "mnt"

    def walk():
        seen = {}
        for root, dirs, files in os.walk(mnt):
            for name in dirs + files:
                p = os.path.join(root, name)
                st = os.lstat(p)
                seen[os.path.relpath(p, mnt)] = (st.st_ino, st.st_size, st.st_mode)
        return seen

    def parsed():
        return json.loads((mnt / ".czifs-stats").read_text())["parsed_files"]

    with mounted(czifs, src, mnt, "--parsed-files", "4", "--watch", "ttl", "--ttl", "0"):
        first = walk()
        assert parsed() == 40
        second = walk()
        assert second == first
        for cmd in (["find", str(mnt)], ["ls", "-lR", str(mnt)], ["du", "-s", str(mnt)]):
            assert run(cmd).returncode == 0
        assert parsed() == 40
        want = (mnt / "f39.czi" / "S0" / "C0" / "T0" / "Z2.tif").read_bytes()
        assert (mnt / "f00.czi" / "S0" / "C0" / "T0" / "Z2.tif").read_bytes() == want
        assert parsed() == 41
