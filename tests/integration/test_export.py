"""`czifs export` cannot lie: an interrupted export leaves no incomplete file
under a final name, a re-run finishes it, and the result equals the mount
(names, bytes, modes, times) for diff -r and rsync."""
import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import run, SLOWDOWN
from mounting import default_signals, mounted


def snapshot(root):
    """Every path below `root` (and root as "."): mode, size, mtime, owner, bytes."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in ["."] + dirs + files:
            p = dirpath if name == "." else os.path.join(dirpath, name)
            st = os.lstat(p)
            data = None
            if name in files:
                with open(p, "rb") as f:
                    data = f.read()
            out[os.path.relpath(p, root)] = (st.st_mode, st.st_mtime_ns, st.st_uid, st.st_gid,
                                             data)
    return out


@pytest.fixture(scope="module")
def big(czi_synth, czifs, tmp_path_factory):
    """A file whose export takes long enough to interrupt, and its reference export."""
    d = tmp_path_factory.mktemp("export")
    czi = d / "big.czi"
    r = run([czi_synth, str(czi), "--size", "Z=8,C=2", "--tile", "1024x1024", "--tiles", "2x2",
             "--codec", "zstd1"])
    assert r.returncode == 0, r.stderr
    os.chmod(czi, 0o640)  # a mode other than the default, to see it carried over
    ref = d / "ref"
    r = run([czifs, "export", str(czi), str(ref)])
    assert r.returncode == 0, r.stderr
    return czi, ref, snapshot(ref)


def export_until(czifs, czi, out, final_files):
    """Starts an export and sends SIGINT once `final_files` files have their
    final names (0: once it created the output folder); returns the
    process's exit code and stderr."""
    p = subprocess.Popen([czifs, "export", "-j", "2", str(czi), str(out)], stderr=subprocess.PIPE,
                         text=True, preexec_fn=default_signals)
    deadline = time.monotonic() + 120 * SLOWDOWN
    while not out.exists() and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    while final_files and p.poll() is None and time.monotonic() < deadline:
        done = sum(1 for _, _, fs in os.walk(out) for f in fs if not f.endswith(".czifs-partial"))
        if done >= final_files:
            break
        time.sleep(0.01)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120 * SLOWDOWN)
    return p.returncode, err


@pytest.mark.parametrize("when", [0, 3, 40], ids=["once-started", "after-3-files", "after-40-files"])
def test_sigint_leaves_only_complete_files_and_a_rerun_finishes_the_export(czifs, big, tmp_path,
                                                                          when):
    czi, ref, want = big
    out = tmp_path / "out"
    rc, err = export_until(czifs, czi, out, when)
    if rc == 0:
        pytest.fail(f"the export finished before SIGINT: make the file bigger\n{err}")
    assert rc == 128 + signal.SIGINT, err
    assert "interrupted" in err and "run the same command again" in err, err
    got = snapshot(out) if out.exists() else {}
    for rel, (mode, mtime, uid, gid, data) in got.items():
        assert not rel.endswith(".czifs-partial"), f"partial file left: {rel}"
        if data is not None:
            assert rel in want and data == want[rel][4], f"{rel}: incomplete or wrong bytes"
    r = run([czifs, "export", str(czi), str(out)])
    assert r.returncode == 0, r.stderr
    if when:
        assert "already complete, kept" in r.stderr, r.stderr
    assert snapshot(out) == want


def test_overwrite_writes_every_file_again(czifs, big, tmp_path):
    czi, ref, want = big
    out = tmp_path / "out"
    assert run([czifs, "export", str(czi), str(out)]).returncode == 0
    victim = out / "S0" / "C1" / "T0" / "Z3.tif"
    os.chmod(victim.parent, 0o755)
    os.chmod(victim, 0o644)
    with open(victim, "r+b") as f:  # same size and time, other bytes: only --overwrite sees it
        f.seek(1000)
        f.write(b"\xff" * 16)
    os.utime(victim, ns=(want["S0/C1/T0/Z3.tif"][1],) * 2)
    r = run([czifs, "export", "--overwrite", str(czi), str(out)])
    assert r.returncode == 0, r.stderr
    assert "already complete" not in r.stderr
    assert snapshot(out) == want


def test_an_export_equals_the_mount_for_diff_and_rsync(czifs, big, tmp_path):
    czi, ref, want = big
    mnt = tmp_path / "mnt"
    with mounted(czifs, czi, mnt):
        assert snapshot(mnt) == want
        r = run(["diff", "-r", str(mnt), str(ref)])
        assert r.returncode == 0, r.stdout
        if not shutil.which("rsync"):
            if os.environ.get("CI"):
                pytest.fail("rsync is not installed (scripts/install-deps.sh --tests installs it)")
            pytest.skip("rsync is not installed")
        r = run(["rsync", "-a", "--dry-run", "--itemize-changes", f"{mnt}/", f"{ref}/"])
        assert r.returncode == 0 and r.stdout.strip() == "", r.stdout + r.stderr


def test_several_sources_export_as_a_mount_of_them_shows_them(czifs, czi_synth, tmp_path):
    """Files and folders, two of one name: named as the mount names them
    (name, name~2, a folder by its last name, trailing slashes ignored)."""
    for d in ("one/runs", "two/runs"):
        (tmp_path / d).mkdir(parents=True)
    for rel, seed in (("one/runs/a.czi", "1"), ("two/runs/b.czi", "2"), ("c.czi", "3")):
        r = run([czi_synth, str(tmp_path / rel), "--tile", "64x48", "--size", "Z=2",
                 "--codec", "zstd1", "--seed", seed])
        assert r.returncode == 0, r.stderr
    sources = [str(tmp_path / "one" / "runs") + "/", str(tmp_path / "two" / "runs"),
               str(tmp_path / "c.czi")]
    out = tmp_path / "out"
    r = run([czifs, "export", *sources, str(out)])
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(out)) == ["c.czi", "runs", "runs~2"]
    mnt = tmp_path / "mnt"
    with mounted(czifs, sources, mnt):
        assert snapshot(mnt) == snapshot(out)
        r = run(["diff", "-r", str(mnt), str(out)])
        assert r.returncode == 0, r.stdout
        r = run(["rsync", "-a", "--dry-run", "--itemize-changes", f"{mnt}/", f"{out}/"])
        assert r.returncode == 0 and r.stdout.strip() == "", r.stdout + r.stderr


@pytest.mark.parametrize("args", [[], ["a.czi"]], ids=["nothing", "one-path"])
def test_an_export_without_a_source_and_an_outdir_says_what_it_needs(czifs, tmp_path, args):
    r = run([czifs, "export", *args], cwd=tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "at least one SOURCE and an OUTDIR" in lines[0], r.stderr
    assert os.listdir(tmp_path) == []


def test_an_existing_output_folder_keeps_its_own_mode_and_times(czifs, czi_synth, tmp_path):
    """`czifs export a.czi ~` must not give a home (or /tmp) the CZI's mode."""
    czi = tmp_path / "small.czi"
    assert run([czi_synth, str(czi), "--tile", "32x32"]).returncode == 0
    os.chmod(czi, 0o400)  # its folder in the mount: 0500
    out = tmp_path / "home"
    out.mkdir()
    os.chmod(out, 0o1777)
    os.utime(out, ns=(1_000_000_000_000_000_000,) * 2)
    r = run([czifs, "export", str(czi), str(out)])
    assert r.returncode == 0, r.stderr
    st = os.stat(out)
    assert oct(st.st_mode & 0o7777) == oct(0o1777)
    assert st.st_mtime_ns == 1_000_000_000_000_000_000
    assert (out / "S0" / "C0" / "T0" / "Z0.tif").is_file()
    assert oct(os.stat(out / "S0").st_mode & 0o777) == oct(0o500)  # made by the export


def first_hole(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.lseek(fd, 0, os.SEEK_HOLE)
    finally:
        os.close(fd)


def test_the_zeros_before_a_tiffs_pixels_take_no_disk_space_in_an_export_or_a_cp(
        czifs, big, tmp_path):
    """The gap between a TIFF's tags and its pixels (128 KiB, so a reader of
    the tags decodes nothing) is a hole in an export, and in a `cp` from the
    mount (the mount reports it in st_blocks, as a sparse file would)."""
    czi, ref, _ = big
    rel = os.path.join("S0", "C0", "T0", "Z0.tif")
    mnt = tmp_path / "mnt"
    with mounted(czifs, czi, mnt):
        shown = (mnt / rel).stat()
        assert shown.st_blocks * 512 <= shown.st_size - (64 << 10)
        copy = tmp_path / "copy.tif"
        assert run(["cp", str(mnt / rel), str(copy)]).returncode == 0
    for f in (ref / rel, copy):
        data = f.read_bytes()
        assert data == (ref / rel).read_bytes()
        assert data[64 << 10:128 << 10] == bytes(64 << 10)  # the gap reads as zeros
        assert first_hole(f) < 128 << 10, f"{f}: no hole in the first 128 KiB"
        assert f.stat().st_blocks * 512 < f.stat().st_size


def disk_usage(root):
    return int(run(["du", "-s", "--block-size=1", str(root)]).stdout.split()[0])


def test_small_planes_copied_without_keeping_holes_take_about_their_export_s_space(
        czifs, czi_synth, tmp_path):
    """rsync -a without -S writes every hole out as zeros: 64 x 64 planes
    keep their pixels right after their tags, so there is no gap to write."""
    czi = tmp_path / "small.czi"
    r = run([czi_synth, str(czi), "--pixel-type", "Gray8", "--tile", "64x64", "--size", "Z=300",
             "--codec", "zstd1"])
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    assert run([czifs, "export", str(czi), str(out)]).returncode == 0
    mnt, copy = tmp_path / "mnt", tmp_path / "copy"
    with mounted(czifs, czi, mnt):
        plane = mnt / "S0" / "C0" / "T0" / "Z000.tif"
        assert plane.stat().st_size < 8 << 10
        r = run(["rsync", "-a", f"{mnt}/", f"{copy}/"])
        assert r.returncode == 0, r.stderr
    exported, copied = disk_usage(out), disk_usage(copy)
    assert copied <= 1.5 * exported, (copied, exported)
    r = run(["diff", "-r", str(out), str(copy)])
    assert r.returncode == 0, r.stdout


def test_an_output_folder_inside_the_source_folder_is_refused_with_one_line(czifs, big, tmp_path):
    czi, _, _ = big
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(czi, src / "a.czi")
    r = run([czifs, "export", str(src), str(src / "out")])
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "inside the source folder" in lines[0], r.stderr
    assert not (src / "out").exists()


def small_pair(czi_synth, d):
    """Two files of one shape and size from two acquisitions (other GUIDs, other pixels)."""
    a, b = d / "a.czi", d / "b.czi"
    for path, seed in ((a, "1"), (b, "2")):
        r = run([czi_synth, str(path), "--codec", "uncompressed", "--tile", "64x48",
                 "--size", "Z=3", "--seed", seed])
        assert r.returncode == 0, r.stderr
    assert os.path.getsize(a) == os.path.getsize(b)
    return a, b


def test_a_rerun_after_a_same_size_rewrite_with_the_mtime_put_back_writes_the_new_version(
        czifs, czi_synth, tmp_path):
    a, b = small_pair(czi_synth, tmp_path)
    src = tmp_path / "src"
    src.mkdir()
    v = src / "v.czi"
    shutil.copyfile(a, v)
    out = tmp_path / "out"
    assert run([czifs, "export", str(src), str(out)]).returncode == 0
    st = os.stat(v)
    with open(v, "r+b") as f:
        f.write(b.read_bytes())
    os.utime(v, ns=(st.st_atime_ns, st.st_mtime_ns))
    r = run([czifs, "export", str(src), str(out)])
    assert r.returncode == 0, r.stderr
    assert "already complete" not in r.stderr, r.stderr
    want = tmp_path / "want"
    assert run([czifs, "export", str(b), str(want)]).returncode == 0
    assert (out / "v.czi" / "S0" / "C0" / "T0" / "Z1.tif").read_bytes() == \
        (want / "S0" / "C0" / "T0" / "Z1.tif").read_bytes()


def test_a_rerun_after_a_chmod_of_the_source_keeps_every_file(czifs, czi_synth, tmp_path):
    a, _ = small_pair(czi_synth, tmp_path)
    out = tmp_path / "out"
    assert run([czifs, "export", str(a), str(out)]).returncode == 0
    n = sum(len(files) for _, _, files in os.walk(out))
    os.chmod(a, 0o600)
    os.chmod(a, 0o644)  # the ctime moved, the content did not
    r = run([czifs, "export", str(a), str(out)])
    assert r.returncode == 0, r.stderr
    assert f"{n} already complete, kept" in r.stderr, r.stderr


def test_files_export_did_not_make_are_left_as_they_are_unless_overwrite(
        czifs, czi_synth, tmp_path):
    a, _ = small_pair(czi_synth, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "info.json").write_text("my own notes\n")
    (out / "planetable.csv").write_text("a,b\n1,2\n")
    r = run([czifs, "export", str(a), str(out)])
    assert r.returncode == 1, r.stderr
    for name in ("info.json", "planetable.csv"):
        line = [x for x in r.stderr.splitlines() if name in x]
        assert len(line) == 1 and "was not written by czifs export" in line[0], r.stderr
    assert (out / "info.json").read_text() == "my own notes\n"
    assert (out / "planetable.csv").read_text() == "a,b\n1,2\n"
    assert (out / "S0" / "C0" / "T0" / "Z0.tif").exists()  # everything else is written
    r = run([czifs, "export", "--overwrite", str(a), str(out)])
    assert r.returncode == 0, r.stderr
    assert (out / "info.json").read_text().startswith("{")
    # Now all of it is export's own: a rerun keeps it.
    r = run([czifs, "export", str(a), str(out)])
    assert r.returncode == 0 and "already complete, kept" in r.stderr, r.stderr
