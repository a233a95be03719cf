"""A share many users mount once: owners and modes follow the sources, folders
are live (inotify, or a TTL where there is none), a changed file is a new file
(never old pixels after the change, never a mix), and paths are resolved
beneath the source at every open (no escaping links, no FIFO hangs)."""
import errno
import os
import pathlib
import shutil
import stat
import subprocess
import threading
import time

import pytest

from conftest import load_golden, plane_relpath, czi_order_md5, run, SLOWDOWN
from mounting import mounted, is_mounted, wait_for

NOBODY = 65534
# inotify: changes show within 2 s. TTL (as on NFS): within the TTL plus a lookup.
MODES = {"inotify": ([], 2.0), "ttl": (["--watch", "ttl", "--ttl", "1"], 2.5)}


def synth(czi_synth, path, *args):
    r = run([czi_synth, str(path), *args])
    assert r.returncode == 0, r.stderr


def export_planes(czifs, czi, out):
    """{relative path: bytes} of every .tif czifs shows for `czi` (from export)."""
    r = run([czifs, "export", str(czi), str(out)])
    assert r.returncode == 0, r.stderr
    return {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*.tif")}


def read(path):
    """(bytes, None) or (None, errno)."""
    try:
        with open(path, "rb") as f:
            return f.read(), None
    except OSError as e:
        return None, e.errno


def as_nobody(*cmd, **kw):
    return subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                           *map(str, cmd)], capture_output=True, text=True, timeout=60, **kw)


# ---- 1. owners and modes ---------------------------------------------------

def test_other_users_get_exactly_what_the_sources_allow(czifs, czi_synth, shared_dir):
    src = shared_dir / "src"
    (src / "private_dir").mkdir(parents=True)
    os.chmod(src, 0o755)
    os.chmod(src / "private_dir", 0o700)
    for name in ("root_private.czi", "private_dir/x.czi", "nobody_private.czi", "public.czi"):
        synth(czi_synth, src / name, "--tile", "48x32", "--size", "Z=2")
    os.chmod(src / "root_private.czi", 0o600)
    os.chmod(src / "private_dir" / "x.czi", 0o644)
    os.chmod(src / "public.czi", 0o644)
    os.chown(src / "nobody_private.czi", NOBODY, NOBODY)
    os.chmod(src / "nobody_private.czi", 0o600)
    ref = export_planes(czifs, src / "nobody_private.czi", shared_dir / "ref")
    mnt = shared_dir / "mnt"
    with mounted(czifs, src, mnt, "-o", "allow_other"):
        os.chmod(mnt.parent, 0o755)
        # Denied: a root 0600 CZI, and a CZI in a 0700 folder.
        for path in (mnt / "root_private.czi" / "info.json",
                     mnt / "root_private.czi" / "S0" / "C0" / "T0" / "Z0.tif",
                     mnt / "root_private.czi" / "S0.ome.zarr" / ".zattrs",
                     mnt / "root_private.czi" / "S0.ome.zarr" / "0" / "0" / "0" / "0" / "0" / "0",
                     mnt / "private_dir" / "x.czi" / "info.json"):
            r = as_nobody("cat", path)
            assert r.returncode != 0 and "Permission denied" in r.stderr, (path, r.stderr)
        r = as_nobody("ls", mnt / "private_dir")
        assert r.returncode != 0 and "Permission denied" in r.stderr
        # Allowed: nobody's own 0600 CZI, pixels exact; anyone's 0644 CZI.
        for rel, data in ref.items():
            r = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                                "cat", str(mnt / "nobody_private.czi" / rel)],
                               capture_output=True, timeout=60)
            assert r.returncode == 0 and r.stdout == data, rel
        assert as_nobody("cat", mnt / "public.czi" / "info.json").returncode == 0
        # The OME-Zarr chunks follow the same rule as the planes.
        chunk = pathlib.Path("S0.ome.zarr/0/0/0/0/0/0")
        r = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                            "cat", str(mnt / "nobody_private.czi" / chunk)],
                           capture_output=True, timeout=60)
        assert r.returncode == 0 and r.stdout == (shared_dir / "ref" / chunk).read_bytes()
        st = os.stat(mnt / "nobody_private.czi" / chunk)
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (NOBODY, 0o600)
        # ls -l shows the sources' owners and modes.
        st = os.stat(mnt / "nobody_private.czi")
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (NOBODY, NOBODY, 0o700)
        st = os.stat(mnt / "nobody_private.czi" / "S0" / "C0" / "T0" / "Z0.tif")
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (NOBODY, 0o600)
        st = os.stat(mnt / "private_dir")
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o700)
        assert stat.S_IMODE(os.stat(mnt / "public.czi").st_mode) == 0o755
        assert stat.S_IMODE(os.stat(mnt / "public.czi" / "info.json").st_mode) == 0o644
        # Still read-only for everyone, owner included.
        r = as_nobody("touch", mnt / "nobody_private.czi" / "info.json")
        assert r.returncode != 0 and "Read-only file system" in r.stderr
        # A copy made by nobody is nobody's, and nobody can delete it.
        out = shared_dir / "nobody_out"
        out.mkdir()
        os.chown(out, NOBODY, NOBODY)
        r = as_nobody("cp", "-r", mnt / "nobody_private.czi", out / "copy")
        assert r.returncode == 0, r.stderr
        assert (out / "copy" / "S0" / "C0" / "T0" / "Z0.tif").read_bytes() == ref["S0/C0/T0/Z0.tif"]
        r = as_nobody("rm", "-r", out / "copy")
        assert r.returncode == 0, r.stderr
        # A chmod of the source reaches other users too.
        os.chmod(src / "nobody_private.czi", 0o644)
        os.chown(src / "nobody_private.czi", 0, 0)
        assert wait_for(lambda: as_nobody("cat", mnt / "nobody_private.czi" / "info.json")
                        .returncode == 0, 3 * SLOWDOWN)
        os.chmod(src / "public.czi", 0o600)
        assert wait_for(lambda: as_nobody("cat", mnt / "public.czi" / "info.json")
                        .returncode != 0, 3 * SLOWDOWN)


# ---- 2. live folders --------------------------------------------------------

def golden_of(corpus, name):
    return load_golden(corpus / "golden" / (name + ".json"))


def matches_golden(folder, g):
    import tifffile
    for plane in g["planes"]:
        try:
            arr = tifffile.imread(folder / plane_relpath(g, plane))
        except (OSError, ValueError):
            return False
        if czi_order_md5(arr) != plane["md5"]:
            return False
    return True


@pytest.mark.concurrency
@pytest.mark.parametrize("mode", MODES, ids=list(MODES))
def test_files_added_removed_and_renamed_show_within_the_promised_time(
        czifs, corpus, tmp_path, mode):
    extra, limit = MODES[mode]
    limit *= SLOWDOWN
    src = tmp_path / "src"
    src.mkdir()
    shutil.copyfile(corpus / "DAPI_GFP.czi", src / "first.czi")
    mnt = tmp_path / "mnt"
    g = golden_of(corpus, "CH=1_16bit.czi")
    with mounted(czifs, src, mnt, *extra):
        assert os.listdir(mnt) == ["first.czi"]
        os.listdir(mnt / "first.czi")
        shutil.copyfile(corpus / "CH=1_16bit.czi", src / "new.czi")
        t0 = time.monotonic()
        assert wait_for(lambda: "new.czi" in os.listdir(mnt), limit), os.listdir(mnt)
        print(f"{mode}: added file listed after {time.monotonic() - t0:.2f} s")
        assert matches_golden(mnt / "new.czi", g)
        (src / "sub" / "deeper").mkdir(parents=True)
        shutil.copyfile(corpus / "CH=1_16bit.czi", src / "sub" / "deeper" / "n.czi")
        assert wait_for(lambda: os.path.isdir(mnt / "sub" / "deeper" / "n.czi" / "S0"), limit)
        assert matches_golden(mnt / "sub" / "deeper" / "n.czi", g)
        os.rename(src / "new.czi", src / "renamed.czi")
        assert wait_for(lambda: sorted(os.listdir(mnt)) == ["first.czi", "renamed.czi", "sub"],
                        limit), os.listdir(mnt)
        assert matches_golden(mnt / "renamed.czi", g)
        assert not os.path.exists(mnt / "new.czi")
        os.unlink(src / "renamed.czi")
        t0 = time.monotonic()
        assert wait_for(lambda: "renamed.czi" not in os.listdir(mnt), limit)
        print(f"{mode}: removed file gone after {time.monotonic() - t0:.2f} s")
        assert not os.path.exists(mnt / "renamed.czi" / "info.json")
        shutil.rmtree(src / "sub")
        assert wait_for(lambda: os.listdir(mnt) == ["first.czi"], limit)


@pytest.mark.concurrency
def test_a_file_written_slowly_is_never_served_wrong_and_appears_once_complete(
        czifs, corpus, tmp_path):
    name = "CellDivision_T3_Z5_CH2_X240_Y170_comp1.czi"
    g = golden_of(corpus, name)
    data = (corpus / name).read_bytes()
    expected = {plane_relpath(g, p): p["md5"] for p in g["planes"]}
    src = tmp_path / "src"
    src.mkdir()
    mnt = tmp_path / "mnt"
    wrong = []
    ok_reads = [0]
    with mounted(czifs, src, mnt):
        done = threading.Event()

        def reader():
            import tifffile
            while not done.is_set():
                for rel, md5 in expected.items():
                    try:
                        arr = tifffile.imread(mnt / "growing.czi" / rel)
                    except (OSError, ValueError):
                        continue  # absent, or failing cleanly while incomplete
                    if czi_order_md5(arr) != md5:
                        wrong.append(rel)
                    else:
                        ok_reads[0] += 1

        t = threading.Thread(target=reader)
        t.start()
        try:
            with open(src / "growing.czi", "wb") as f:
                for i in range(0, len(data), 64 * 1024):
                    f.write(data[i:i + 64 * 1024])
                    f.flush()
                    time.sleep(0.02)
        finally:
            done.set()
            t.join()
        assert not wrong, wrong[:5]
        assert wait_for(lambda: matches_golden(mnt / "growing.czi", g), 3 * SLOWDOWN)
    print(f"reads while growing: {ok_reads[0]} exact, none wrong")


@pytest.mark.concurrency
def test_a_file_that_failed_at_first_access_is_tried_again_once_it_changed(
        czifs, corpus, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "late.czi").write_bytes(b"\0" * 4096)
    mnt = tmp_path / "mnt"
    g = golden_of(corpus, "DAPI_GFP.czi")
    with mounted(czifs, src, mnt, "--ttl", "1"):
        with pytest.raises(OSError) as e:
            os.listdir(mnt / "late.czi")
        assert e.value.errno == errno.EIO
        shutil.copyfile(corpus / "DAPI_GFP.czi", src / "late.czi")
        assert wait_for(lambda: matches_golden(mnt / "late.czi", g), 2 * SLOWDOWN)


# ---- 3. a changed file is a new file ----------------------------------------

def overwrite(v, new, old):
    shutil.copyfile(new, v)  # in place: truncate, then write


def rename_replace(v, new, old):
    shutil.copyfile(new, v.with_suffix(".tmp"))
    os.rename(v.with_suffix(".tmp"), v)


def truncate(v, new, old):
    os.truncate(v, os.path.getsize(v) // 2)


def append(v, new, old):
    with open(v, "ab") as f:
        f.write(b"\0" * 100000)


def same_size_mtime_restored(v, new, old):
    st = os.stat(v)
    data = new.read_bytes()
    assert len(data) == st.st_size
    with open(v, "r+b") as f:
        f.write(data)
    os.utime(v, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(v).st_mtime_ns == st.st_mtime_ns and os.stat(v).st_size == st.st_size


CHANGES = [overwrite, rename_replace, truncate, append, same_size_mtime_restored]


@pytest.mark.concurrency
@pytest.mark.parametrize("mode", MODES, ids=list(MODES))
@pytest.mark.parametrize("change", CHANGES, ids=[c.__name__ for c in CHANGES])
def test_after_a_change_every_plane_is_the_new_files_or_an_error_never_old_never_mixed(
        czifs, czi_synth, tmp_path, change, mode):
    extra, limit = MODES[mode]
    args = ["--codec", "uncompressed", "--tile", "96x64", "--tiles", "2x1", "--size", "Z=4"]
    old, new = tmp_path / "old.czi", tmp_path / "new.czi"
    synth(czi_synth, old, *args, "--seed", "1")
    synth(czi_synth, new, *args, "--seed", "2")
    assert os.path.getsize(old) == os.path.getsize(new)
    old_ref = export_planes(czifs, old, tmp_path / "old_ref")
    new_ref = export_planes(czifs, new, tmp_path / "new_ref")
    assert all(old_ref[p] != new_ref[p] for p in old_ref)
    src = tmp_path / "src"
    src.mkdir()
    v = src / "v.czi"
    shutil.copyfile(old, v)
    # What the changed file is: `new`, `old` with bytes appended (same pixels), or broken.
    after = {overwrite: new_ref, rename_replace: new_ref, same_size_mtime_restored: new_ref,
             append: old_ref, truncate: {}}[change]
    mnt = tmp_path / "mnt"
    with mounted(czifs, src, mnt, "--cache-size", "1M", *extra):
        folder = mnt / "v.czi"
        for p, data in old_ref.items():  # into the page cache (keep_cache) and the tile cache
            assert read(folder / p) == (data, None)
        held = open(folder / "S0/C0/T0/Z1.tif", "rb")
        head = held.read(1000)
        change(v, new, old)

        def problems():
            out = []
            for p in old_ref:
                got, err = read(folder / p)
                if err is not None:
                    if err not in (errno.EIO, errno.ENOENT) or p in after:
                        out.append((p, f"error {err}"))
                elif got != after.get(p):
                    out.append((p, "old bytes" if got == old_ref[p] else "bytes of neither version"))
            return out

        # Within the promised time the mount shows the new file; from then on
        # only the new file (a second full pass).
        t0 = time.monotonic()
        wait_for(lambda: not problems(), limit * SLOWDOWN, step=0.1)
        assert not problems(), f"{time.monotonic() - t0:.1f} s after the change: {problems()[:3]}"
        # A reader holding the file open: the old version, consistently, or
        # EIO. fstat (which `cat` and Python's read() call) describes it too.
        assert os.fstat(held.fileno()).st_size == len(old_ref["S0/C0/T0/Z1.tif"])
        try:
            rest = held.read()
            assert head + rest == old_ref["S0/C0/T0/Z1.tif"], "old and new bytes mixed"
        except OSError as e:
            assert e.errno == errno.EIO
        held.close()


def metadata_changes(v):
    """Changes of a file's status alone, as admins and backups make them."""
    import pwd
    hard = v.with_name("v.hardlink")
    return [
        lambda: os.chmod(v, 0o644),                      # to the same mode
        lambda: os.chmod(v, 0o640),
        lambda: os.chmod(v, 0o644),
        lambda: os.chown(v, NOBODY, NOBODY),
        lambda: os.chown(v, 0, 0),
        lambda: subprocess.run(["setfacl", "-m", f"u:{NOBODY}:r", str(v)], check=True),
        lambda: subprocess.run(["setfacl", "-b", str(v)], check=True),
        lambda: os.utime(v, ns=(time.time_ns(), os.stat(v).st_mtime_ns)),  # touch -a
        lambda: os.link(v, hard),                        # an rsnapshot-style hard link
        lambda: os.unlink(hard),
    ]


@pytest.mark.concurrency
@pytest.mark.parametrize("mode", MODES, ids=list(MODES))
def test_a_change_of_owner_mode_acl_atime_or_links_keeps_every_reader_going(
        czifs, czi_synth, tmp_path, mode):
    """chmod, chown, setfacl, touch -a and hard links change only the ctime:
    the version stays (same inodes), 1,000 reads of files held open and opened
    anew meanwhile all give the exact bytes, and the new mode is shown."""
    import random
    extra, limit = MODES[mode]
    src = tmp_path / "src"
    src.mkdir()
    v = src / "v.czi"
    synth(czi_synth, v, "--codec", "uncompressed", "--tile", "96x64", "--tiles", "2x1",
          "--size", "Z=4,C=2")
    os.chmod(v, 0o644)
    ref_dir = tmp_path / "ref"
    assert run([czifs, "export", str(v), str(ref_dir)]).returncode == 0
    rels = ["S0/C0/T0/Z1.tif", "S0/C1/T0/Z3.tif", "S0/hyperstack.tif", "planetable.csv",
            "metadata.xml", "S0.ome.zarr/0/0/1/0/0/0", "tiles/S0/C0/T0/Z2/M1.tif"]
    ref = {rel: (ref_dir / rel).read_bytes() for rel in rels}
    mnt = tmp_path / "mnt"
    changes = metadata_changes(v)
    with mounted(czifs, src, mnt, "--cache-size", "1M", *extra):
        folder = mnt / "v.czi"
        inos = {rel: os.stat(folder / rel).st_ino for rel in rels}
        held = {rel: os.open(folder / rel, os.O_RDONLY) for rel in rels}
        rng = random.Random(7)
        bad = []
        try:
            for i in range(1000):
                if i % 10 == 0:
                    changes[(i // 10) % len(changes)]()
                rel = rng.choice(rels)
                want = ref[rel]
                off = rng.randrange(0, len(want))
                n = min(len(want) - off, rng.choice([1, 4096, 65536]))
                if i % 2:  # a file held open since before the changes
                    fd = held[rel]
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # ask czifs, not the page cache
                    try:
                        got = os.pread(fd, n, off)
                    except OSError as e:
                        got = e
                else:  # opened anew
                    got, err = read(folder / rel)
                    got = err if err is not None else got[off:off + n]
                if got != want[off:off + n]:
                    bad.append((i, rel, got if not isinstance(got, bytes) else "wrong bytes"))
        finally:
            for fd in held.values():
                os.close(fd)
        assert not bad, f"{len(bad)} of 1000 reads failed: {bad[:5]}"
        # The same version all along: the same inodes, and its new mode shown.
        assert {rel: os.stat(folder / rel).st_ino for rel in rels} == inos
        os.chmod(v, 0o640)
        assert wait_for(lambda: stat.S_IMODE(os.stat(folder / rels[0]).st_mode) == 0o640,
                        limit * SLOWDOWN)
        assert {rel: os.stat(folder / rel).st_ino for rel in rels} == inos


def test_source_named_on_the_command_line_follows_its_changes(czifs, czi_synth, tmp_path):
    old, new = tmp_path / "old.czi", tmp_path / "new.czi"
    synth(czi_synth, old, "--tile", "64x48", "--size", "Z=2", "--seed", "1")
    synth(czi_synth, new, "--tile", "64x48", "--size", "Z=3", "--seed", "3")
    new_ref = export_planes(czifs, new, tmp_path / "new_ref")
    v = tmp_path / "v.czi"
    shutil.copyfile(old, v)
    mnt = tmp_path / "mnt"
    with mounted(czifs, v, mnt):
        assert sorted(os.listdir(mnt / "S0" / "C0" / "T0")) == ["Z0.tif", "Z1.tif"]
        shutil.copyfile(new, v)
        assert wait_for(lambda: sorted(os.listdir(mnt / "S0" / "C0" / "T0")) ==
                        ["Z0.tif", "Z1.tif", "Z2.tif"], 2 * SLOWDOWN)
        for p, data in new_ref.items():
            assert read(mnt / p) == (data, None), p


# ---- 4. paths resolved at open, beneath the source --------------------------

def run_bounded(cmd, timeout):
    """Runs `cmd`; fails the test if it is stuck in uninterruptible sleep."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(timeout=timeout)
        return p.returncode, out, err
    except subprocess.TimeoutExpired:
        with open(f"/proc/{p.pid}/stat") as f:
            state = f.read().split(")")[-1].split()[0]
        p.kill()
        pytest.fail(f"{cmd} hung (process state {state})")


def test_swapping_sources_for_links_or_fifos_never_escapes_or_hangs(czifs, czi_synth, tmp_path):
    src, outside = tmp_path / "src", tmp_path / "outside"
    (src / "sub").mkdir(parents=True)
    (outside / "sub").mkdir(parents=True)
    for path, seed in ((src / "v.czi", "1"), (src / "f.czi", "2"), (src / "sub" / "w.czi", "3"),
                       (outside / "secret.czi", "4"), (outside / "sub" / "w.czi", "5")):
        synth(czi_synth, path, "--tile", "40x30", "--seed", seed)
    secret = export_planes(czifs, outside / "secret.czi", tmp_path / "secret_ref")
    secret_w = export_planes(czifs, outside / "sub" / "w.czi", tmp_path / "secret_w_ref")
    forbidden = set(secret.values()) | set(secret_w.values())
    mnt = tmp_path / "mnt"
    with mounted(czifs, src, mnt) as proc:
        for name in ("v.czi", "f.czi", "sub/w.czi"):
            assert read(mnt / name / "S0/C0/T0/Z0.tif")[1] is None
        # Swap a file for a link out, a folder for a link out, a file for a FIFO.
        os.rename(src / "v.czi", tmp_path / "v.old")
        os.symlink(outside / "secret.czi", src / "v.czi")
        os.rename(src / "sub", tmp_path / "sub.old")
        os.symlink(outside / "sub", src / "sub")
        os.rename(src / "f.czi", tmp_path / "f.old")
        os.mkfifo(src / "f.czi")
        os.mkfifo(src / "new_fifo.czi")
        os.symlink("../outside/secret.czi", src / "relative_out.czi")
        time.sleep(1.0 * SLOWDOWN)
        for name in ("v.czi", "f.czi", "sub/w.czi", "new_fifo.czi", "relative_out.czi"):
            rc, out, err = run_bounded(["cat", str(mnt / name / "S0/C0/T0/Z0.tif")], 10 * SLOWDOWN)
            assert rc != 0 and out not in forbidden, name
        rc, out, _ = run_bounded(["ls", "-lR", str(mnt)], 10 * SLOWDOWN)
        assert rc == 0 and b"secret" not in out
        listing = set(os.listdir(mnt))
        assert not listing & {"v.czi", "f.czi", "new_fifo.czi", "relative_out.czi", "sub"}
        # Nothing from outside was served at all.
        for p in mnt.rglob("*.tif"):
            assert read(p)[0] not in forbidden, p
        assert proc.poll() is None
        r = run(["fusermount3", "-u", str(mnt)])
        assert r.returncode == 0, r.stderr
        assert wait_for(lambda: not is_mounted(mnt), 5 * SLOWDOWN)


def test_links_inside_the_source_are_still_followed(czifs, czi_synth, tmp_path):
    src = tmp_path / "src"
    (src / "real").mkdir(parents=True)
    synth(czi_synth, src / "real" / "a.czi", "--tile", "40x30")
    os.symlink("real/a.czi", src / "rel_link.czi")
    os.symlink(src / "real" / "a.czi", src / "abs_link.czi")
    os.symlink("real", src / "dir_link")
    os.symlink("..", src / "real" / "up")  # a cycle: not shown
    mnt = tmp_path / "mnt"
    with mounted(czifs, src, mnt):
        want = read(mnt / "real" / "a.czi" / "S0/C0/T0/Z0.tif")[0]
        assert want
        for name in ("rel_link.czi", "abs_link.czi", "dir_link/a.czi"):
            assert read(mnt / name / "S0/C0/T0/Z0.tif")[0] == want, name
        assert "up" not in os.listdir(mnt / "real")


def test_a_mount_point_that_would_make_czifs_call_itself_is_refused(czifs, czi_synth, tmp_path):
    dl = tmp_path / "dl"
    (dl / "x.czi").mkdir(parents=True)
    synth(czi_synth, dl / "x.czi" / "a.czi", "--tile", "16x16")
    for sources, mnt in (([dl / "x.czi"], dl), ([dl], dl / "x.czi"), ([dl], dl),
                         ([dl / "x.czi" / "a.czi"], dl)):
        r = run([czifs, *map(str, sources), str(mnt)], timeout=30)
        assert r.returncode == 2, (sources, mnt, r.stderr)
        assert r.stderr.count("\n") == 1 and "choose a mount point outside" in r.stderr, r.stderr
        assert not is_mounted(mnt)
