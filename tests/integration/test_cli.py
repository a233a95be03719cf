"""The czifs command line: inspect, export, errors, damaged files."""
import csv
import json
import os
import pathlib
import random
import shutil
import time

import numpy as np
import pytest
import tifffile

from conftest import golden_files, load_golden, run, SLOWDOWN
from mounting import mounted


def test_version_names_the_libraries(czifs):
    r = run([czifs, "--version"])
    assert r.returncode == 0
    for lib in ("czifs", "zstd", "LIBTIFF", "spdlog", "libjxr", "libfuse"):
        assert lib.lower() in r.stdout.lower()


def test_usage_errors_exit_2(czifs):
    assert run([czifs]).returncode == 2
    assert run([czifs, "export", "only-one-arg"]).returncode == 2


def test_inspect_and_export_take_a_log_level_after_their_name(czifs, czi_synth, tmp_path):
    czi = tmp_path / "a.czi"
    assert run([czi_synth, str(czi), "--tile", "32x32"]).returncode == 0
    r = run([czifs, "inspect", "--log-level", "debug", str(czi)])
    assert r.returncode == 0 and "dimensions" in r.stdout, r.stderr
    r = run([czifs, "export", str(czi), str(tmp_path / "out"), "--log-level", "error"])
    assert r.returncode == 0, r.stderr
    r = run([czifs, "export", "--log-level", "loud", str(czi), str(tmp_path / "out2")])
    assert r.returncode == 2 and "loud" in r.stderr, r.stderr
    assert not (tmp_path / "out2").exists()


@pytest.mark.parametrize("golden_path", golden_files(), ids=lambda p: p.name[:-5])
def test_inspect_summarizes_every_corpus_file(czifs, corpus, golden_path):
    g = load_golden(golden_path)
    czi = corpus / g["file"]
    text = run([czifs, "inspect", str(czi)])
    assert text.returncode == 0, text.stderr
    assert "planes" in text.stdout and "scenes" in text.stdout
    r = run([czifs, "inspect", "--json", str(czi)])
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["planes"] == len(g["planes"])
    assert info["pixel_types"] == g["pixel_types"]
    assert len(info["scenes"]) == len(g["scenes"])
    for mine, theirs in zip(info["scenes"], g["scenes"]):
        assert (mine["x"], mine["y"], mine["width"], mine["height"]) == (
            theirs["x"], theirs["y"], theirs["width"], theirs["height"])
    for dim, (start, size) in g["bounds"].items():
        assert info["dimensions"][dim] == {"start": start, "size": size}


@pytest.mark.parametrize("golden_path", golden_files(), ids=lambda p: p.name[:-5])
def test_planetable_has_czitools_columns_and_one_row_per_layer0_subblock(
        czifs, corpus, golden_path, tmp_path):
    g = load_golden(golden_path)
    out = tmp_path / "out"
    r = run([czifs, "export", str(corpus / g["file"]), str(out)])
    assert r.returncode == 0, r.stderr
    with open(out / "planetable.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0].keys())[:14] == [
        "Subblock", "S", "M", "T", "C", "Z", "X[micron]", "Y[micron]", "Z[micron]", "Time[s]",
        "xstart", "ystart", "width", "height"]
    assert len(rows) == sum(p["subblocks"] for p in g["planes"])
    assert [int(r["Subblock"]) for r in rows] == list(range(len(rows)))
    keys = [tuple(int(r[k]) for k in "SMTCZ") for r in rows]
    assert keys == sorted(keys)
    assert min(float(r["Time[s]"]) for r in rows) == 0.0
    for r in rows:
        assert (out / r["plane"]).is_file()
        assert r["tile"] == "" or (out / r["tile"]).is_file()


def test_export_of_one_file_puts_its_tree_at_outdir(czifs, corpus, tmp_path):
    r = run([czifs, "export", str(corpus / "Airyscan.czi"), str(tmp_path / "o"), "-j", "2"])
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "o" / "info.json").is_file()
    assert (tmp_path / "o" / "S0" / "C1" / "T2" / "Z0.tif").is_file()
    assert "\r" not in r.stderr, "no progress bar on a pipe"
    # + thumbnail, 3 metadata files, S0.ome.zarr (3 JSON files, a chunk per plane),
    # S0.ome.tif, the zarr root (.zgroup, .zattrs, OME/ with 3 files); no
    # hyperstack (H) and no tiles/ (each tile is its plane)
    assert "wrote 29 files (6 planes" in r.stderr


def damaged_copies(src, tmp_path):
    data = src.read_bytes()
    rnd = random.Random(7)
    out = []
    for cut in (0, 20, 600, len(data) // 3, len(data) - 10):
        p = tmp_path / f"trunc_{cut}.czi"
        p.write_bytes(data[:cut])
        out.append(p)
    # Flip bits in the directory entry counts / positions region near the end.
    for i in range(5):
        b = bytearray(data)
        pos = rnd.randrange(32, 120)
        b[pos] ^= 0x40
        p = tmp_path / f"flip_{i}.czi"
        p.write_bytes(bytes(b))
        out.append(p)
    return out


def test_without_leaves_out_tiles_pyramid_and_hyperstacks_in_export_and_mount(
        czifs, czi_synth, tmp_path):
    czi = tmp_path / "scan.czi"
    assert run([czi_synth, "--tiles", "2x2", "--pyramid", "1", "--size", "C=2", str(czi)]).returncode == 0
    full, lean = tmp_path / "full", tmp_path / "lean"
    assert run([czifs, "export", str(czi), str(full)]).returncode == 0
    assert {"tiles", "pyramid"} <= {p.name for p in full.iterdir()}
    assert (full / "S0" / "hyperstack.tif").is_file()
    assert (full / "S0.ome.zarr" / ".zattrs").is_file()
    assert (full / "S0.ome.tif").is_file() and (full / "OME" / "METADATA.ome.xml").is_file()
    r = run([czifs, "export", "--without", "tiles,pyramid,hyperstacks,zarr,ometiff", str(czi),
             str(lean)])
    assert r.returncode == 0, r.stderr
    tifs = sorted(str(p.relative_to(lean)) for p in lean.rglob("*.tif"))
    assert tifs == ["S0/C0/T0/Z0.tif", "S0/C1/T0/Z0.tif"]
    assert not (lean / "S0.ome.zarr").exists()
    assert (lean / "S0/C1/T0/Z0.tif").read_bytes() == (full / "S0/C1/T0/Z0.tif").read_bytes()
    mnt = tmp_path / "mnt"
    with mounted(czifs, czi, mnt, "-o", "without=tiles:pyramid:zarr"):
        names = {p.name for p in mnt.iterdir()}
        assert "tiles" not in names and "pyramid" not in names and "S0" in names
        assert "S0.ome.zarr" not in names and "S0.ome.tif" in names
        assert not {".zattrs", ".zgroup", "OME"} & names  # no zarr root without its images
        assert (mnt / "S0" / "hyperstack.tif").is_file()
    r = run([czifs, "export", "--without", "planes", str(czi), str(tmp_path / "x")])
    assert r.returncode == 2 and "planes" in r.stderr


def test_damaged_files_give_a_clear_error_and_nonzero_exit(czifs, corpus, tmp_path):
    failures = 0
    for p in damaged_copies(corpus / "CellDivision_T3_Z5_CH2_X240_Y170_comp1.czi", tmp_path):
        for cmd in (["inspect", str(p)], ["export", str(p), str(tmp_path / ("x" + p.stem))]):
            r = run([czifs] + cmd, timeout=60)
            assert r.returncode >= 0, f"{cmd}: killed by signal {-r.returncode}"
            if p.name in ("trunc_0.czi", "trunc_20.czi", "trunc_600.czi"):
                assert r.returncode == 1, f"{cmd}: a file cut at the header must fail"
            if r.returncode != 0:
                failures += 1
                assert p.name in r.stderr, r.stderr
                assert len(r.stderr.strip().splitlines()) <= 3, r.stderr
    assert failures >= 6


def test_a_spinning_jpegxr_decoder_is_stopped_and_reported(czifs, corpus, tmp_path):
    # Stands in for jxrlib looping on damaged data: a helper that burns CPU
    # under a 1 s CPU-time limit, as czifs-jxr-helper sets one for itself.
    helper = tmp_path / "spinning-helper"
    helper.write_text("#!/bin/sh\nulimit -S -t 1\nexec sh -c 'while :; do :; done'\n")
    helper.chmod(0o755)
    env = dict(os.environ, CZIFS_JXR_HELPER=str(helper))
    start = time.monotonic()
    r = run([czifs, "export", str(corpus / "f14_jxr_gray8.czi"), str(tmp_path / "o")],
            env=env, timeout=120 * SLOWDOWN)
    assert r.returncode == 1, r.stderr
    assert "spun on this data" in r.stderr
    assert time.monotonic() - start < 60 * SLOWDOWN
    assert (tmp_path / "o" / "info.json").is_file()


def test_a_jpegxr_helper_that_shrinks_its_shared_memory_cannot_crash_czifs(
        czifs, corpus, tmp_path):
    # Stands in for a helper taken over by a damaged stream: it truncates the
    # shared memory czifs maps (fd 3) and claims success. The memory is sealed
    # against shrinking, so czifs reads what is there instead of dying of SIGBUS.
    helper = tmp_path / "shrinking-helper"
    tried = tmp_path / "tried"
    helper.write_text(f"""#!/usr/bin/python3
import os, struct, sys
while True:
    head = os.read(0, 40)  # JxrRequestHeader
    if len(head) < 40:
        sys.exit(0)
    try:
        os.ftruncate(3, 0)
        outcome = "shrunk"
    except OSError as e:
        outcome = "refused: " + e.strerror
    with open("{tried}", "a") as f:
        f.write(outcome + "\\n")
    os.write(1, struct.pack("<5i", 0, 0, 0, 0, 0))
""")
    helper.chmod(0o755)
    env = dict(os.environ, CZIFS_JXR_HELPER=str(helper))
    r = run([czifs, "export", str(corpus / "f14_jxr_gray8.czi"), str(tmp_path / "o")],
            env=env, timeout=120 * SLOWDOWN)
    assert r.returncode >= 0, f"killed by signal {-r.returncode}: {r.stderr}"
    outcomes = tried.read_text().splitlines()
    assert outcomes and all(o.startswith("refused") for o in outcomes), outcomes
    assert r.returncode == 0, r.stderr


def test_folder_with_a_damaged_file_exports_the_rest_and_fails(czifs, corpus, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(corpus / "DAPI_GFP.czi", src / "good.czi")
    data = (corpus / "Airyscan.czi").read_bytes()
    (src / "bad.czi").write_bytes(data[: len(data) // 2])
    r = run([czifs, "export", str(src), str(tmp_path / "out")])
    assert r.returncode == 1
    assert "bad.czi" in r.stderr
    assert (tmp_path / "out" / "good.czi" / "S0" / "C1" / "T0" / "Z0.tif").is_file()


def synth(czi_synth, path, *args):
    r = run([czi_synth, str(path)] + list(args))
    assert r.returncode == 0, r.stderr
    return path


def test_jpg_subblocks_export_as_readable_tiffs(czifs, czi_synth, tmp_path):
    czi = synth(czi_synth, tmp_path / "j.czi", "--pixel-type", "Bgr24", "--codec", "jpg",
                "--tile", "64x48", "--tiles", "2x2")
    r = run([czifs, "export", str(czi), str(tmp_path / "o")])
    assert r.returncode == 0, r.stderr
    a = tifffile.imread(tmp_path / "o" / "S0" / "C0" / "T0" / "Z0.tif")
    assert a.shape == (48 + 43, 64 + 58, 3) and a.dtype == np.uint8
    assert a.mean() > 50


def test_unsupported_compression_is_listed_and_fails_export(czifs, czi_synth, tmp_path):
    czi = synth(czi_synth, tmp_path / "raw.czi", "--codec", "system-raw", "--tile", "16x16")
    r = run([czifs, "inspect", str(czi)])
    assert r.returncode == 0
    assert "unsupported" in r.stdout and "System-RAW(1001)" in r.stdout
    r = run([czifs, "export", str(czi), str(tmp_path / "o")])
    assert r.returncode == 1
    assert "S0/C0/T0/Z0.tif" in r.stderr and "System-RAW(1001)" in r.stderr
    assert (tmp_path / "o" / "info.json").is_file()


def test_names_are_padded_and_extra_dimensions_become_suffixes(czifs, czi_synth, tmp_path):
    czi = synth(czi_synth, tmp_path / "h.czi", "--size", "C=2,Z=12,H=3", "--tile", "8x8",
                "--sparse")
    r = run([czifs, "export", str(czi), str(tmp_path / "o")])
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in (tmp_path / "o" / "S0" / "C1" / "T0").iterdir())
    assert names[0] == "Z00_H0.tif" and names[-1] == "Z11_H2.tif" and len(names) == 36


def test_calibration_reaches_tifffile_in_micrometres(czifs, czi_synth, tmp_path):
    czi = synth(czi_synth, tmp_path / "c.czi", "--size", "Z=3", "--tile", "32x32")
    r = run([czifs, "export", str(czi), str(tmp_path / "o")])
    assert r.returncode == 0
    with tifffile.TiffFile(tmp_path / "o" / "S0" / "C0" / "T0" / "Z1.tif") as t:
        assert t.imagej_metadata["unit"] == "micron"
        assert t.imagej_metadata["spacing"] == pytest.approx(0.5)
        num, den = t.pages[0].tags["XResolution"].value
        assert num / den == pytest.approx(10.0)  # 0.1 µm pixels


def test_inspect_takes_several_files_and_reports_the_bad_one(czifs, corpus, tmp_path):
    bad = tmp_path / "notes.czi"
    bad.write_text("not a microscope image\n")
    files = [corpus / "10x10.czi", bad, corpus / "100x100.czi"]
    r = run([czifs, "inspect"] + [str(f) for f in files])
    assert r.returncode == 1
    assert r.stdout.count("file size") == 2
    assert "notes.czi" in r.stderr and "not a CZI file" in r.stderr, r.stderr
    r = run([czifs, "inspect", "--json", str(files[0]), str(files[2])])
    assert r.returncode == 0, r.stderr
    assert [d["file"] for d in json.loads(r.stdout)] == ["10x10.czi", "100x100.czi"]
