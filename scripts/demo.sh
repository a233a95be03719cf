#!/usr/bin/env bash
# Installs dependencies, builds czifs, writes a sample CZI with the project's
# own writer, mounts it, and shows what to try next.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
bash scripts/install-deps.sh
bash scripts/build.sh >/dev/null
DEMO=$ROOT/build/demo
MNT=$DEMO/mnt
if grep -qs " $MNT " /proc/mounts; then fusermount3 -u "$MNT" || fusermount3 -uz "$MNT"; fi
rm -rf "$DEMO" && mkdir -p "$MNT"
# Two scenes of 2x2 overlapping zstd tiles, 2 channels, 5 Z planes, 3 time
# points, and a pyramid level (half size) of every tile.
./build/czi-synth "$DEMO/sample.czi" --pixel-type Gray16 --codec zstd1-hilo \
  --tile 256x256 --tiles 2x2 --scenes 2 --size C=2,Z=5,T=3 --pyramid 1
echo "== czifs inspect build/demo/sample.czi"
./build/czifs inspect "$DEMO/sample.czi"
echo
if [ ! -e /dev/fuse ]; then
  echo "No /dev/fuse here: writing the same tree with czifs export instead."
  ./build/czifs export "$DEMO/sample.czi" "$DEMO/out"
  echo "Try: ls -l $DEMO/out/S0/C1/T0/"
  exit 0
fi
echo "== czifs build/demo/sample.czi build/demo/mnt"
./build/czifs "$DEMO/sample.czi" "$MNT"
echo "mounted (the command returned once the mount was ready)"
echo
echo "== ls -l build/demo/mnt  and  ls -l build/demo/mnt/S1/C1/T2"
ls -l "$MNT"
ls -l "$MNT/S1/C1/T2"
echo
echo "== one plane, decoded on demand and read with tifffile"
/usr/bin/python3 - "$MNT/S1/C1/T2/Z3.tif" <<'PY'
import sys, tifffile
with tifffile.TiffFile(sys.argv[1]) as t:
    a = t.pages[0].asarray()
    xres = t.pages[0].tags["XResolution"].value
    print(f"{sys.argv[1]}: {a.shape} {a.dtype}, {xres[0]/xres[1]:.3g} px/µm, "
          f"ImageJ: {t.imagej_metadata}")
PY
cat <<EOT

czifs is serving build/demo/sample.czi on $MNT. Try:
  ls -lR $MNT | head                      # exact sizes, nothing decoded
  head -5 $MNT/planetable.csv              # one row per subblock
  cp -r $MNT/S0 /tmp/s0-planes             # copy planes as ordinary TIFFs
  fiji $MNT/S0/C0/T0/Z2.tif                # or open a plane in any image tool
  fiji $MNT/S0/hyperstack.tif              # the whole scene as a C x Z x T hyperstack
  ls $MNT/tiles/S0/C0/T0/Z2/               # its raw tiles, stage position in each description
  fiji $MNT/pyramid/L1/S0/C0/T0/Z2.tif     # the file's own half-size pyramid level
  cat $MNT/.czifs-stats                    # decode and cache counters (hidden file)
  fusermount3 -u $MNT                      # unmount
EOT
