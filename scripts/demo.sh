#!/usr/bin/env bash
# The first minutes with czifs: installs what it needs to build and run,
# builds it (only what this demo runs), writes a sample CZI with the
# project's own writer, mounts it, and shows what to try next. Each step
# says what it does; a build error is printed in full.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
START=$SECONDS
step() { printf '\n== [%ds] %s\n' "$((SECONDS - START))" "$*"; }

step "1/5 Installing build dependencies (Debian packages; nothing to do if present)"
bash scripts/install-deps.sh

step "2/5 Building czifs, its JPEG-XR helper and the sample writer (ninja shows its progress)"
mkdir -p build
if ! cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCZIFS_BUILD_TESTS=OFF \
    >build/configure.log 2>&1; then
  cat build/configure.log
  echo "czifs demo: cmake could not configure the build (output above)" >&2
  exit 1
fi
cmake --build build --target czifs czifs-jxr-helper czi-synth

DEMO=$ROOT/build/demo
MNT=$DEMO/mnt
if grep -qs " $MNT " /proc/mounts; then fusermount3 -u "$MNT" || fusermount3 -uz "$MNT"; fi
rm -rf "$DEMO" && mkdir -p "$MNT"
step "3/5 Writing a sample CZI: 2 scenes of 2x2 overlapping zstd tiles, 2 channels, 5 Z, 3 time points 30 s apart, a half-size pyramid level"
./build/czi-synth "$DEMO/sample.czi" --pixel-type Gray16 --codec zstd1-hilo \
  --tile 256x256 --tiles 2x2 --scenes 2 --size C=2,Z=5,T=3 --pyramid 1 \
  --time-stamps 0,30,60
ls -l "$DEMO/sample.czi"

step "4/5 czifs inspect build/demo/sample.czi"
./build/czifs inspect "$DEMO/sample.czi"

if [ ! -e /dev/fuse ]; then
  step "5/5 No /dev/fuse here: writing the same tree with czifs export instead"
  ./build/czifs export "$DEMO/sample.czi" "$DEMO/out"
  echo "Try: ls -l $DEMO/out/S0/C1/T0/"
  exit 0
fi
step "5/5 Mounting: czifs build/demo/sample.czi build/demo/mnt (returns once the mount is ready)"
./build/czifs "$DEMO/sample.czi" "$MNT"
echo "\$ ls -l build/demo/mnt"
ls -l "$MNT"
echo "\$ ls -l build/demo/mnt/S1/C1/T2"
ls -l "$MNT/S1/C1/T2"
echo "One plane, decoded now, read with tifffile:"
/usr/bin/python3 - "$MNT/S1/C1/T2/Z3.tif" <<'PY'
import sys, tifffile
with tifffile.TiffFile(sys.argv[1]) as t:
    a = t.pages[0].asarray()
    xres = t.pages[0].tags["XResolution"].value
    print(f"  {sys.argv[1]}: {a.shape} {a.dtype}, {xres[0]/xres[1]:.3g} px/µm, "
          f"mean {a.mean():.1f}")
PY
cat <<EOT

Done in $((SECONDS - START)) s. czifs is serving build/demo/sample.czi on $MNT. Try:
  ls -lR $MNT | head                     # exact sizes, nothing decoded
  head -5 $MNT/planetable.csv             # one row per subblock
  cp -r $MNT/S0 /tmp/s0-planes            # copy planes as ordinary TIFFs
  cat $MNT/.czifs-stats                   # decode and cache counters (hidden file)
  imagej $MNT/S0/hyperstack.tif           # the scene as a C x Z x T hyperstack, 30 s per frame
                                          # (Debian's ImageJ: apt-get install imagej)
  fusermount3 -u $MNT                     # unmount

To have czifs on your PATH (with its man page and JPEG-XR helper):
  cmake --install build                   # into /usr/local; then: man czifs
EOT
