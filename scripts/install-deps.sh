#!/usr/bin/env bash
# Installs what czifs needs to build, run and test (Debian 12, as root).
# Idempotent: does nothing when everything is already there.
set -euo pipefail
PACKAGES=(
  cmake ninja-build g++ pkg-config git
  libfuse3-dev fuse3 libzstd-dev libtiff-dev libspdlog-dev libpugixml-dev
  libjxr-dev libturbojpeg0-dev libjpeg62-turbo-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev libfmt-dev clang-format
  python3 python3-pytest python3-numpy python3-tifffile procps
  clang libclang-rt-14-dev man-db
  imagej default-jre-headless xvfb xauth python3-pandas systemd
)
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
