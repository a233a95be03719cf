"""Real mounts: golden pixels, exact sizes, cp -r == export, parallel readers,
clean unmounts, read-only, lazy parsing."""
import filecmp
import hashlib
import os
import pathlib
import random
import shutil
import signal
import subprocess
import threading
import time

import numpy as np
import pytest
import tifffile

from conftest import golden_files, load_golden, plane_relpath, czi_order_md5, run, SLOWDOWN
from mounting import mounted, is_mounted, wait_for, force_unmount, stats


@pytest.fixture(scope="module")
def corpus_mount(czifs, corpus, tmp_path_factory):
    mnt = tmp_path_factory.mktemp("m") / "mnt"
    with mounted(czifs, corpus, mnt, "--cache-size", "64M") as proc:
        yield mnt
    assert proc.returncode == 0


@pytest.fixture(scope="module")
def corpus_export(czifs, corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("e") / "out"
    r = run([czifs, "export", str(corpus), str(out)])
    assert r.returncode == 0, r.stderr
    return out


def test_listing_the_whole_mount_decodes_nothing(czifs, corpus, tmp_path):
    mnt = tmp_path / "mnt"
    with mounted(czifs, corpus, mnt):
        r = subprocess.run(["ls", "-lR", str(mnt)], capture_output=True, text=True)
        assert r.returncode == 0
        assert ".tif" in r.stdout
        assert stats(mnt)["decoded_subblocks"] == 0


@pytest.mark.parametrize("golden_path", golden_files(), ids=lambda p: p.name[:-5])
def test_every_plane_through_the_mount_matches_golden(corpus_mount, golden_path):
    g = load_golden(golden_path)
    for plane in g["planes"]:
        path = corpus_mount / g["file"] / plane_relpath(g, plane)
        data = path.read_bytes()
        assert len(data) == path.stat().st_size
        arr = tifffile.imread(path)
        assert czi_order_md5(arr) == plane["md5"], f"{g['file']}: {path}"


def test_stat_size_equals_bytes_read_for_every_file(corpus_mount):
    count = 0
    for root, dirs, files in os.walk(corpus_mount):
        for name in files:
            p = os.path.join(root, name)
            with open(p, "rb") as f:
                assert len(f.read()) == os.stat(p).st_size, p
            count += 1
    assert count > 200


def test_cp_of_the_mount_equals_export(corpus_mount, corpus_export, tmp_path):
    dst = tmp_path / "copy"
    r = subprocess.run(["cp", "-r", str(corpus_mount), str(dst)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    mismatches = []
    for root, dirs, files in os.walk(corpus_export):
        for name in files:
            a = os.path.join(root, name)
            b = os.path.join(dst, os.path.relpath(a, corpus_export))
            if not os.path.exists(b) or not filecmp.cmp(a, b, shallow=False):
                mismatches.append(b)
    assert not mismatches
    n_copy = sum(len(f) for _, _, f in os.walk(dst))
    n_export = sum(len(f) for _, _, f in os.walk(corpus_export))
    assert n_copy == n_export


def test_each_file_mounted_alone_has_its_tree_at_the_root(czifs, corpus, corpus_export, tmp_path):
    for czi in sorted(corpus.glob("*.czi")):
        mnt = tmp_path / ("m_" + czi.stem)
        with mounted(czifs, czi, mnt, "--threads", "2"):
            ref = corpus_export / czi.name
            for p in ref.rglob("*"):
                q = mnt / p.relative_to(ref)
                if p.is_file():
                    assert q.read_bytes() == p.read_bytes(), q


@pytest.mark.concurrency
def test_parallel_random_reads_with_a_tiny_cache_are_correct(czifs, corpus, corpus_export, tmp_path):
    mnt = tmp_path / "mnt"
    planes = sorted(str(p.relative_to(corpus_export)) for p in corpus_export.rglob("*.tif"))
    ref = {p: (corpus_export / p).read_bytes() for p in planes}
    errors = []
    with mounted(czifs, corpus, mnt, "--cache-size", "8M", "--threads", "2"):
        def reader(seed):
            rnd = random.Random(seed)
            for _ in range(150):
                p = rnd.choice(planes)
                data = ref[p]
                off = rnd.randrange(len(data))
                n = rnd.choice([1, 100, 4096, 65536, 1 << 20])
                with open(mnt / p, "rb") as f:
                    f.seek(off)
                    got = f.read(n)
                if got != data[off:off + n]:
                    errors.append((p, off, n))
        threads = [threading.Thread(target=reader, args=(s,)) for s in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        s = stats(mnt)
        assert s["cache_bytes"] <= s["cache_capacity"]
    assert not errors, errors[:5]


@pytest.mark.parametrize("pixel_type", ["Gray16", "Gray8", "Bgr24"])
def test_small_overlapping_tiles_read_through_the_mount_as_exported(czifs, czi_synth, tmp_path,
                                                                    pixel_type):
    """A plane of 480 small overlapping tiles: each 1 MiB request draws
    thousands of tile runs. Every read size, cold and with the tiles cached."""
    czi = tmp_path / "m.czi"
    assert run([czi_synth, str(czi), "--pixel-type", pixel_type, "--codec", "zstd1",
                "--tile", "40x24", "--tiles", "40x12", "--overlap", "0.25"]).returncode == 0
    assert run([czifs, "export", str(czi), str(tmp_path / "ref")]).returncode == 0
    want = (tmp_path / "ref" / "S0" / "C0" / "T0" / "Z0.tif").read_bytes()
    mnt = tmp_path / "mnt"
    with mounted(czifs, czi, mnt):
        plane = mnt / "S0" / "C0" / "T0" / "Z0.tif"
        assert plane.read_bytes() == want
        for n in (4096, 333333, 1 << 20, 3 << 20):
            with open(plane, "rb", buffering=0) as f:
                os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
                got = b"".join(iter(lambda: f.read(n), b""))
            assert got == want, n


def settled_decodes(mnt):
    """The decode count once it stopped moving (background read-ahead done)."""
    last, deadline = -1, time.monotonic() + 10 * SLOWDOWN
    while time.monotonic() < deadline:
        now = stats(mnt)["decoded_subblocks"]
        if now == last:
            return now
        last = now
        time.sleep(0.2)
    return last


def test_copying_a_dataset_larger_than_the_cache_keeps_what_a_viewer_reads(
        czifs, czi_synth, tmp_path):
    """A viewer reads a region of one plane; someone copies a dataset larger
    than the cache. The tiles the copy went past leave the cache first, so
    the viewer's come back without a decode (plain LRU would have let them go)."""
    hot, big = tmp_path / "hot.czi", tmp_path / "big.czi"
    for path, z in ((hot, 1), (big, 48)):  # big: 48 planes of 2 x 2 tiles of 512^2: 96 MB
        assert run([czi_synth, str(path), "--codec", "zstd1", "--tile", "512x512", "--tiles",
                    "2x2", "--size", f"C=1,T=1,Z={z}"]).returncode == 0
    mnt = tmp_path / "mnt"
    with mounted(czifs, [hot, big], mnt, "--cache-size", "64M"):
        plane = mnt / "hot.czi" / "S0" / "C0" / "T0" / "Z0.tif"

        def view():
            with open(plane, "rb", buffering=0) as f:
                os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
                return os.pread(f.fileno(), 4096, plane.stat().st_size // 2)

        region = view()
        decoded = settled_decodes(mnt)  # the viewer's read-ahead may still be decoding
        assert 1 <= decoded <= 4
        for p in sorted((mnt / "big.czi" / "S0" / "C0" / "T0").glob("Z*.tif")):
            with open(p, "rb", buffering=0) as f:
                while f.read(1 << 20):
                    pass
        after_copy = settled_decodes(mnt)
        assert after_copy >= decoded + 192
        s = stats(mnt)
        assert s["cache_bytes"] <= s["cache_capacity"]
        assert view() == region
        assert stats(mnt)["decoded_subblocks"] == after_copy  # the viewer's tiles stayed


def test_writes_fail_with_erofs(corpus_mount):
    target = next(corpus_mount.rglob("*.tif"))
    for action in (lambda: open(target, "r+b"), lambda: open(corpus_mount / "new", "w"),
                   lambda: os.mkdir(corpus_mount / "d"), lambda: os.unlink(target),
                   lambda: os.rename(target, target.with_name("x.tif")),
                   lambda: os.chmod(target, 0o777), lambda: os.truncate(target, 0),
                   lambda: os.utime(target, (0, 0)), lambda: os.rmdir(target.parent),
                   lambda: os.symlink("x", corpus_mount / "l"),
                   lambda: os.link(target, corpus_mount / "h"),
                   lambda: os.setxattr(target, "user.x", b"1")):
        with pytest.raises(OSError) as e:
            action()
        assert e.value.errno == 30  # EROFS


def test_files_are_read_only_and_owned_like_the_source(corpus_mount, corpus):
    st_src = (corpus / "Airyscan.czi").stat()
    assert st_src.st_mode & 0o777 == 0o444  # the corpus is read-only
    d = corpus_mount / "Airyscan.czi"
    f = d / "S0" / "C0" / "T0" / "Z0.tif"
    assert oct(d.stat().st_mode & 0o777) == "0o555"
    assert oct(f.stat().st_mode & 0o777) == "0o444"
    assert f.stat().st_uid == st_src.st_uid
    assert corpus_mount.stat().st_mode & 0o777 == corpus.stat().st_mode & 0o777
    assert f.stat().st_blksize == 4096  # a buffered reader of the tags reads no pixels


def test_inode_numbers_are_stable(corpus_mount):
    p = corpus_mount / "DAPI_GFP.czi" / "S0" / "C1" / "T0" / "Z0.tif"
    a = os.stat(p).st_ino
    os.listdir(corpus_mount / "DAPI_GFP.czi")
    assert os.stat(p).st_ino == a


def test_background_mount_returns_once_ready_and_fusermount_unmounts(czifs, corpus, tmp_path):
    mnt = tmp_path / "bg"
    mnt.mkdir()
    try:
        r = run([czifs, str(corpus / "DAPI_GFP.czi"), str(mnt)], timeout=30)
        assert r.returncode == 0, r.stderr
        assert is_mounted(mnt)  # ready when the command returns
        assert (mnt / "S0" / "C0" / "T0" / "Z0.tif").stat().st_size > 0
        r = run(["fusermount3", "-u", str(mnt)])
        assert r.returncode == 0, r.stderr
        assert wait_for(lambda: not is_mounted(mnt), 2 * SLOWDOWN)
    finally:
        force_unmount(mnt)


def test_bad_source_or_mount_point_fails_in_the_calling_shell(czifs, corpus, tmp_path):
    mnt = tmp_path / "m"
    mnt.mkdir()
    bad = tmp_path / "bad.czi"
    bad.write_bytes(b"not a czi at all" * 10)
    r = run([czifs, str(bad), str(mnt)], timeout=30)
    assert r.returncode == 1 and "bad.czi" in r.stderr
    r = run([czifs, str(corpus / "DAPI_GFP.czi"), str(tmp_path / "missing")], timeout=30)
    assert r.returncode == 3 and "missing" in r.stderr
    r = run([czifs, str(tmp_path / "nothing.czi"), str(mnt)], timeout=30)
    assert r.returncode == 1
    assert not is_mounted(mnt)


@pytest.mark.concurrency
@pytest.mark.parametrize("how", ["fusermount", "sigterm", "sigint"])
def test_unmount_and_signals_exit_cleanly_with_reads_in_flight(czifs, czi_synth, tmp_path, how):
    """The daemon exits with status 0 and leaves no mount and no process.
    How fast is measured, not asserted (benchmarks/slow_storage.py,
    docs/reliability.md): a loaded machine must not fail this test; a daemon
    that hangs does (the wait below is a hang detector)."""
    czi = tmp_path / "big.czi"
    r = run([czi_synth, str(czi), "--tile", "1024x1024", "--tiles", "3x3", "--size", "Z=4",
             "--codec", "zstd1-hilo"])
    assert r.returncode == 0, r.stderr
    mnt = tmp_path / "mnt"
    with mounted(czifs, czi, mnt, "--threads", "2", "--cache-size", "16M") as proc:
        # Heavy reads in flight while we stop.
        readers = [subprocess.Popen(["cat"] + [str(p) for p in sorted(mnt.rglob("*.tif"))],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                   for _ in range(3)]
        time.sleep(0.3)
        start = time.monotonic()
        if how == "fusermount":
            subprocess.run(["fusermount3", "-uz", str(mnt)], capture_output=True)
        else:
            proc.send_signal(signal.SIGTERM if how == "sigterm" else signal.SIGINT)
        rc = proc.wait(timeout=60 * SLOWDOWN)
        elapsed = time.monotonic() - start
        for r in readers:
            r.kill()
            r.wait()
        print(f"{how}: exited in {elapsed:.2f} s with 3 readers in flight")
        assert rc == 0
        assert not is_mounted(mnt)
        leftover = subprocess.run(["pgrep", "-f", f"czifs -f {czi}"], capture_output=True)
        assert leftover.returncode != 0, "daemon still running"


def test_lazy_folder_mount_parses_files_on_first_access(czifs, czi_synth, tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    for i in range(30):
        r = run([czi_synth, str(src / "sub" / f"f{i:02d}.czi"), "--tile", "16x16"])
        assert r.returncode == 0
    (src / "sub" / "broken.czi").write_bytes(b"\0" * 100)
    (src / "empty_folder").mkdir()
    mnt = tmp_path / "mnt"
    with mounted(czifs, src, mnt):
        names = sorted(os.listdir(mnt / "sub"))
        assert len(names) == 31 and "f00.czi" in names
        # A live mirror shows every folder (a microscope creates it before the file).
        assert "empty_folder" in os.listdir(mnt) and os.listdir(mnt / "empty_folder") == []
        assert (mnt / "sub" / "f07.czi" / "S0" / "C0" / "T0" / "Z0.tif").stat().st_size > 0
        with pytest.raises(OSError) as e:
            os.listdir(mnt / "sub" / "broken.czi")
        assert e.value.errno == 5  # EIO
        # Everything else keeps working.
        assert (mnt / "sub" / "f08.czi" / "info.json").read_bytes().startswith(b"{")


def test_several_sources_appear_side_by_side(czifs, corpus, tmp_path):
    mnt = tmp_path / "mnt"
    with mounted(czifs, [corpus / "DAPI_GFP.czi", corpus / "Airyscan.czi"], mnt):
        assert sorted(os.listdir(mnt)) == ["Airyscan.czi", "DAPI_GFP.czi"]


def test_fstab_style_mount_through_mount_fuse3(czifs, corpus, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "czifs").symlink_to(czifs)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    # An fstab line "SRC MNT fuse.czifs ro,threads=2,cache_size=64M 0 0" makes mount(8) run
    # exactly this helper command (mount(8) itself resets PATH, so it finds czifs only once
    # installed; the helper's argument forms are what matter here).
    env = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}")
    try:
        r = subprocess.run(["mount.fuse3", str(corpus / "DAPI_GFP.czi"), str(mnt), "-t", "fuse.czifs",
                            "-o", "ro,nosuid,nodev,threads=2,cache_size=64M"],
                           capture_output=True, text=True, env=env, timeout=30)
        assert r.returncode == 0, r.stderr
        assert is_mounted(mnt)
        assert (mnt / "S0" / "C1" / "T0" / "Z0.tif").stat().st_size > 0
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)
        force_unmount(mnt)


def test_stale_mount_point_tells_the_user_what_to_run(czifs, corpus, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    try:
        r = run([czifs, str(corpus / "DAPI_GFP.czi"), str(mnt)], timeout=30)
        assert r.returncode == 0
        pid = int(subprocess.run(["pgrep", "-f", f"czifs {corpus / 'DAPI_GFP.czi'} {mnt}"],
                                 capture_output=True, text=True).stdout.split()[0])
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.3)
        r = run([czifs, str(corpus / "DAPI_GFP.czi"), str(mnt)], timeout=30)
        assert r.returncode == 3
        assert f"fusermount3 -u {mnt}" in r.stderr
    finally:
        force_unmount(mnt)


def test_source_replaced_while_mounted_gives_eio_not_mixed_bytes(czifs, czi_synth, tmp_path):
    czi = tmp_path / "a.czi"
    assert run([czi_synth, str(czi), "--tile", "64x64", "--size", "Z=3"]).returncode == 0
    mnt = tmp_path / "mnt"
    with mounted(czifs, czi, mnt):
        before = (mnt / "S0" / "C0" / "T0" / "Z0.tif").read_bytes()
        # Rewrite the file in place with other content (same layout, new seed).
        assert run([czi_synth, str(tmp_path / "b.czi"), "--tile", "64x64", "--size", "Z=3",
                    "--seed", "9"]).returncode == 0
        with open(czi, "r+b") as f:
            f.write((tmp_path / "b.czi").read_bytes())
        with pytest.raises(OSError) as e:
            (mnt / "S0" / "C0" / "T0" / "Z1.tif").read_bytes()
        assert e.value.errno == 5
        assert before  # the earlier read was served before the change
