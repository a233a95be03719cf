"""A mistyped option or a busy mount point fails before anything is mounted:
one clear line, a non-zero exit, no mount; sources given as "a/" or under
one name are told apart."""
import os
import signal
import stat
import subprocess
import time

import pytest

from conftest import run, SLOWDOWN
from mounting import mounted, is_mounted, wait_for, force_unmount


@pytest.fixture
def sample(czi_synth, tmp_path):
    czi = tmp_path / "s.czi"
    r = run([czi_synth, str(czi), "--tile", "32x32"])
    assert r.returncode == 0, r.stderr
    return czi


@pytest.mark.parametrize("args", [
    ["--threads", "100000"], ["--threads", "0"], ["-o", "threads=-1"], ["-o", "threads=100000"],
    ["-o", "max_threads=0"], ["--log-file", "/proc/version"],
    ["--log-file", "/nonexistent-folder/czifs.log"], ["-o", "log_file=/proc/version"],
    ["--ttl", "-1"], ["-o", "ttl=soon"], ["--watch", "sometimes"],
    ["--readahead", "1K"], ["--readahead", "fast"], ["-o", "readahead=100M"],
], ids=lambda a: " ".join(a))
def test_an_option_mistake_is_one_line_and_nothing_is_mounted(czifs, sample, tmp_path, args):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    try:
        r = run([czifs, str(sample), str(mnt), *args], timeout=30)
        assert r.returncode == 2, (r.returncode, r.stderr)
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        assert 1 <= len(lines) <= 2, r.stderr  # CLI11 may add "Run with --help"
        assert not is_mounted(mnt)
    finally:
        force_unmount(mnt)


def test_mount_options_before_the_sources_take_one_list_each(czifs, sample, tmp_path):
    """`czifs -o ro -o threads=2 SRC MNT`, as mount(8) and fstab write it:
    each -o takes its own list, not the paths after it."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    try:
        r = run([czifs, "-o", "ro", "-o", "threads=2,damaged=zero", str(sample), str(mnt)],
                timeout=30)
        assert r.returncode == 0, r.stderr
        assert is_mounted(mnt)
        assert (mnt / "S0" / "C0" / "T0" / "Z0.tif").read_bytes()[:2] == b"II"
    finally:
        run(["fusermount3", "-u", str(mnt)])
        force_unmount(mnt)


def test_a_log_file_that_can_be_written_gets_the_log(czifs, sample, tmp_path):
    mnt, log = tmp_path / "mnt", tmp_path / "czifs.log"
    mnt.mkdir()
    try:
        r = run([czifs, str(sample), str(mnt), "--log-file", str(log)], timeout=30)
        assert r.returncode == 0, r.stderr
        assert wait_for(lambda: "serving" in log.read_text(), 5 * SLOWDOWN)
    finally:
        run(["fusermount3", "-u", str(mnt)])
        force_unmount(mnt)


def test_a_folder_source_with_a_trailing_slash_among_several_is_named_by_its_folder(
        czifs, czi_synth, tmp_path):
    (tmp_path / "a").mkdir()
    assert run([czi_synth, str(tmp_path / "a" / "x.czi"), "--tile", "16x16"]).returncode == 0
    assert run([czi_synth, str(tmp_path / "b.czi"), "--tile", "16x16"]).returncode == 0
    mnt = tmp_path / "mnt"
    with mounted(czifs, [str(tmp_path / "a") + "/", tmp_path / "b.czi"], mnt):
        assert sorted(os.listdir(mnt)) == ["a", "b.czi"]
        assert os.listdir(mnt / "a") == ["x.czi"]
    with mounted(czifs, [str(tmp_path / "a") + "/.", tmp_path / "b.czi"], mnt):
        assert sorted(os.listdir(mnt)) == ["a", "b.czi"]


def test_sources_with_one_name_are_numbered_in_command_line_order(czifs, czi_synth, tmp_path):
    sources = []
    for i, d in enumerate(("one", "two", "three")):
        (tmp_path / d).mkdir()
        r = run([czi_synth, str(tmp_path / d / "x.czi"), "--tile", "16x16", "--size", f"Z={i + 1}"])
        assert r.returncode == 0
        sources.append(tmp_path / d / "x.czi")
    mnt = tmp_path / "mnt"
    with mounted(czifs, sources, mnt):
        assert sorted(os.listdir(mnt)) == ["x.czi", "x.czi~2", "x.czi~3"]
        for i, name in enumerate(["x.czi", "x.czi~2", "x.czi~3"]):
            assert len(os.listdir(mnt / name / "S0" / "C0" / "T0")) == i + 1, name


def test_mounting_on_a_live_czifs_mount_is_refused_with_the_command_that_clears_it(
        czifs, sample, tmp_path):
    mnt = tmp_path / "mnt"
    with mounted(czifs, sample, mnt):
        r = run([czifs, str(sample), str(mnt)], timeout=30)
        assert r.returncode == 3, r.stderr
        assert "already a FUSE mount" in r.stderr and f"fusermount3 -u {mnt}" in r.stderr
        with open("/proc/self/mountinfo") as f:
            assert sum(line.split()[4] == str(mnt) for line in f) == 1  # not stacked


def test_a_dead_mount_is_recognised_even_after_it_was_used(czifs, sample, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    try:
        proc = subprocess.Popen([czifs, "-f", str(sample), str(mnt)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_for(lambda: is_mounted(mnt), 10 * SLOWDOWN)
        os.listdir(mnt)
        os.stat(mnt / "S0")  # the kernel now holds the root's attributes
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        r = run([czifs, str(sample), str(mnt)], timeout=30)
        assert r.returncode == 3, r.stderr
        assert "stale mount" in r.stderr and f"fusermount3 -u {mnt}" in r.stderr
    finally:
        force_unmount(mnt)


NOBODY = 65534


def as_nobody(*cmd):
    return subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                           *map(str, cmd)], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("kind", ["folder", "file"])
def test_a_source_the_mounting_user_cannot_read_is_one_line_and_nothing_is_mounted(
        czifs, czi_synth, kind):
    import shutil
    import tempfile
    d = tempfile.mkdtemp(prefix="czifs-unreadable-", dir="/tmp")
    try:
        os.chmod(d, 0o755)
        private = os.path.join(d, "private")
        os.mkdir(private)
        czi = os.path.join(private if kind == "folder" else d, "a.czi")
        assert run([czi_synth, czi, "--tile", "32x32"]).returncode == 0
        if kind == "folder":
            os.chmod(private, 0o700)
            source = private
        else:
            os.chmod(czi, 0o600)
            source = czi
        mnt = os.path.join(d, "mnt")
        os.mkdir(mnt)
        os.chown(mnt, NOBODY, NOBODY)
        for args in ([source, mnt], ["export", source, os.path.join(d, "out")]):
            r = as_nobody(czifs, *args)
            lines = [l for l in r.stderr.splitlines() if l.strip()]
            assert r.returncode != 0 and len(lines) == 1, (args, r.returncode, r.stderr)
            assert "Permission denied" in lines[0] and source in lines[0], r.stderr
            assert not is_mounted(mnt)
    finally:
        force_unmount(os.path.join(d, "mnt"))
        shutil.rmtree(d, ignore_errors=True)


def test_a_tiny_cache_is_raised_to_the_least_with_one_line(czifs, sample, tmp_path):
    mnt = tmp_path / "mnt"
    log = tmp_path / "log.txt"
    with mounted(czifs, sample, mnt, "--cache-size", "1", log=log):
        assert (mnt / "S0" / "C0" / "T0" / "Z0.tif").read_bytes()[:2] == b"II"
    lines = [l for l in log.read_text().splitlines() if "cache-size" in l]
    assert len(lines) == 1 and "using 1 MiB" in lines[0], log.read_text()
    r = run([czifs, "export", "--cache-size", "1", str(sample), str(tmp_path / "out")])
    assert r.returncode == 0 and "using 1 MiB" in r.stderr, r.stderr


def test_mounting_over_a_folder_with_files_says_they_are_hidden(czifs, sample, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    (mnt / "notes.txt").write_text("mine")
    log = tmp_path / "log.txt"
    with mounted(czifs, sample, mnt, log=log):
        assert not (mnt / "notes.txt").exists()
    assert (mnt / "notes.txt").read_text() == "mine"
    lines = [l for l in log.read_text().splitlines() if "not empty" in l]
    assert len(lines) == 1 and "hidden" in lines[0], log.read_text()
    empty = tmp_path / "empty"
    with mounted(czifs, sample, empty, log=log):
        pass
    assert "not empty" not in log.read_text()


def test_a_single_source_that_does_not_parse_is_said_once(czifs, tmp_path):
    bad = tmp_path / "bad.czi"
    bad.write_bytes(b"ZISRAWFILE" + b"\0" * 100)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = run([czifs, str(bad), str(mnt)], timeout=30)
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert r.returncode != 0 and len(lines) == 1 and "bad.czi" in lines[0], r.stderr
    assert not is_mounted(mnt)


def read_ahead_kb(mnt):
    """The kernel's readahead for the mount on `mnt` (found without entering it:
    another user's mount is closed to root without allow_other)."""
    with open("/proc/self/mountinfo") as f:
        devices = [line.split()[2] for line in f if line.split()[4] == str(mnt)]
    with open(f"/sys/class/bdi/{devices[-1]}/read_ahead_kb") as f:
        return int(f.read())


@pytest.mark.parametrize("args,kb", [([], 1024), (["--readahead", "0"], 128),
                                     (["-o", "readahead=4M"], 4096)],
                         ids=["default", "kernel's", "4M"])
def test_the_kernel_reads_ahead_1_mib_of_a_plane_unless_told(czifs, sample, tmp_path, args, kb):
    mnt, log = tmp_path / "mnt", tmp_path / "log.txt"
    with mounted(czifs, sample, mnt, *args, log=log):
        # The mount is listed a moment before czifs sets its readahead.
        wait_for(lambda: read_ahead_kb(mnt) == kb, 5 * SLOWDOWN)
        assert read_ahead_kb(mnt) == kb, log.read_text()
        with open(mnt / "S0" / "C0" / "T0" / "Z0.tif", "rb") as f:
            assert f.read(4) == b"II*\0"


def test_a_user_who_may_not_set_the_readahead_still_mounts(czifs, czi_synth):
    import shutil
    import tempfile
    d = tempfile.mkdtemp(prefix="czifs-readahead-", dir="/tmp")
    mnt = os.path.join(d, "mnt")
    fuse_mode = stat.S_IMODE(os.stat("/dev/fuse").st_mode)
    try:
        os.chmod("/dev/fuse", 0o666)  # as Debian's udev leaves it (a container may not)
        os.chmod(d, 0o755)
        czi = os.path.join(d, "a.czi")
        assert run([czi_synth, czi, "--tile", "32x32"]).returncode == 0
        os.mkdir(mnt)
        os.chown(mnt, NOBODY, NOBODY)
        proc = subprocess.Popen(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
                                 "--clear-groups", czifs, "-f", czi, mnt],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            assert wait_for(lambda: is_mounted(mnt) or proc.poll() is not None, 30 * SLOWDOWN)
            assert proc.poll() is None, proc.stderr.read()
            assert read_ahead_kb(mnt) == 128
            r = as_nobody("head", "-c", "4", os.path.join(mnt, "S0", "C0", "T0", "Z0.tif"))
            assert r.returncode == 0 and r.stdout == "II*\0", r.stderr
        finally:
            as_nobody("fusermount3", "-u", mnt)
            _, err = proc.communicate(timeout=30 * SLOWDOWN)
        assert "only root may raise it" in err, err
    finally:
        os.chmod("/dev/fuse", fuse_mode)
        force_unmount(mnt)
        shutil.rmtree(d, ignore_errors=True)
