#!/usr/bin/env bash
# The test command: set-up and build (scripts/setup.sh), then every test through ctest.
# GPU tests report "Skipped" (not passed) on a machine without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j"$(nproc)" --timeout 900
