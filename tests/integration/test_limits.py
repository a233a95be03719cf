"""Limits never leave a dead mount: few descriptors, many files."""
import os
import shutil
import subprocess

from conftest import run, SLOWDOWN
from mounting import is_mounted, wait_for, force_unmount

N_FILES = 10000


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
        run(["fusermount3", "-u", str(mnt)])
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        force_unmount(mnt)
