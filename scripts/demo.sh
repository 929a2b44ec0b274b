#!/usr/bin/env bash
# The main job: set-up and build (scripts/setup.sh), then `tilesparse demo`: train the
# dense 784-1024-1024-10 MLP on Fashion-MNIST, prune fc1 and fc2 to TW (G = 128) at 75%
# in two stages with fine-tuning, print dense vs pruned test accuracy and bytes, save
# the pruned model and check it with `tilesparse inspect --check`.
#
# Arguments go to `tilesparse demo`, e.g. `bash scripts/demo.sh --pattern nm --n 2 --m 4`.
# Cheap to run again: set-up installs nothing new, the build is incremental, and the
# dense MLP is cached in $BUILD_DIR/demo/ so a second run skips the dense training.
# The cache is not used when an argument changes the dense model (--data, --hidden,
# --epochs, --lr, --batch, --seed), since it would not match.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
build=${BUILD_DIR:-build}
work="$build/demo"
mkdir -p "$work"

cache=(--dense "$work/dense-mlp.safetensors")
save=(--save "$work/pruned.safetensors")
for arg in "$@"; do
  case "$arg" in
    --data | --data=* | --hidden | --hidden=* | --epochs | --epochs=* | --lr | --lr=* | --batch | --batch=* | \
      --seed | --seed=*) cache=() ;;
    --dense | --dense=*) cache=() ;;  # the caller's own cache
    --save | --save=*) save=() ;;     # the caller's own output
  esac
done

"$build/tilesparse" demo "${cache[@]}" "${save[@]}" "$@"
if ((${#save[@]})); then
  echo
  "$build/tilesparse" inspect --check "$work/pruned.safetensors"
fi
