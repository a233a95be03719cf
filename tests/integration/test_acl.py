"""POSIX ACLs through an allow_other mount: every user reads through the mount
exactly what the source's ACLs let them read, no more (a named user denied, a
group entry below the mask, a folder's ACL) and no less (a collaborator given
u:NAME:r, a folder's default ACL inherited, a share where only ACLs grant).

Users and a group are made by the test (useradd) and removed after it; each
check runs as that user (setpriv with the user's groups) in one Python
process that tries every path and reports what it could read."""
import grp
import json
import os
import pathlib
import pwd
import random
import shutil
import stat
import subprocess
import sys

import pytest

from conftest import run, SLOWDOWN
from mounting import mounted, wait_for

GROUP = "czifs_t_lab"
ANN, BOB, EVE = "czifs_t_ann", "czifs_t_bob", "czifs_t_eve"  # ann is in the lab, bob and eve not
USERS = (ANN, BOB, EVE)

# What a user tries, as that user: {path: True if readable}. A folder is
# readable when it can be listed, a file when its first bytes can be read.
PROBE = r"""
import json, os, sys
out = {}
for p in json.load(sys.stdin):
    try:
        if os.path.isdir(p):
            os.listdir(p)
        else:
            with open(p, "rb") as f:
                f.read(1)
        out[p] = True
    except PermissionError:
        out[p] = False
    except OSError as e:
        out[p] = "errno %d" % e.errno
json.dump(out, sys.stdout)
"""


@pytest.fixture(scope="module")
def users():
    if shutil.which("setfacl") is None:
        pytest.fail("setfacl not found (Debian's acl package: scripts/install-deps.sh --tests)")
    made = []
    if subprocess.run(["getent", "group", GROUP], capture_output=True).returncode != 0:
        subprocess.run(["groupadd", GROUP], check=True)
        made.append(("group", GROUP))
    for u in USERS:
        if subprocess.run(["id", u], capture_output=True).returncode != 0:
            extra = ["-G", GROUP] if u == ANN else []
            subprocess.run(["useradd", "-M", "-N", "-s", "/usr/sbin/nologin", *extra, u], check=True)
            made.append(("user", u))
    yield {u: pwd.getpwnam(u).pw_uid for u in USERS} | {GROUP: grp.getgrnam(GROUP).gr_gid}
    for kind, name in reversed(made):
        subprocess.run(["userdel" if kind == "user" else "groupdel", name], capture_output=True)


def probe(user, paths):
    """{path: True/False} of what `user` (with their groups) can read."""
    r = subprocess.run(["setpriv", f"--reuid={user}", f"--regid={pwd.getpwnam(user).pw_gid}",
                        "--init-groups", sys.executable, "-c", PROBE],
                       input=json.dumps([str(p) for p in paths]), capture_output=True, text=True,
                       timeout=300 * SLOWDOWN)
    assert r.returncode == 0, r.stderr
    return {pathlib.Path(k): v for k, v in json.loads(r.stdout).items()}


def setfacl(*args):
    subprocess.run(["setfacl", *map(str, args)], check=True)


def synth(czi_synth, path):
    r = run([czi_synth, str(path), "--tile", "48x32", "--tiles", "2x1", "--size", "C=2,Z=2"])
    assert r.returncode == 0, r.stderr


def served(czi_dir):
    """One path of each kind a CZI's folder serves, the folder itself first."""
    return [czi_dir, czi_dir / "S0", czi_dir / "S0" / "C0" / "T0" / "Z0.tif",
            czi_dir / "S0" / "hyperstack.tif", czi_dir / "S0.ome.zarr" / ".zattrs",
            czi_dir / "S0.ome.zarr" / "0" / "0" / "0" / "0" / "0" / "0",
            czi_dir / "metadata.xml", czi_dir / "info.json", czi_dir / "planetable.csv",
            czi_dir / "tiles" / "S0" / "C0" / "T0" / "Z0" / "M0.tif",
            czi_dir / "attachments"]


def check_same(src, mnt, cases, users_=USERS):
    """For each user: each served path of each CZI in `cases` is readable
    through the mount exactly when the CZI is readable in the source; each
    mirrored folder listable exactly when its source folder is."""
    for user in users_:
        paths, truth = [], {}
        for rel in cases:
            source = src / rel
            paths.append(source)
            if source.is_dir():
                paths.append(mnt / rel)
                truth[mnt / rel] = source
            else:
                for p in served(mnt / rel):
                    paths.append(p)
                    truth[p] = source
        got = probe(user, paths)
        for p, source in truth.items():
            assert got[p] == got[source], (user, str(p), "mount", got[p], "source", got[source])


def test_every_acl_case_through_the_mount_as_in_the_source(czifs, czi_synth, shared_dir, users):
    src = shared_dir / "src"
    src.mkdir()
    os.chmod(src, 0o755)
    lab = users[GROUP]
    # A named user denied on a world-readable file.
    synth(czi_synth, src / "deny_bob.czi")
    os.chmod(src / "deny_bob.czi", 0o644)
    setfacl("-m", f"u:{BOB}:-", src / "deny_bob.czi")
    # The owning group's entry below the mask (the mask is r because bob has r).
    synth(czi_synth, src / "group_below_mask.czi")
    os.chown(src / "group_below_mask.czi", 0, lab)
    setfacl("-m", f"u:{BOB}:r,g::-,o::-", src / "group_below_mask.czi")
    # A folder whose ACL keeps bob out of everything in it.
    (src / "no_bob").mkdir()
    os.chmod(src / "no_bob", 0o755)
    synth(czi_synth, src / "no_bob" / "inside.czi")
    setfacl("-m", f"u:{BOB}:-", src / "no_bob")
    # A folder's default ACL, inherited by a file made in it later.
    (src / "inherit").mkdir()
    os.chmod(src / "inherit", 0o711)
    setfacl("-d", "-m", f"u:{BOB}:r,g::-,o::-", src / "inherit")
    synth(czi_synth, src / "inherit" / "made_later.czi")
    # Only ACLs grant: 0700 folder and 0600 file, bob and the lab named.
    (src / "acl_only").mkdir()
    os.chmod(src / "acl_only", 0o700)
    synth(czi_synth, src / "acl_only" / "shared.czi")
    os.chmod(src / "acl_only" / "shared.czi", 0o600)
    setfacl("-m", f"u:{BOB}:rx,g:{GROUP}:rx", src / "acl_only")
    setfacl("-m", f"u:{BOB}:r,g:{GROUP}:r", src / "acl_only" / "shared.czi")
    cases = ["deny_bob.czi", "group_below_mask.czi", "no_bob", "no_bob/inside.czi", "inherit",
             "inherit/made_later.czi", "acl_only", "acl_only/shared.czi"]
    mnt = shared_dir / "mnt"
    with mounted(czifs, src, mnt, "-o", "allow_other"):
        check_same(src, mnt, cases)
        # And the cases are what they claim to be (the source says so).
        got = probe(BOB, [src / "deny_bob.czi", mnt / "deny_bob.czi" / "metadata.xml",
                          mnt / "acl_only" / "shared.czi" / "S0" / "C0" / "T0" / "Z0.tif",
                          mnt / "inherit" / "made_later.czi" / "info.json",
                          mnt / "no_bob" / "inside.czi" / "info.json"])
        assert list(got.values()) == [False, False, True, True, False]
        got = probe(ANN, [mnt / "group_below_mask.czi" / "metadata.xml",
                          mnt / "acl_only" / "shared.czi" / "S0.ome.zarr" / ".zattrs",
                          mnt / "deny_bob.czi" / "metadata.xml"])
        assert list(got.values()) == [False, True, True]
        got = probe(EVE, [mnt / "acl_only", mnt / "inherit" / "made_later.czi" / "info.json"])
        assert list(got.values()) == [False, False]
        # Pixels through an ACL grant are the owner's pixels.
        plane = mnt / "acl_only" / "shared.czi" / "S0" / "C1" / "T0" / "Z1.tif"
        r = subprocess.run(["setpriv", f"--reuid={BOB}", f"--regid={pwd.getpwnam(BOB).pw_gid}",
                            "--init-groups", "cat", str(plane)], capture_output=True, timeout=60)
        assert r.returncode == 0 and r.stdout == plane.read_bytes()


def test_getfacl_through_the_mount_shows_the_source_acl_as_the_mode_is_shown(
        czifs, czi_synth, shared_dir, users):
    src = shared_dir / "src"
    src.mkdir()
    synth(czi_synth, src / "a.czi")
    os.chmod(src / "a.czi", 0o640)
    setfacl("-m", f"u:{BOB}:r,g:{GROUP}:rw", src / "a.czi")
    setfacl("-m", f"u:{BOB}:rx", src)
    setfacl("-d", "-m", f"u:{BOB}:r", src)
    mnt = shared_dir / "mnt"
    with mounted(czifs, src, mnt, "-o", "allow_other"):
        def acl(p, *flags):
            r = run(["getfacl", "-cpn", *flags, str(p)])
            assert r.returncode == 0, r.stderr
            return sorted(line for line in r.stdout.splitlines() if line)
        bob, lab = users[BOB], users[GROUP]
        # A mirrored folder: its own ACL, default entries included.
        assert acl(mnt) == acl(src)
        # Files of a CZI's tree: the CZI's ACL without x; its folders: x where r.
        assert acl(mnt / "a.czi" / "metadata.xml") == sorted(
            ["user::rw-", f"user:{bob}:r--", "group::r--", f"group:{lab}:rw-", "mask::rw-",
             "other::---"])
        assert acl(mnt / "a.czi" / "S0") == sorted(
            ["user::rwx", f"user:{bob}:r-x", "group::r-x", f"group:{lab}:rwx", "mask::rwx",
             "other::---"])
        assert acl(mnt / "a.czi", "-d") == []  # nothing is ever created in a CZI's tree
        # ls -l marks them, and the mode's group bits are the mask, as in the source.
        assert stat.S_IMODE(os.stat(mnt / "a.czi" / "metadata.xml").st_mode) == 0o660
        assert "+" in run(["ls", "-ld", str(mnt / "a.czi" / "info.json")]).stdout.split()[0]
        # Reading ACLs is allowed, writing them is not.
        r = run(["setfacl", "-m", f"u:{EVE}:r", str(mnt / "a.czi" / "info.json")])
        assert r.returncode != 0 and "Read-only file system" in r.stderr


@pytest.mark.parametrize("mode", ["inotify", "ttl"])
def test_an_acl_changed_in_the_source_reaches_the_mount(czifs, czi_synth, shared_dir, users, mode):
    src = shared_dir / "src"
    (src / "dir").mkdir(parents=True)
    os.chmod(src / "dir", 0o755)
    synth(czi_synth, src / "dir" / "a.czi")
    os.chmod(src / "dir" / "a.czi", 0o600)
    mnt = shared_dir / "mnt"
    extra = ["--watch", "ttl", "--ttl", "1"] if mode == "ttl" else []
    plane = mnt / "dir" / "a.czi" / "S0" / "C0" / "T0" / "Z0.tif"
    with mounted(czifs, src, mnt, "-o", "allow_other", *extra):
        assert probe(BOB, [plane]) == {plane: False}
        setfacl("-m", f"u:{BOB}:r", src / "dir" / "a.czi")
        assert wait_for(lambda: probe(BOB, [plane]) == {plane: True}, 5 * SLOWDOWN)
        setfacl("-m", f"u:{BOB}:-", src / "dir")  # the folder above now shuts bob out
        assert wait_for(lambda: probe(BOB, [plane]) == {plane: False}, 5 * SLOWDOWN)
        setfacl("-x", f"u:{BOB}", src / "dir")
        assert wait_for(lambda: probe(BOB, [plane]) == {plane: True}, 5 * SLOWDOWN)
        setfacl("-b", src / "dir" / "a.czi")  # back to 0600: the owner's alone
        assert wait_for(lambda: probe(BOB, [plane]) == {plane: False}, 5 * SLOWDOWN)


def random_acl(rng, users):
    """A random ACL in setfacl's syntax: some named entries, a group entry, other."""
    def perm():
        return rng.choice(["---", "r--", "r-x", "rw-", "--x", "rwx"])
    entries = [f"u::{perm()}", f"g::{perm()}", f"o::{perm()}"]
    for name in rng.sample([ANN, BOB, EVE], rng.randint(0, 2)):
        entries.append(f"u:{name}:{perm()}")
    if rng.random() < 0.5:
        entries.append(f"g:{GROUP}:{perm()}")
    if len(entries) > 3 and rng.random() < 0.7:
        entries.append(f"m::{perm()}")  # else setfacl computes the mask
    return ",".join(entries)


def test_random_modes_and_acls_readable_through_the_mount_exactly_as_in_the_source(
        czifs, czi_synth, shared_dir, users):
    rng = random.Random(int(os.environ.get("CZIFS_ACL_SEED", "20261203")))
    src = shared_dir / "src"
    src.mkdir()
    os.chmod(src, 0o755)
    synth(czi_synth, shared_dir / "template.czi")
    owners = [0, users[ANN], users[BOB]]
    groups = [0, users[GROUP]]
    cases = []
    # 240 files in the open folder, and 12 folders of random ACLs with 5 files each.
    folders = [""] + [f"d{i:02d}" for i in range(12)]
    for folder in folders[1:]:
        (src / folder).mkdir()
        os.chown(src / folder, rng.choice(owners), rng.choice(groups))
        os.chmod(src / folder, rng.choice([0o755, 0o750, 0o711, 0o700, 0o705]))
        if rng.random() < 0.8:
            setfacl("-m", random_acl(rng, users).replace("r--", "r-x"), src / folder)
        cases.append(folder)
    for i in range(300):
        folder = folders[0] if i < 240 else folders[1 + (i - 240) // 5]
        rel = f"{folder}/f{i:03d}.czi" if folder else f"f{i:03d}.czi"
        shutil.copyfile(shared_dir / "template.czi", src / rel)
        os.chown(src / rel, rng.choice(owners), rng.choice(groups))
        os.chmod(src / rel, rng.randrange(0, 0o1000))
        if rng.random() < 0.75:
            setfacl("-m", random_acl(rng, users), src / rel)
        cases.append(rel)
    mnt = shared_dir / "mnt"
    with mounted(czifs, src, mnt, "-o", "allow_other"):
        for user in USERS:
            paths, truth = [], {}
            for rel in cases:
                paths.append(src / rel)
                if (src / rel).is_dir():
                    probes = [mnt / rel]
                else:
                    probes = [mnt / rel, mnt / rel / "metadata.xml",
                              mnt / rel / "S0" / "C0" / "T0" / "Z0.tif"]
                for p in probes:
                    paths.append(p)
                    truth[p] = src / rel
            got = probe(user, paths)
            readable = sum(1 for rel in cases if got[src / rel] is True)
            assert 20 < readable < len(cases) - 20, (user, readable)  # both kinds met
            for p, source in truth.items():
                assert got[p] == got[source], (user, str(p), got[p], got[source],
                                               run(["getfacl", "-cpn", str(source)]).stdout)
