#!/usr/bin/env bash
# Installs dependencies, builds czifs, writes a sample CZI with the project's
# own writer, and shows czifs at work on it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh >/dev/null
DEMO=build/demo
rm -rf "$DEMO" && mkdir -p "$DEMO"
# Two scenes of 2x2 overlapping zstd tiles, 2 channels, 5 Z planes, 3 time points.
./build/czi-synth "$DEMO/sample.czi" --pixel-type Gray16 --codec zstd1-hilo \
  --tile 256x256 --tiles 2x2 --scenes 2 --size C=2,Z=5,T=3
echo "== czifs inspect $DEMO/sample.czi"
./build/czifs inspect "$DEMO/sample.czi"
echo
echo "== czifs export $DEMO/sample.czi $DEMO/out"
./build/czifs export "$DEMO/sample.czi" "$DEMO/out"
echo
echo "== the tree (first lines)"
(cd "$DEMO/out" && find . -maxdepth 4 | sort | head -20)
echo "   ..."
echo
echo "== one plane, read back with tifffile"
/usr/bin/python3 - "$DEMO/out/S1/C1/T2/Z3.tif" <<'PY'
import sys, tifffile
with tifffile.TiffFile(sys.argv[1]) as t:
    a = t.pages[0].asarray()
    xres = t.pages[0].tags["XResolution"].value
    print(f"{sys.argv[1]}: {a.shape} {a.dtype}, {xres[0]/xres[1]:.3g} px/µm, "
          f"ImageJ: {t.imagej_metadata}")
PY
echo
echo "Try: ls -l $DEMO/out/S0/C0/T0/   or open a plane in Fiji."
