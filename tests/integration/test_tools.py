"""The tools people open planes with: a real ImageJ (Debian's imagej, headless
under xvfb-run), tifffile and pandas, all reading from a live mount."""
import csv
import io
import json
import os
import shutil
import subprocess

import numpy as np
import pytest
import tifffile

from conftest import run, SLOWDOWN
from mounting import mounted, stats

# One file per pixel type ImageJ meets in practice.
FILES = ["CellDivision_T3_Z5_CH2_X240_Y170_comp1.czi",  # Gray16, zstd
         "RGB-8bit.czi",                                 # Bgr24, calibrated
         "f06_gray32f_zstd0.czi",                        # Gray32Float, Z spacing
         "f14_jxr_gray8.czi",                            # Gray8, JPEG-XR
         "f08_bgr48_unc.czi",                            # Bgr48
         "LLS7_small.czi"]                               # ZEN display ranges and colours

MACRO = r"""
paths = split(getArgument(), "|");
for (i = 0; i < paths.length; i++) {
  open(paths[i]);
  getVoxelSize(pw, ph, pd, unit);
  getDimensions(w, h, c, z, t);
  s = "RESULT " + paths[i] + " w=" + w + " h=" + h + " c=" + c + " bits=" + bitDepth() +
      " pw=" + d2s(pw, 9) + " pd=" + d2s(pd, 9) + " unit=" + unit + " v=";
  for (k = 0; k < 5; k++) {
    x = floor(w * k / 5); y = floor(h * (4 - k) / 5);
    s = s + d2s(getPixel(x, y), 4) + ",";
  }
  print(s);
  close();
}
"""


@pytest.fixture(scope="module")
def tools_mount(czifs, corpus, tmp_path_factory):
    src = tmp_path_factory.mktemp("tools") / "src"
    src.mkdir()
    for f in FILES:
        shutil.copy(corpus / f, src / f)
    mnt = src.parent / "mnt"
    with mounted(czifs, src, mnt):
        yield mnt


def need(tool):
    if shutil.which(tool):
        return
    msg = f"{tool} is not installed (scripts/install-deps.sh installs it)"
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


def run_imagej(tmp_path, macro_text, paths):
    """Runs a macro in a headless ImageJ with `paths` joined by '|' as its
    argument; returns the lines it printed after "RESULT " and the process."""
    need("imagej")
    need("xvfb-run")
    macro = tmp_path / "macro.ijm"
    macro.write_text(macro_text)
    r = subprocess.run(["xvfb-run", "-a", "imagej", "-b", str(macro), "|".join(map(str, paths))],
                       capture_output=True, text=True, timeout=90 * SLOWDOWN,
                       env=dict(os.environ, HOME=str(tmp_path)))
    return [l[len("RESULT "):] for l in r.stdout.splitlines() if l.startswith("RESULT ")], r


def first_plane(mnt, name):
    return sorted((mnt / name).rglob("*.tif"))[0]


def test_imagej_opens_planes_from_the_mount_with_size_depth_values_and_calibration(
        tools_mount, tmp_path):
    planes = [first_plane(tools_mount, f) for f in FILES]
    lines, r = run_imagej(tmp_path, MACRO, planes)
    results = {}
    for line in lines:
        path, *fields = line.split(" ")
        results[path] = dict(f.split("=", 1) for f in fields)
    assert len(results) == len(planes), r.stdout + r.stderr
    for plane in planes:
        got = results[str(plane)]
        info = json.loads((tools_mount / plane.relative_to(tools_mount).parts[0] / "info.json")
                          .read_text())
        arr = tifffile.imread(plane)
        h, w = arr.shape[:2]
        assert (int(got["w"]), int(got["h"])) == (w, h), plane
        if arr.ndim == 3 and arr.dtype == np.uint8:  # RGB opens as RGB
            assert got["bits"] == "24" and got["c"] == "1", got
        elif arr.ndim == 3:  # 16-bit RGB opens as a 3-channel 16-bit composite
            assert got["c"] == "3" and got["bits"] == "16", got
        else:
            assert got["bits"] == str(arr.dtype.itemsize * 8), got
        px = info["pixel_size_um"]["x"]
        if px:
            assert got["unit"] in ("micron", "microns", "µm"), got
            assert float(got["pw"]) == pytest.approx(px, rel=1e-6), got
        if info["pixel_size_um"].get("z") and px:
            assert float(got["pd"]) == pytest.approx(info["pixel_size_um"]["z"], rel=1e-6)
        values = [float(v) for v in got["v"].rstrip(",").split(",")]
        for k, v in enumerate(values):
            x, y = (w * k) // 5, (h * (4 - k)) // 5
            px_val = arr[y, x]
            if arr.ndim == 3 and arr.dtype == np.uint8:
                r_, g_, b_ = (int(c) for c in px_val[:3])
                packed = (r_ << 16) | (g_ << 8) | b_
                assert int(v) & 0xFFFFFF == packed, (plane, x, y)
            elif arr.ndim == 3:
                assert v == float(px_val[0]), (plane, x, y)  # the first channel
            else:
                assert v == pytest.approx(float(px_val), abs=1e-3), (plane, x, y)


def test_tifffile_reads_shape_dtype_resolution_and_imagej_metadata(tools_mount):
    for name in FILES:
        info = json.loads((tools_mount / name / "info.json").read_text())
        with tifffile.TiffFile(first_plane(tools_mount, name)) as t:
            assert t.is_imagej
            arr = t.asarray()
            assert arr.ndim in (2, 3) and arr.size > 0
            px = info["pixel_size_um"]["x"]
            if px:
                num, den = t.pages[0].tags["XResolution"].value
                assert num / den == pytest.approx(1 / px, rel=1e-6)
                assert t.imagej_metadata["unit"] == "micron"


def test_pandas_reads_planetable_csv(tools_mount):
    pd = pytest.importorskip("pandas") if not os.environ.get("CI") else __import__("pandas")
    for name in FILES:
        path = tools_mount / name / "planetable.csv"
        df = pd.read_csv(path)
        rows = list(csv.DictReader(io.StringIO(path.read_text())))
        assert len(df) == len(rows) > 0
        for col in ("Subblock", "S", "M", "T", "C", "Z", "X[micron]", "Y[micron]", "Time[s]",
                    "xstart", "ystart", "width", "height", "plane"):
            assert col in df.columns, col
        assert (df["width"] > 0).all() and (df["height"] > 0).all()
        # Every subblock row points at a plane file of the tree.
        for plane in df["plane"].dropna().unique():
            assert (tools_mount / name / plane).is_file(), plane


STACK_MACRO = r"""
open(getArgument());
getDimensions(w, h, c, z, t);
getVoxelSize(pw, ph, pd, unit);
Stack.setPosition(2, 4, 3);
print("RESULT w=" + w + " h=" + h + " c=" + c + " z=" + z + " t=" + t + " hs=" + Stack.isHyperstack +
      " pw=" + d2s(pw, 9) + " unit=" + unit + " v=" + getPixel(17, 23));
"""


def test_imagej_opens_a_scene_hyperstack_with_its_dimensions_and_calibration(tools_mount,
                                                                              tmp_path):
    name = "CellDivision_T3_Z5_CH2_X240_Y170_comp1.czi"  # C2 Z5 T3
    lines, r = run_imagej(tmp_path, STACK_MACRO, [tools_mount / name / "S0" / "hyperstack.tif"])
    assert lines, r.stdout + r.stderr
    got = dict(f.split("=", 1) for f in lines[0].split(" "))
    assert (got["c"], got["z"], got["t"], got["hs"]) == ("2", "5", "3", "1"), got
    assert (got["w"], got["h"]) == ("240", "170"), got
    # Channel 2, slice 4, frame 3 (1-based) is C1/T2/Z3.tif.
    plane = tifffile.imread(tools_mount / name / "S0" / "C1" / "T2" / "Z3.tif")
    assert float(got["v"]) == float(plane[23, 17]), got
    info = json.loads((tools_mount / name / "info.json").read_text())
    if info["pixel_size_um"]["x"]:
        assert float(got["pw"]) == pytest.approx(info["pixel_size_um"]["x"], rel=1e-6)


COLOR_MACRO = r"""
paths = split(getArgument(), "|");
for (i = 0; i < paths.length; i++) {
  open(paths[i]);
  getDimensions(w, h, c, z, t);
  for (k = 1; k <= c; k++) {
    if (c > 1) Stack.setChannel(k);
    getMinAndMax(lo, hi);
    getLut(r, g, b);
    label = replace(getInfo("slice.label"), " ", "_");
    print("RESULT " + i + " " + k + " composite=" + is("composite") + " min=" + lo + " max=" + hi +
          " lut=" + r[255] + "," + g[255] + "," + b[255] + " label=" + label);
  }
  close();
}
"""


def zen_display(mnt, name):
    """(low, high, colour) per channel from ZEN's DisplaySetting, in 16-bit values."""
    import xml.etree.ElementTree as ET
    root = ET.fromstring((mnt / name / "metadata.xml").read_bytes())
    out = []
    for ch in root.find("Metadata/DisplaySetting/Channels"):
        low = round(float(ch.findtext("Low", "0")) * 65535)
        high = round(float(ch.findtext("High", "1")) * 65535)
        rgb = int(ch.findtext("Color")[-6:], 16)
        out.append((low, high, (rgb >> 16, (rgb >> 8) & 255, rgb & 255)))
    return out


def test_imagej_shows_zen_display_ranges_and_channel_colours(tools_mount, tmp_path):
    """The hyperstack opens as a composite with each channel's ZEN display
    range and colour (ImageJ's own metadata tags); a plane opens with its
    channel's range (min=/max= in the description)."""
    name = "LLS7_small.czi"
    zen = zen_display(tools_mount, name)
    assert len(zen) == 2 and zen[0][:2] != (0, 65535)
    names = [c["name"] for c in json.loads((tools_mount / name / "info.json").read_text())["channels"]]
    paths = [tools_mount / name / "S0" / "hyperstack.tif", tools_mount / name / "S0/C1/T0/Z0.tif"]
    lines, r = run_imagej(tmp_path, COLOR_MACRO, paths)
    got = {}
    for line in lines:
        i, k, *fields = line.split()
        got[(int(i), int(k))] = dict(f.split("=", 1) for f in fields)
    assert len(got) == 3, r.stdout + r.stderr
    for c, (low, high, rgb) in enumerate(zen):
        ch = got[(0, c + 1)]
        assert ch["composite"] == "1", ch
        assert (float(ch["min"]), float(ch["max"])) == (low, high), (c, ch)
        assert ch["lut"] == ",".join(map(str, rgb)), (c, ch)
        assert ch["label"] == names[c].replace(" ", "_"), (c, ch)
    plane = got[(1, 1)]
    assert (float(plane["min"]), float(plane["max"])) == zen[1][:2], plane


def test_tifffile_reads_imagej_ranges_and_luts_of_the_hyperstack(tools_mount):
    name = "LLS7_small.czi"
    zen = zen_display(tools_mount, name)
    with tifffile.TiffFile(tools_mount / name / "S0" / "hyperstack.tif") as tif:
        meta = tif.imagej_metadata
    assert meta["Ranges"] == tuple(float(v) for low, high, _ in zen for v in (low, high))
    # Each page labelled with its channel's name (C fastest).
    names = [c["name"] for c in json.loads((tools_mount / name / "info.json").read_text())["channels"]]
    assert meta["Labels"] == [names[k % 2] for k in range(meta["images"])]
    for lut, (_, _, rgb) in zip(meta["LUTs"], zen):
        assert lut.shape == (3, 256)
        assert tuple(int(v) for v in lut[:, 255]) == rgb
        assert tuple(int(v) for v in lut[:, 0]) == (0, 0, 0)


TIME_MACRO = r"""
paths = split(getArgument(), "|");
for (i = 0; i < paths.length; i++) {
  open(paths[i]);
  Stack.getUnits(x, y, z, time, value);
  getDimensions(w, h, c, s, f);
  print("RESULT " + i + " frames=" + f + " finterval=" + d2s(Stack.getFrameInterval(), 6) +
        " tunit=" + time);
  close();
}
"""


def test_imagej_reads_the_frame_interval_of_time_series_hyperstacks(czifs, czi_synth, corpus,
                                                                    tmp_path):
    """Speeds and rates measured in Fiji need the time between frames: from
    ZEN's interval, the TimeStamps attachment, or, for a file we wrote, the
    time stamps we gave it."""
    src = tmp_path / "src"
    src.mkdir()
    expected = {"CellDivision_T3_Z6_CH1_X300_Y200_DCV_ZSTD.czi": 60.0,  # ZEN's interval
                "Airyscan.czi": None,                                  # TimeStamps attachment
                "timed.czi": 33.4}                                     # written below
    for name in expected:
        if name != "timed.czi":
            shutil.copy(corpus / name, src / name)
    r = run([czi_synth, str(src / "timed.czi"), "--size", "T=2,Z=3", "--tile", "32x32",
             "--time-stamps", "1000,1033.4"])
    assert r.returncode == 0, r.stderr
    mnt = tmp_path / "mnt"
    with mounted(czifs, src, mnt):
        infos = {n: json.loads((mnt / n / "info.json").read_text()) for n in expected}
        # Airyscan's ZEN interval is 0 ("as fast as possible"): its stamps say 0.523 s.
        assert infos["Airyscan.czi"]["time"]["source"] == "the TimeStamps attachment"
        assert infos["Airyscan.czi"]["time"]["interval_s"] == pytest.approx(0.5233, abs=1e-3)
        expected["Airyscan.czi"] = infos["Airyscan.czi"]["time"]["interval_s"]
        names = list(expected)
        lines, r = run_imagej(tmp_path, TIME_MACRO,
                              [mnt / n / "S0" / "hyperstack.tif" for n in names])
    assert len(lines) == len(names), r.stdout + r.stderr
    for line in lines:
        i, *fields = line.split(" ")
        got = dict(f.split("=", 1) for f in fields)
        name = names[int(i)]
        assert int(got["frames"]) == infos[name]["time"]["frames"] > 1, (name, got)
        assert float(got["finterval"]) == pytest.approx(expected[name], abs=1e-5), (name, got)
        assert got["tunit"] == "sec", (name, got)


def test_a_file_without_timing_says_so_and_gets_no_frame_interval(czifs, czi_synth, tmp_path):
    czi = tmp_path / "one.czi"
    r = run([czi_synth, str(czi), "--size", "T=1,Z=2", "--tile", "32x32"])
    assert r.returncode == 0, r.stderr
    info = json.loads(run([czifs, "inspect", "--json", str(czi)]).stdout)
    assert info["time"] == {"frames": 1, "interval_s": None, "source": "one time point"}
    out = tmp_path / "o"
    assert run([czifs, "export", str(czi), str(out)]).returncode == 0
    with tifffile.TiffFile(out / "S0" / "hyperstack.tif") as t:
        assert "finterval" not in t.imagej_metadata


def first_pixel_offset(t):
    page = t.pages[0]
    return min(o for o, n in zip(page.dataoffsets, page.databytecounts) if n)


def test_reading_the_tags_of_every_tiff_in_the_corpus_decodes_only_small_images(
        czifs, corpus, tmp_path):
    """File browsers, `tiffinfo`, tifffile and PIL read headers first: the
    tags of every plane, tile, pyramid level and hyperstack of more than
    64 KiB of pixels come without decoding pixels (they sit before a gap
    the kernel's read-ahead does not cross). Images of at most 64 KiB have
    their pixels right after the tags (no 128 KiB of zeros in every copy):
    reading their tags may decode their own subblocks, once."""
    need("tiffinfo")
    from PIL import Image, UnidentifiedImageError
    mnt = tmp_path / "mnt"
    small = []
    with mounted(czifs, corpus, mnt):
        tiffs = sorted(mnt.rglob("*.tif"))
        kinds = {k: sum(f"/{k}/" in str(p) for p in tiffs) for k in ("tiles", "pyramid")}
        assert len(tiffs) > 300 and all(kinds.values()), (len(tiffs), kinds)
        pil_opened = 0
        for p in tiffs:
            before = stats(mnt)["decoded_subblocks"]
            with tifffile.TiffFile(p) as t:
                assert all(page.tags["ImageWidth"].value > 0 for page in t.pages), p
                inline = first_pixel_offset(t) < 128 << 10
            r = run(["tiffinfo", str(p)])
            assert r.returncode == 0 and "Image Width" in r.stdout, (p, r.stderr)
            try:
                with Image.open(p) as im:
                    assert im.size[0] > 0 and dict(im.tag_v2)
                    pil_opened += 1
            except UnidentifiedImageError:  # PIL has no mode for 48-bit colour or float RGB
                pass
            decoded = stats(mnt)["decoded_subblocks"] - before
            if inline:
                assert p.stat().st_size - first_pixel_offset(t) <= 64 << 10, p
                small.append(p)
            else:
                assert decoded == 0, f"reading the tags of {p} decoded {decoded} subblocks"
        assert small and len(small) < len(tiffs), len(small)
        # Each small image's subblocks were decoded once: read again, past
        # the kernel's copy, they come from czifs' cache.
        before = stats(mnt)["decoded_subblocks"]
        for p in small:
            with open(p, "rb") as f:
                os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
                tifffile.imread(f)
        assert stats(mnt)["decoded_subblocks"] == before
    assert pil_opened > len(tiffs) // 2
