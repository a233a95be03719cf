#!/usr/bin/env bash
# Installs what czifs needs to build and run (Debian 12, as root); with
# --tests also what its tests and checks use.
# Idempotent: does nothing when everything is already there.
set -euo pipefail
# Build and run; python3-tifffile for the demo's look at one plane.
PACKAGES=(
  cmake ninja-build g++ pkg-config git
  libfuse3-dev fuse3 libzstd-dev libtiff-dev libspdlog-dev libpugixml-dev
  libjxr-dev libturbojpeg0-dev libjpeg62-turbo-dev libcli11-dev
  nlohmann-json3-dev libfmt-dev libxxhash-dev python3 python3-tifffile
)
if [ "${1:-}" = "--tests" ]; then
  PACKAGES+=(
    libgtest-dev libgmock-dev libbenchmark-dev clang-format clang libclang-rt-14-dev
    python3-pytest python3-numpy python3-pandas python3-pil libtiff-tools procps man-db rsync acl passwd
    python3-zarr python3-dask python3-distributed python3-jsonschema
    python3-openslide openslide-tools gdal-bin libvips-tools libxml2-utils
    imagej default-jre-headless xvfb xauth systemd
  )
fi
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "czifs: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
