"""One pyramidal OME-TIFF per scene, opened by the tools of slide and
microscopy users: tifffile (series, levels, OME-XML) over the corpus, the
OME-XML valid against the 2016-06 schema (xmllint, offline), and a slide's
levels in OpenSlide, GDAL and vips; reading tags and directories decodes
nothing."""
import json
import subprocess

import numpy as np
import pytest
import tifffile
import zarr

from conftest import corpus_dir, golden_files, load_golden, plane_relpath, run
from mounting import mounted, stats

OME_XSD = corpus_dir().parent / "ome" / "2016-06" / "ome.xsd"


@pytest.fixture(scope="module")
def corpus_mount(czifs, corpus, tmp_path_factory):
    mnt = tmp_path_factory.mktemp("ot") / "mnt"
    with mounted(czifs, corpus, mnt, "--cache-size", "64M", "--without", "tiles,pyramid"):
        yield mnt


def test_walking_the_long_tags_of_a_deep_stack_decodes_nothing(czifs, czi_synth, tmp_path):
    """A hyperstack and an OME-TIFF of 400 planes: their directories fill
    tens of KiB, and a reader walking them has the kernel read ahead up to
    two windows of the mount's 1 MiB readahead; the pixels start past that."""
    czi = tmp_path / "deep.czi"
    assert run([czi_synth, str(czi), "--codec", "zstd1", "--tile", "96x96", "--tiles", "2x2",
                "--size", "Z=400"]).returncode == 0
    mnt = tmp_path / "mnt"
    with mounted(czifs, czi, mnt):
        for name in ("S0/hyperstack.tif", "S0.ome.tif"):
            with tifffile.TiffFile(mnt / name) as t:
                assert len(t.pages) == 400
                for page in t.pages:
                    assert page.tags["ImageWidth"].value > 0
        got = stats(mnt)
        assert got["decoded_subblocks"] == 0 and got["computed_tiles"] == 0, got


def test_reading_every_directory_and_the_ome_xml_decodes_nothing(corpus_mount):
    """Except in OME-TIFFs of at most 64 KiB of pixels, which follow their
    tags directly (no gap of zeros in every copy): reading those may draw them."""
    r = run(["ls", "-lR", str(corpus_mount)])
    assert r.returncode == 0, r.stderr
    files = sorted(corpus_mount.glob("*.czi/*.ome.tif"))
    assert len(files) >= len(golden_files())
    large = 0
    for f in files:
        before = stats(corpus_mount)
        with tifffile.TiffFile(f) as t:
            assert t.is_ome, f
            for level in t.series[0].levels:  # every directory of every level
                assert level.shape
            page = t.pages[0]
            first = min(o for o, n in zip(page.dataoffsets, page.databytecounts) if n)
        got = stats(corpus_mount)
        if first >= 128 << 10:
            large += 1
            assert got["decoded_subblocks"] == before["decoded_subblocks"], f
            assert got["computed_tiles"] == before["computed_tiles"], f
        else:
            assert f.stat().st_size - first <= 64 << 10, f
    assert large >= len(files) // 2, (large, len(files))


def validate_ome_xml(xml, tmp_path):
    doc = tmp_path / "ome.xml"
    doc.write_text(xml)
    r = run(["xmllint", "--nonet", "--noout", "--schema", str(OME_XSD), str(doc)])
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("golden_path", golden_files(), ids=lambda p: p.name[:-5])
def test_every_level_equals_the_zarr_level_and_the_planes_and_the_ome_xml_validates(
        corpus_mount, golden_path, tmp_path):
    g = load_golden(golden_path)
    folder = corpus_mount / g["file"]
    info = json.loads((folder / "info.json").read_text())
    checked = 0
    for entry in info["zarr"]:
        if "unavailable" in entry:
            assert not (folder / entry["name"].replace(".ome.zarr", ".ome.tif")).exists()
            continue
        path = folder / entry["name"].replace(".ome.zarr", ".ome.tif")
        root = zarr.open(str(folder / entry["name"]), mode="r")
        with tifffile.TiffFile(path) as t:
            assert t.is_ome and len(t.series) == 1
            validate_ome_xml(t.pages[0].description, tmp_path)
            series = t.series[0]
            assert len(series.levels) == len(entry["levels"])
            for level, want in zip(series.levels, entry["levels"]):
                assert level.get_axes(False) == "TZCYXS"
                tiled = level.asarray().reshape(level.get_shape(False))
                arr = root[want["path"]][:]  # (T, C x samples, Z, Y, X)
                t_, cs, z_, y, x = arr.shape
                samples = tiled.shape[-1]
                ref = arr.reshape(t_, cs // samples, samples, z_, y, x).transpose(0, 3, 1, 4, 5, 2)
                assert np.array_equal(tiled, ref), (path, want["path"])
                checked += 1
    assert checked > 0 or not any("levels" in e for e in info["zarr"])


def test_the_ome_xml_places_each_plane_where_zen_put_its_scene(corpus_mount):
    with tifffile.TiffFile(corpus_mount / "Airyscan.czi" / "S0.ome.tif") as t:
        xml = t.pages[0].description
    # ZEN: <Scene Index="0"> <Positions> <Position X="-1269.98" Y="3135.31" Z="-120.564" />
    assert xml.count('PositionX="-1269.98"') == 6 and 'PositionZ="-120.564"' in xml
    assert 'ExcitationWavelength="488' in xml and 'NominalMagnification="63"' in xml


def test_a_plane_read_from_the_ome_tiff_equals_its_plane_tiff(corpus_mount):
    for name in ("T=3_Z=5_CH=2_X=240_Y=170.czi", "RGB-8bit.czi", "f06_gray32f_zstd0.czi"):
        folder = corpus_mount / name
        g = load_golden(corpus_dir() / "golden" / f"{name}.json")
        with tifffile.TiffFile(folder / "S0.ome.tif") as t:
            pages = t.series[0].levels[0].pages  # XYCZT: channel fastest
            b = g["bounds"]
            sizes = {d: (b[d][1] if d in b else 1) for d in "CZT"}
            for plane in g["planes"]:
                c, z, tt = (plane[d] - (b[d][0] if d in b else 0) for d in "CZT")
                k = c + sizes["C"] * (z + sizes["Z"] * tt)
                want = tifffile.imread(folder / plane_relpath(g, plane))
                assert np.array_equal(pages[k].asarray(), want), (name, plane)


@pytest.fixture(scope="module")
def slide(czifs, czi_synth, tmp_path_factory):
    """A brightfield slide: one RGB plane, 3700 x 2300, JPEG-XR tiles, no
    pyramid of its own."""
    d = tmp_path_factory.mktemp("slide")
    czi = d / "slide.czi"
    r = run([czi_synth, str(czi), "--pixel-type", "Bgr24", "--codec", "jxr", "--tile", "1024x768",
             "--tiles", "4x3", "--overlap", "0.1"])
    assert r.returncode == 0, r.stderr
    mnt = d / "mnt"
    with mounted(czifs, czi, mnt):
        yield mnt


def test_openslide_sees_every_level_and_reads_the_plane_at_level_0(slide):
    import openslide
    path = slide / "S0.ome.tif"
    props = run(["openslide-show-properties", str(path)])
    assert props.returncode == 0, props.stderr
    info = json.loads((slide / "info.json").read_text())
    levels = info["zarr"][0]["levels"]
    assert f"openslide.level-count: '{len(levels)}'" in props.stdout
    # OpenSlide hashes the smallest level's tiles when it opens a slide
    # (openslide.quickhash-1): a slide with no pyramid of its own has its
    # thumbnail computed then, from every tile once; opening it again
    # decodes nothing more.
    assert "openslide.quickhash-1" in props.stdout
    first = stats(slide)
    assert first["decoded_subblocks"] == 12 and first["computed_tiles"] > 0, first
    assert run(["openslide-show-properties", str(path)]).stdout == props.stdout
    assert stats(slide)["decoded_subblocks"] == 12
    plane = tifffile.imread(slide / "S0/C0/T0/Z0.tif")
    with openslide.OpenSlide(str(path)) as s:
        assert s.level_count == len(levels) and len(levels) >= 4
        assert s.dimensions == (plane.shape[1], plane.shape[0])
        region = np.asarray(s.read_region((0, 0), 0, s.dimensions).convert("RGB"))
        assert np.array_equal(region, plane)
        thumb = np.asarray(s.read_region((0, 0), s.level_count - 1,
                                         s.level_dimensions[-1]).convert("RGB"))
    last = zarr.open(str(slide / "S0.ome.zarr"), mode="r")[levels[-1]["path"]][0, :, 0]
    assert np.array_equal(thumb, np.moveaxis(last, 0, -1))


def test_gdal_lists_the_levels_as_overviews_and_reads_the_plane(slide, tmp_path):
    r = run(["gdalinfo", str(slide / "S0.ome.tif")])
    assert r.returncode == 0, r.stderr
    info = json.loads((slide / "info.json").read_text())
    for level in info["zarr"][0]["levels"][1:]:
        assert f"{level['shape'][4]}x{level['shape'][3]}" in r.stdout, r.stdout
    out = tmp_path / "gdal.tif"
    r = run(["gdal_translate", "-q", str(slide / "S0.ome.tif"), str(out)])
    assert r.returncode == 0, r.stderr
    assert np.array_equal(tifffile.imread(out), tifffile.imread(slide / "S0/C0/T0/Z0.tif"))


def test_vips_opens_each_level_as_a_page(slide, tmp_path):
    info = json.loads((slide / "info.json").read_text())
    levels = info["zarr"][0]["levels"]
    r = run(["vipsheader", "-f", "n-pages", str(slide / "S0.ome.tif")])
    assert r.returncode == 0 and int(r.stdout) == len(levels), (r.stdout, r.stderr)
    out = tmp_path / "page2.tif"
    r = run(["vips", "copy", f"{slide / 'S0.ome.tif'}[page=2]", str(out)])
    assert r.returncode == 0, r.stderr
    level2 = zarr.open(str(slide / "S0.ome.zarr"), mode="r")["2"][0, :, 0]
    assert np.array_equal(tifffile.imread(out), np.moveaxis(level2, 0, -1))


def test_without_ometiff_leaves_them_out(czifs, czi_synth, tmp_path):
    czi = tmp_path / "a.czi"
    assert run([czi_synth, str(czi), "--tile", "64x48"]).returncode == 0
    for opts, shown in (([], True), (["--without", "ometiff"], False),
                        (["-o", "without=ometiff"], False)):
        mnt = tmp_path / f"mnt{len(opts)}"
        with mounted(czifs, czi, mnt, *opts):
            assert (mnt / "S0.ome.tif").exists() == shown
