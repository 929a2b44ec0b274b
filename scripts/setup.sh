#!/usr/bin/env bash
# Installs what the build needs (Debian packages), configures and builds tilesparse in
# build/. Cheap to run again: installs only what is missing, builds incrementally.
# Environment: TILESPARSE_CUDA=ON|OFF overrides CUDA detection; BUILD_DIR (default build).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake libgtest-dev libcli11-dev nlohmann-json3-dev zlib1g-dev libopenblas-dev dataset-fashion-mnist)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

build_dir=${BUILD_DIR:-build}
cuda_flag=()
[ -n "${TILESPARSE_CUDA:-}" ] && cuda_flag=(-DTILESPARSE_CUDA="$TILESPARSE_CUDA")
if [ ! -f "$build_dir/CMakeCache.txt" ] || [ -n "${TILESPARSE_CUDA:-}" ]; then
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release "${cuda_flag[@]}"
fi
cmake --build "$build_dir" -j"$(nproc)"
