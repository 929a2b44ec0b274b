#!/usr/bin/env bash
# The main job, for now: make a random 1024x1024 two-layer model, prune it to every
# pattern by magnitude, and check each result.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
ts=${BUILD_DIR:-build}/tilesparse
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$ts" generate "$work/model.safetensors" --layers 1024x1024 1024x1024 --seed 7
run() {
  echo; echo "== tilesparse convert ... $*"
  "$ts" convert "$work/model.safetensors" "$work/pruned.safetensors" "$@"
  "$ts" inspect --check "$work/pruned.safetensors" | tail -n 2
}
run --pattern ew --sparsity 0.75
run --pattern bw --sparsity 0.75 --bk 32 --bn 32
run --pattern nm --n 4 --m 16
run --pattern nm --n 1 --m 4 --unit vector --v 8
run --pattern 24 --dtype f16
run --pattern tw --sparsity 0.75 --g 128
run --pattern tew --sparsity 0.75 --g 128 --delta 0.05
echo; echo "== tilesparse inspect (last result)"
"$ts" inspect "$work/pruned.safetensors"
