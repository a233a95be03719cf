"""`czifs export` over the real corpus: golden pixels, names, sizes, calibration."""
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
    tifs = {str(p.relative_to(root)) for p in root.rglob("*.tif") if p.name != "hyperstack.tif"}
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
