"""Every recipe in docs/usage.md runs as written: each code block after a
`<!-- recipe: NAME -->` line, with the documented paths pointing at a
sample written by czi-synth (12 Z planes, 2 channels, 2 time points, 2x2
tiles) and at a real mount of it."""
import os
import pathlib
import re
import subprocess
import textwrap

import pytest

from conftest import run, SLOWDOWN
from mounting import mounted

USAGE = pathlib.Path(__file__).resolve().parents[2] / "docs" / "usage.md"


def recipes():
    """{name: code} for every recipe block in docs/usage.md."""
    text = USAGE.read_text()
    found = {}
    for m in re.finditer(r"<!-- recipe: ([\w-]+) -->\n\n((?:(?: {4}.*)?\n)+)", text):
        found[m.group(1)] = textwrap.dedent(m.group(2)).strip() + "\n"
    return found


def test_the_usage_guide_has_its_recipes():
    assert {"shell", "python-planes", "python-scene", "python-tiles", "python-zarr",
            "python-slide", "shell-slide", "python-root", "python-planetable", "shell-gdal",
            "python-dask-script"} <= set(recipes())


@pytest.fixture(scope="module")
def run42(czi_synth, tmp_path_factory):
    d = tmp_path_factory.mktemp("docs")
    czi = d / "run42.czi"
    r = run([czi_synth, str(czi), "--size", "C=2,T=2,Z=12", "--tile", "96x64", "--tiles", "2x2"])
    assert r.returncode == 0, r.stderr
    whole = d / "whole.czi"  # each plane one tile: no tiles/
    r = run([czi_synth, str(whole), "--size", "C=2,Z=8", "--tile", "96x64"])
    assert r.returncode == 0, r.stderr
    return czi, whole


def run_python(code, mnt):
    code = code.replace("/mnt/run42", str(mnt))
    return subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True,
                          timeout=120 * SLOWDOWN)


@pytest.mark.parametrize("name", ["python-planes", "python-scene", "python-tiles", "python-zarr",
                                  "python-root", "python-planetable"])
def test_python_recipe_runs_as_written(czifs, run42, tmp_path, name):
    code = recipes()[name]
    with mounted(czifs, run42[0], tmp_path / "mnt") as _:
        r = run_python(code, tmp_path / "mnt")
    assert r.returncode == 0, r.stdout + r.stderr
    if name == "python-tiles":
        assert r.stdout.strip().endswith("96 tiles"), r.stdout  # 2 T x 12 Z x 2x2, channel 1
    if name == "python-root":
        assert r.stdout.startswith("S0.ome.zarr run42.czi S0 "), r.stdout
    if name == "python-planetable":  # 2 C x 2 T x 12 Z planes of 2 x 2 tiles
        assert r.stdout.strip() == "192 subblocks; 12 planes of C1 T0", r.stdout


@pytest.fixture(scope="module")
def slide(czi_synth, tmp_path_factory):
    czi = tmp_path_factory.mktemp("slide") / "slide.czi"
    r = run([czi_synth, str(czi), "--pixel-type", "Bgr24", "--codec", "zstd1", "--tile",
             "1000x800", "--tiles", "3x2"])
    assert r.returncode == 0, r.stderr
    return czi


def test_slide_recipes_run_as_written(czifs, slide, tmp_path):
    mnt = tmp_path / "mnt"
    with mounted(czifs, slide, mnt):
        code = recipes()["python-slide"].replace("/mnt/slide", str(mnt))
        r = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True,
                           timeout=120 * SLOWDOWN)
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.startswith("4 "), r.stdout  # 2700 x 1440 down to 338 x 180
        script = recipes()["shell-slide"].replace("/mnt/slide", str(mnt))
        r = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], capture_output=True,
                           text=True, timeout=120 * SLOWDOWN)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "openslide.level-count: '4'" in r.stdout and "Overviews:" in r.stdout
        assert r.stdout.strip().endswith("4"), r.stdout


def test_the_tile_recipe_runs_on_a_file_without_tiles(czifs, run42, tmp_path):
    with mounted(czifs, run42[1], tmp_path / "mnt"):
        r = run_python(recipes()["python-tiles"], tmp_path / "mnt")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "0 tiles", r.stdout


def test_shell_recipe_runs_as_written(czifs, run42, tmp_path):
    mnt, scratch = tmp_path / "mnt", tmp_path / "scratch"
    mnt.mkdir()
    script = (recipes()["shell"].replace("/data/run42.czi", str(run42[0]))
              .replace("/mnt/run42", str(mnt)).replace("/scratch/run42", str(scratch)))
    env = dict(os.environ, PATH=f"{pathlib.Path(czifs).parent}:{os.environ['PATH']}")
    try:
        r = subprocess.run(["bash", "-e", "-c", script], capture_output=True, text=True, env=env,
                           timeout=120 * SLOWDOWN)
    finally:
        run(["fusermount3", "-u", str(mnt)])
    assert r.returncode == 0, r.stdout + r.stderr
    assert (scratch / "S0" / "C1" / "T1" / "Z11.tif").is_file()
    assert "Z11.tif" in r.stdout and '"decoded_subblocks"' in r.stdout


def test_the_gdal_recipe_runs_as_written_and_counts_zeros(czifs, run42, tmp_path):
    mnt = tmp_path / "mnt"
    with mounted(czifs, run42[0], mnt):
        script = recipes()["shell-gdal"].replace("/mnt/run42", str(mnt))
        r = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], capture_output=True,
                           text=True, cwd=tmp_path, timeout=120 * SLOWDOWN)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "Size is 182, 122" in r.stdout and "Minimum=" in r.stdout, r.stdout
        plane = tmp_path / "Z07.tif"
        info = run(["gdalinfo", str(plane)])
        assert "NoData" not in info.stdout, info.stdout
        import tifffile
        got = tifffile.imread(plane)
        assert (got == tifffile.imread(mnt / "S0" / "C0" / "T1" / "Z07.tif")).all()


def test_the_dask_recipe_runs_as_a_script(czifs, run42, tmp_path):
    """As a file, the way a user runs it: dask's worker processes import it again."""
    script = tmp_path / "mip.py"
    mnt = tmp_path / "mnt"
    script.write_text(recipes()["python-dask-script"].replace("/mnt/run42", str(mnt)))
    with mounted(czifs, run42[0], mnt):
        r = subprocess.run(["/usr/bin/python3", str(script)], capture_output=True, text=True,
                           cwd=tmp_path, timeout=300 * SLOWDOWN)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    assert r.stdout.strip().splitlines()[-1] == "(2, 2, 122, 182) uint16", r.stdout

