"""Every scene as a live OME-Zarr image: zarr and dask read the same pixels
as the plane TIFFs (golden MD5s), levels go down to a thumbnail (computed
ones equal a numpy 2x2 mean of the level above), the metadata validates
against the OME-NGFF 0.4 schema, and listing decodes nothing."""
import json
import os

import jsonschema
import numpy as np
import pytest
import tifffile
import zarr

from conftest import (corpus_dir, golden_files, load_golden, plane_relpath, czi_order_md5, run,
                      SLOWDOWN)
from mounting import mounted, stats


SCHEMA = corpus_dir().parent / "ngff" / "0.4" / "image.schema"


@pytest.fixture(scope="module")
def corpus_mount(czifs, corpus, tmp_path_factory):
    mnt = tmp_path_factory.mktemp("z") / "mnt"
    with mounted(czifs, corpus, mnt, "--cache-size", "64M"):
        yield mnt


def image_of(golden, plane):
    """(zarr image folder name, t, first c, z) of a golden plane."""
    rel = plane_relpath(golden, plane)
    scene = rel.split("/")[0]
    stem = rel.rsplit("/", 1)[1][:-len(".tif")]
    suffix = stem[stem.index("_"):] if "_" in stem else ""
    b = golden["bounds"]

    def pos(dim):
        return plane[dim] - (b[dim][0] if dim in b else 0)
    return f"{scene}{suffix}.ome.zarr", pos("T"), pos("C"), pos("Z")


def as_czi_pixels(chunk):
    """(samples, H, W) of one channel in R,G,B(,A) → the plane as libCZI
    composes it (H, W[, samples]) for czi_order_md5."""
    if chunk.shape[0] == 1:
        return chunk[0]
    return np.moveaxis(chunk, 0, -1)


@pytest.mark.parametrize("golden_path", golden_files(), ids=lambda p: p.name[:-5])
def test_every_plane_read_through_zarr_matches_golden(corpus_mount, golden_path):
    g = load_golden(golden_path)
    folder = corpus_mount / g["file"]
    info = json.loads((folder / "info.json").read_text())
    available = {e["name"]: e for e in info["zarr"] if "unavailable" not in e}
    checked = 0
    for plane in g["planes"]:
        name, t, c, z = image_of(g, plane)
        if name not in available:
            reason = next(e["unavailable"] for e in info["zarr"] if e["name"] == name)
            assert reason, name
            continue
        arr = zarr.open(str(folder / name), mode="r")["0"]
        samples = arr.shape[1] // max(1, len({p["C"] for p in g["planes"]}))
        pixels = as_czi_pixels(arr[t, c * samples:(c + 1) * samples, z])
        assert czi_order_md5(pixels) == plane["md5"], f"{g['file']}: {name} t={t} c={c} z={z}"
        checked += 1
    assert checked > 0 or not available
    for entry in available.values():  # down to a thumbnail
        assert max(entry["levels"][-1]["shape"][3:]) <= 512, entry


def test_every_zattrs_validates_against_the_ngff_schema_and_matches_info_json(corpus_mount):
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    images = sorted(p for p in corpus_mount.glob("*.czi/*.ome.zarr")
                    if p.name != "plate.ome.zarr")  # a plate: its own test
    assert len(images) >= len(golden_files())
    for image in images:
        attrs = json.loads((image / ".zattrs").read_text())
        validator.validate(attrs)
        ms = attrs["multiscales"][0]
        assert [a["name"] for a in ms["axes"]] == ["t", "c", "z", "y", "x"]
        info = json.loads((image.parent / "info.json").read_text())
        entry = next(e for e in info["zarr"] if e["name"] == image.name)
        assert [d["path"] for d in ms["datasets"]] == [l["path"] for l in entry["levels"]]
        for d, level in zip(ms["datasets"], entry["levels"]):
            assert d["coordinateTransformations"][0]["scale"] == level["scale"]
            arr = zarr.open(str(image / d["path"]), mode="r")
            assert list(arr.shape) == level["shape"]
        calibrated = info["pixel_size_um"]["x"] is not None
        assert (ms["axes"][4].get("unit") == "micrometer") == calibrated, image
        timed = info["time"]["interval_s"] is not None
        assert (ms["axes"][0].get("unit") == "second") == timed, image
        channels = attrs["omero"]["channels"]
        assert len(channels) == entry["levels"][0]["shape"][1]


def test_pyramid_levels_equal_the_pyramid_tiffs(corpus_mount):
    checked = 0
    for folder in sorted(corpus_mount.glob("*.czi")):
        if not (folder / "pyramid").is_dir():
            continue
        info = json.loads((folder / "info.json").read_text())
        for entry in info["zarr"]:
            image = folder / entry["name"]
            scene = image.name.split(".")[0].split("_")[0]
            root = zarr.open(str(image), mode="r")
            for level in entry.get("levels", []):
                if not level["source"].startswith("pyramid/"):
                    continue
                arr = root[level["path"]]
                tiffs = sorted((folder / level["source"] / scene).rglob("*.tif"))
                assert tiffs, (image, level)
                for p in tiffs:
                    c = int(p.parent.parent.name[1:])
                    t = int(p.parent.name[1:])
                    z = int(p.stem[1:].split("_")[0])
                    want = tifffile.imread(p)
                    got = arr[t, c, z] if arr.shape[1] == 1 or want.ndim == 2 else \
                        np.moveaxis(arr[t, c * 3:(c + 1) * 3, z], 0, -1)
                    assert np.array_equal(got, want), p
                    checked += 1
    assert checked > 0


def halved(a):
    """The level below `a` (..., H, W) as an independent numpy 2x2 mean:
    odd edges repeat their last row/column (the mean of what is there),
    integers round half up, floats are the float64 mean rounded once."""
    h, w = a.shape[-2:]
    if h % 2:
        a = np.concatenate([a, a[..., -1:, :]], axis=-2)
    if w % 2:
        a = np.concatenate([a, a[..., :, -1:]], axis=-1)
    wide = a.astype(np.float64 if a.dtype.kind == "f" else np.uint64)
    s = wide[..., 0::2, 0::2] + wide[..., 1::2, 0::2] + wide[..., 0::2, 1::2] + wide[..., 1::2, 1::2]
    return (s / 4).astype(a.dtype) if a.dtype.kind == "f" else ((s + 2) // 4).astype(a.dtype)


@pytest.fixture(scope="module")
def small_chunk_mount(czifs, corpus, tmp_path_factory):
    """The corpus with 64-pixel chunks: every scene larger than 64 pixels
    gets computed levels, of every pixel type the corpus has."""
    mnt = tmp_path_factory.mktemp("z64") / "mnt"
    with mounted(czifs, corpus, mnt, "--cache-size", "64M", "--zarr-chunk", "64",
                 "--without", "tiles,pyramid,hyperstacks"):
        yield mnt


def test_walking_every_level_of_every_image_computes_and_decodes_nothing(small_chunk_mount):
    r = run(["ls", "-lR", str(small_chunk_mount)])
    assert r.returncode == 0, r.stderr
    for attrs in small_chunk_mount.glob("*.czi/*.ome.zarr/.zattrs"):
        if "f06_gray32f" not in str(attrs):  # a float image's windows come from its data
            attrs.read_text()
    got = stats(small_chunk_mount)
    assert got["decoded_subblocks"] == 0 and got["computed_tiles"] == 0, got


@pytest.mark.parametrize("golden_path", golden_files(), ids=lambda p: p.name[:-5])
def test_levels_go_down_to_a_thumbnail_and_each_computed_one_is_the_mean_of_the_one_above(
        small_chunk_mount, golden_path):
    g = load_golden(golden_path)
    folder = small_chunk_mount / g["file"]
    info = json.loads((folder / "info.json").read_text())
    computed = 0
    for entry in info["zarr"]:
        if "unavailable" in entry:
            continue
        root = zarr.open(str(folder / entry["name"]), mode="r")
        levels = entry["levels"]
        assert max(levels[-1]["shape"][3:]) <= 64, (entry["name"], levels[-1])
        assert [lv["path"] for lv in levels] == [str(i) for i in range(len(levels))]
        above = root["0"][:]
        for i, level in enumerate(levels[1:], start=1):
            assert level["scale"][3] == pytest.approx(levels[0]["scale"][3] * 2 ** i)
            here = root[level["path"]][:]
            if level["source"] == f"mean of {i - 1}":
                assert np.array_equal(here, halved(above)), (g["file"], entry["name"], i)
                computed += 1
            above = here
    big = any(max(s["width"], s["height"]) > 64 for s in g["scenes"])
    assert computed > 0 or not big or not any("levels" in e for e in info["zarr"])


def test_listing_and_reading_the_json_of_a_20000_pixel_mosaic_decodes_nothing(
        czifs, czi_synth, tmp_path):
    czi = tmp_path / "big.czi"
    r = run([czi_synth, str(czi), "--codec", "zstd1", "--tile", "2224x2224", "--tiles", "10x10"])
    assert r.returncode == 0, r.stderr
    mnt = tmp_path / "mnt"
    with mounted(czifs, czi, mnt):
        r = run(["ls", "-lR", str(mnt / "S0.ome.zarr")])
        assert r.returncode == 0
        assert r.stdout.count(".tif") == 0 and r.stdout.count("\n") > 400  # 20 x 20 chunks
        arr = zarr.open(str(mnt / "S0.ome.zarr"), mode="r")["0"]
        assert arr.shape[3] >= 20000 and arr.shape[4] >= 20000
        assert arr.chunks == (1, 1, 1, 1024, 1024)
        assert stats(mnt)["decoded_subblocks"] == 0
        # One chunk decodes the tile it lies in, and read-ahead a few of
        # the next chunks' tiles: nowhere near the plane's 100.
        chunk = arr[0, 0, 0, :1024, :1024]
        assert 1 <= stats(mnt)["decoded_subblocks"] <= 10
        plane = zarr.open(tifffile.imread(mnt / "S0/C0/T0/Z0.tif", aszarr=True), mode="r")
        assert plane.shape == arr.shape[3:]
        assert np.array_equal(chunk, plane[:1024, :1024])
        # Its thumbnail: 20000 / 2^6 = 313 pixels a side, computed from the
        # whole plane (every tile decoded) when first read.
        attrs = json.loads((mnt / "S0.ome.zarr" / ".zattrs").read_text())
        last = attrs["multiscales"][0]["datasets"][-1]["path"]
        thumb = zarr.open(str(mnt / "S0.ome.zarr"), mode="r")[last]
        assert max(thumb.shape[3:]) <= 512 and last == "6"
        assert stats(mnt)["computed_tiles"] == 0
        pixels = thumb[0, 0, 0]
        assert stats(mnt)["decoded_subblocks"] >= 100 and pixels.any()


def test_dask_distributed_computes_projections_equal_to_numpy_over_the_planes(
        czifs, czi_synth, tmp_path):
    import dask.array as da
    import distributed
    czi = tmp_path / "stack.czi"
    r = run([czi_synth, str(czi), "--codec", "zstd1", "--tile", "700x500", "--tiles", "3x2",
             "--size", "C=2,Z=5"])
    assert r.returncode == 0, r.stderr
    mnt = tmp_path / "mnt"
    with mounted(czifs, czi, mnt):
        planes = np.stack([np.stack([tifffile.imread(mnt / f"S0/C{c}/T0/Z{z}.tif")
                                     for z in range(5)]) for c in range(2)])
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as cluster, \
                distributed.Client(cluster):
            arr = da.from_zarr(str(mnt / "S0.ome.zarr" / "0"))
            max_z = arr.max(axis=2).compute(timeout=120 * SLOWDOWN)
            mean = arr[0, 1, 2].mean().compute(timeout=120 * SLOWDOWN)
        assert np.array_equal(max_z[0], planes.max(axis=1))
        assert mean == pytest.approx(planes[1, 2].mean())


def test_the_chunk_size_is_an_option_and_a_wrong_one_is_refused_before_mounting(
        czifs, czi_synth, tmp_path):
    czi = tmp_path / "m.czi"
    r = run([czi_synth, str(czi), "--codec", "zstd1", "--tile", "300x200", "--tiles", "2x2"])
    assert r.returncode == 0, r.stderr
    for opts, side in ((["--zarr-chunk", "128"], 128), (["-o", "zarr_chunk=100"], 100)):
        mnt = tmp_path / f"mnt{side}"
        with mounted(czifs, czi, mnt, *opts):
            arr = zarr.open(str(mnt / "S0.ome.zarr"), mode="r")["0"]
            assert arr.chunks == (1, 1, 1, side, side)
            assert np.array_equal(arr[0, 0, 0], tifffile.imread(mnt / "S0/C0/T0/Z0.tif"))
    for opts in (["--zarr-chunk", "10"], ["-o", "zarr_chunk=99999"], ["-o", "zarr_chunk=x"]):
        mnt = tmp_path / "refused"
        mnt.mkdir(exist_ok=True)
        r = run([czifs, str(czi), str(mnt), *opts])
        assert r.returncode != 0 and "zarr" in r.stderr.splitlines()[0], r.stderr
        assert not os.path.ismount(mnt)
    out = tmp_path / "out"
    r = run([czifs, "export", "--zarr-chunk", "256", str(czi), str(out)])
    assert r.returncode == 0, r.stderr
    assert json.loads((out / "S0.ome.zarr/0/.zarray").read_text())["chunks"] == [1, 1, 1, 256, 256]


OME_XSD = corpus_dir().parent / "ome" / "2016-06" / "ome.xsd"


@pytest.mark.parametrize("golden_path", golden_files(), ids=lambda p: p.name[:-5])
def test_each_czi_folder_is_a_bioformats2raw_root_naming_and_placing_every_image(
        corpus_mount, golden_path):
    g = load_golden(golden_path)
    folder = corpus_mount / g["file"]
    info = json.loads((folder / "info.json").read_text())
    available = [e["name"] for e in info["zarr"] if "unavailable" not in e]
    if not available:
        assert not (folder / "OME").exists()
        return
    root = zarr.open_group(str(folder), mode="r")
    assert root.attrs["bioformats2raw.layout"] == 3
    assert root["OME"].attrs["series"] == available
    xml = (folder / "OME" / "METADATA.ome.xml").read_text()
    r = run(["xmllint", "--nonet", "--noout", "--schema", str(OME_XSD),
             str(folder / "OME" / "METADATA.ome.xml")])
    assert r.returncode == 0, r.stderr
    assert xml.count("<Image ") == len(available) and "<MetadataOnly" in xml
    scenes = {s["S"]: s for s in g["scenes"]}
    for name in available:
        image = root[name]  # each series opens from the root
        ms = image.attrs["multiscales"][0]
        assert ms["name"].startswith(g["file"] + " " + name.split(".")[0]), ms["name"]
        assert image.attrs["omero"]["name"] == ms["name"]
        s = int(name.split(".")[0].split("_")[0][1:] or 0)
        scene = scenes.get(s + (g["bounds"]["S"][0] if "S" in g["bounds"] else 0))
        scale, move = ms["datasets"][0]["coordinateTransformations"]
        assert move["type"] == "translation"
        if scene is not None:  # where ZEN puts the scene, in the axes' units
            assert move["translation"][4] == pytest.approx(scene["x"] * scale["scale"][4])
            assert move["translation"][3] == pytest.approx(scene["y"] * scale["scale"][3])


PLATE_SCHEMA = corpus_dir().parent / "ngff" / "0.4" / "plate.schema"


def test_a_plate_file_is_an_ngff_plate_whose_fields_are_its_scene_images(corpus_mount):
    validator = jsonschema.Draft202012Validator(json.loads(PLATE_SCHEMA.read_text()))
    plates = {}
    for folder in sorted(corpus_mount.glob("*.czi")):
        if not (folder / "plate.ome.zarr").is_dir():
            continue
        attrs = json.loads((folder / "plate.ome.zarr" / ".zattrs").read_text())
        validator.validate(attrs)
        plate = attrs["plate"]
        plates[folder.name] = plate
        series = zarr.open_group(str(folder), mode="r")["OME"].attrs["series"]
        for well in plate["wells"]:
            row, column = well["path"].split("/")
            assert plate["rows"][well["rowIndex"]]["name"] == row
            assert plate["columns"][well["columnIndex"]]["name"] == column
            fields = json.loads((folder / "plate.ome.zarr" / well["path"] / ".zattrs").read_text())
            for field in fields["well"]["images"]:
                image = zarr.open_group(str(folder / "plate.ome.zarr" / well["path"] / field["path"]),
                                        mode="r")
                name = image.attrs["multiscales"][0]["name"].split(" ")[1] + ".ome.zarr"
                assert name in series
                assert np.array_equal(image["0"][:], zarr.open(str(folder / name), mode="r")["0"][:])
    # WellD6_S1.czi: one scene in well D6 of a 96-well plate.
    d6 = plates["WellD6_S1.czi"]
    assert (len(d6["rows"]), len(d6["columns"])) == (8, 12)
    assert d6["wells"] == [{"path": "D/6", "rowIndex": 3, "columnIndex": 5}]
    assert not (corpus_mount / "Airyscan.czi" / "plate.ome.zarr").exists()  # no wells: no plate


def test_a_float_images_window_is_its_data_range_and_its_size_is_known_before(czifs, corpus,
                                                                             tmp_path):
    mnt = tmp_path / "mnt"
    with mounted(czifs, corpus / "f06_gray32f_zstd0.czi", mnt):
        attrs = mnt / "S0.ome.zarr" / ".zattrs"
        size = attrs.stat().st_size
        assert stats(mnt)["decoded_subblocks"] == 0  # stat reads no pixel
        text = attrs.read_text()
        assert len(text.encode()) == size
        meta = json.loads(text)
        root = zarr.open(str(mnt / "S0.ome.zarr"), mode="r")
        last = root[meta["multiscales"][0]["datasets"][-1]["path"]]
        for k, channel in enumerate(meta["omero"]["channels"]):
            plane = last[0, k, last.shape[2] // 2]
            window = channel["window"]
            assert (window["start"], window["end"]) == \
                pytest.approx((float(plane.min()), float(plane.max())), rel=1e-6)
            assert window["end"] > 1.0  # never the 0..1 of a float type
