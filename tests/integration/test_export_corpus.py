"""`czifs export` over the real corpus: golden pixels, names, sizes, calibration."""
import csv
import json
import pathlib

import numpy as np
import pytest
import tifffile

from conftest import golden_files, load_golden, plane_relpath, czi_order_md5, run

DTYPES = {"Gray8": ("uint8", None), "Gray16": ("uint16", None), "Gray32Float": ("float32", None),
          "Bgr24": ("uint8", 3), "Bgr48": ("uint16", 3), "Bgr96Float": ("float32", 3),
          "Bgra32": ("uint8", 4)}


@pytest.fixture(scope="module")
def exported(czifs, corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    r = run([czifs, "export", str(corpus), str(out)])
    assert r.returncode == 0, r.stderr
    return out


@pytest.mark.parametrize("golden_path", golden_files(), ids=lambda p: p.name[:-5])
def test_every_plane_matches_golden_md5_shape_and_calibration(exported, corpus, golden_path):
    g = load_golden(golden_path)
    root = exported / g["file"]
    info = json.loads((root / "info.json").read_text())
    px = info["pixel_size_um"]["x"]
    expected_paths = set()
    for plane in g["planes"]:
        rel = plane_relpath(g, plane)
        expected_paths.add(rel)
        path = root / rel
        assert path.is_file(), f"{g['file']}: missing {rel}"
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            arr = page.asarray()
            dtype, samples = DTYPES[plane["pixel_type"]]
            shape = (plane["height"], plane["width"]) + ((samples,) if samples else ())
            assert arr.shape == shape, rel
            assert arr.dtype == np.dtype(dtype), rel
            assert czi_order_md5(arr) == plane["md5"], f"{g['file']}: {rel} pixels differ"
            assert tif.is_imagej, rel
            # Calibrated only when the file says how large a pixel is: an
            # uncalibrated image must not claim 1 µm pixels.
            assert tif.imagej_metadata.get("unit") == ("micron" if px else None)
            if px:
                xres = page.tags["XResolution"].value
                assert xres[0] / xres[1] == pytest.approx(1.0 / px, rel=1e-6)
        if plane["empty"]:
            assert not arr.any()
    tifs = {str(p.relative_to(root)) for p in root.rglob("*.tif")
            if p.name != "hyperstack.tif" and not p.name.endswith(".ome.tif")
            and p.relative_to(root).parts[0] not in ("tiles", "pyramid")}
    assert tifs == expected_paths, f"{g['file']}: unexpected planes {tifs - expected_paths}"
    # attachments/: one file per attachment in info.json; JPEGs are JPEGs.
    names = sorted(p.name for p in (root / "attachments").iterdir()) \
        if (root / "attachments").is_dir() else []
    assert len(names) == len(info["attachments"]), names
    for n in names:
        assert "/" not in n and not n.startswith(".")
        if n.endswith(".jpg"):
            assert (root / "attachments" / n).read_bytes()[:2] == b"\xff\xd8", n
    # Each scene's hyperstack: its pages are the scene's planes, C fastest, then Z, then T.
    for entry in info["hyperstacks"]:
        if "unavailable" in entry:
            assert not (root / f"S{entry['scene']}" / "hyperstack.tif").exists()
            continue
        path = root / entry["file"]
        planes = sorted(
            (p for p in g["planes"] if p.get("S", 0) == entry["scene"]),
            key=lambda p: (p.get("T", 0), p.get("Z", 0), p.get("C", 0)))
        with tifffile.TiffFile(path) as tif:
            assert tif.is_imagej
            meta = tif.imagej_metadata
            assert meta["images"] == len(planes) == len(tif.pages)
            assert meta.get("channels", 1) == entry["channels"]
            assert meta.get("slices", 1) == entry["slices"]
            assert meta.get("frames", 1) == entry["frames"]
            for page, plane in zip(tif.pages, planes):
                assert czi_order_md5(page.asarray()) == plane["md5"], f"{path}: {plane}"


def test_export_writes_one_folder_per_czi_with_metadata_files(exported, corpus):
    for czi in sorted(corpus.glob("*.czi")):
        root = exported / czi.name
        assert (root / "info.json").is_file(), czi.name
        assert (root / "planetable.csv").is_file(), czi.name
        xml = (root / "metadata.xml").read_bytes()
        assert xml.startswith(b"<") or xml == b"", czi.name


@pytest.mark.parametrize("golden_path", golden_files(), ids=lambda p: p.name[:-5])
def test_tiles_drawn_in_order_at_their_positions_give_every_golden_plane(exported, golden_path):
    """tiles/: each layer-0 subblock as a TIFF whose description says where it
    lies; drawn in planetable order (M order) they must rebuild each plane."""
    g = load_golden(golden_path)
    root = exported / g["file"]
    rows = list(csv.DictReader((root / "planetable.csv").open()))
    info = json.loads((root / "info.json").read_text())
    if info["tiles"] == 0:
        # No tiles/ only when every tile is exactly its plane: one subblock
        # per plane covering the scene's box.
        assert not (root / "tiles").exists()
        for plane in g["planes"]:
            assert plane["subblocks"] == 1, (g["file"], plane)
        for r in rows:
            scene = next(s for s in g["scenes"] if s["S"] == int(r["S"]))
            assert (int(r["xstart"]), int(r["ystart"]), int(r["width"]), int(r["height"])) == \
                (scene["x"], scene["y"], scene["width"], scene["height"]), r
            assert r["tile"] == ""
        return
    by_plane = {}
    for r in rows:
        assert r["tile"].startswith("tiles/"), r
        by_plane.setdefault(r["plane"], []).append(r)
    assert len(list((root / "tiles").rglob("*.tif"))) == len(rows) == info["tiles"], g["file"]
    for plane in g["planes"]:
        rel = plane_relpath(g, plane)
        dtype, samples = DTYPES[plane["pixel_type"]]
        shape = (plane["height"], plane["width"]) + ((samples,) if samples else ())
        canvas = np.zeros(shape, dtype=dtype)
        # Drawing order: no M first, then ascending M, then file order.
        order = sorted(by_plane.get(rel, []), key=lambda r: (
            r["m_index"] != "", int(r["m_index"] or 0), int(r["subblock_index"])))
        for r in order:
            with tifffile.TiffFile(root / r["tile"]) as tif:
                tile = tif.pages[0].asarray()
                meta = tif.imagej_metadata
            assert meta["x_px"] == int(r["xstart"]) and meta["y_px"] == int(r["ystart"]), r
            assert meta["czi_subblock"] == int(r["subblock_index"]), r
            assert tile.shape[:2] == (int(r["height"]), int(r["width"])), r
            # Stage position: the planetable's (0.0 there when the file has none).
            stage_x = meta["stage_x_um"]
            assert (np.isnan(stage_x) and float(r["X[micron]"]) == 0.0) or \
                stage_x == pytest.approx(float(r["X[micron]"]), abs=1e-3), r
            x0, y0 = int(r["xstart"]) - plane["x"], int(r["ystart"]) - plane["y"]
            canvas[y0:y0 + tile.shape[0], x0:x0 + tile.shape[1]] = tile
        assert czi_order_md5(canvas) == plane["md5"], f"{g['file']}: {rel} from tiles"


def test_pyramid_level_of_a_real_file_is_the_plane_at_half_size(exported, corpus):
    """WellD6_S1.czi holds a ZEN pyramid level (downscale 2): served as
    pyramid/L1, half the plane's size, calibrated at twice the pixel size,
    and showing the same picture."""
    root = exported / "WellD6_S1.czi"
    info = json.loads((root / "info.json").read_text())
    assert info["pyramid"] == [{"level": 1, "factor": 2, "folder": "pyramid/L1"}]
    full = tifffile.imread(root / "S0/C0/T0/Z0.tif").astype(np.float64)
    with tifffile.TiffFile(root / "pyramid/L1/S0/C0/T0/Z0.tif") as tif:
        small = tif.pages[0].asarray().astype(np.float64)
        xres = tif.pages[0].tags["XResolution"].value
    assert small.shape == ((full.shape[0] + 1) // 2, (full.shape[1] + 1) // 2)
    assert xres[0] / xres[1] == pytest.approx(1.0 / (2 * info["pixel_size_um"]["x"]), rel=1e-6)
    # The same picture, at the same place: ZEN smooths before it subsamples,
    # so level pixel (i, j) follows the mean of the 3x3 full-resolution
    # pixels around (2i, 2j); shifted by one level pixel it does not.
    padded = np.pad(full, 1, mode="edge")
    box = np.lib.stride_tricks.sliding_window_view(padded, (3, 3)).mean(axis=(2, 3))
    expected = box[0::2, 0::2][:small.shape[0], :small.shape[1]]

    def corr(dy, dx):
        a = expected[2:-2, 2:-2]
        b = small[2 + dy:small.shape[0] - 2 + dy, 2 + dx:small.shape[1] - 2 + dx]
        return np.corrcoef(a.ravel(), b.ravel())[0, 1]
    assert corr(0, 0) > 0.9, corr(0, 0)
    for dy, dx in [(0, 1), (1, 0), (0, -1), (-1, 0)]:
        assert corr(dy, dx) < corr(0, 0) - 0.2, (dy, dx, corr(dy, dx))


def documented_planetable_read():
    """The usage guide's python-planetable recipe, as code to run on any path."""
    import test_docs
    return test_docs.recipes()["python-planetable"]


def test_every_planetable_has_one_dtype_per_column_when_read_as_documented(exported, corpus):
    import pandas as pd  # noqa: F401  (the recipe's)
    recipe = documented_planetable_read()
    seen = {}
    for table_path in sorted(exported.rglob("planetable.csv")):
        scope = {}
        exec(recipe.replace("/mnt/run42/planetable.csv", str(table_path)), scope)
        table = scope["table"]
        dtypes = tuple((c, str(t)) for c, t in table.dtypes.items())
        seen.setdefault(dtypes, []).append(table_path.parent.name)
        # Dimensions the file has carry numbers; the others are empty everywhere.
        g = json.loads((table_path.parent / "info.json").read_text())
        for d in "HIRVBA":
            assert table[d].isna().all() == (d not in g["dimensions"]), (table_path, d)
    assert len(seen) == 1, seen
    assert len(next(iter(seen.values()))) == len(list(corpus.glob("*.czi")))

