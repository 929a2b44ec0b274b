#!/usr/bin/env bash
# One device round on a GPU machine (DESIGN.md §7): configure and build in Release for
# sm_90a, run every test (GPU conformance tests included), run a benchmark subset, and
# leave logs and JSON lines under $OUT (default ./out).
#
#   OUT=out COMMIT=$(git rev-parse --short HEAD) bash scripts/gpu-check.sh
#
# Environment: BUILD_DIR (default build-device), CUDA_ARCH (default 90a), BENCH_ARGS
# (tilesparse-bench arguments; default a small subset), BENCH_PLAN (a file: each non-empty line
# not starting with # is one tilesparse-bench call's arguments, run in order instead of
# BENCH_ARGS, all appending to $OUT/bench.jsonl; e.g. bench/plans/tw_sweep.txt),
# BENCH_TIMEOUT seconds (default 240; per call of a plan),
# CTEST_TIMEOUT seconds for the whole suite (default 200), SKIP_TESTS=1 to go straight to
# the benchmark, DEPS_DIR (default .deps): header-only
# dependencies and a googletest source tree for machines without them (TILESPARSE_DEPS_DIR).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-out}
build=${BUILD_DIR:-build-device}
commit=${COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
bench_args=${BENCH_ARGS:---ids M1,M9,M17,M29,bert-base-ffn1-4096 --kernels cublas,cusparse-csr,cusparse-bsr,cusparselt-24}
mkdir -p "$out"
status=0

{ nvidia-smi; nvcc --version; cmake --version | head -1; } >"$out/env.txt" 2>&1

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if ! { cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DTILESPARSE_CUDA=ON \
         -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCH:-90a}" -DTILESPARSE_DEPS_DIR="${DEPS_DIR:-$PWD/.deps}" &&
       cmake --build "$build" -j"$(nproc)"; } >"$out/build.log" 2>&1; then
  echo "gpu-check: build FAILED"; tail -40 "$out/build.log"; exit 1
fi
grep "tilesparse:" "$out/build.log"

if [ -z "${SKIP_TESTS:-}" ]; then
  timeout "${CTEST_TIMEOUT:-200}" ctest --test-dir "$build" --output-on-failure -j"$(nproc)" --timeout 120 \
    >"$out/ctest.log" 2>&1 || status=1
  grep -E "tests passed|tests failed|\*\*\*Failed|\*\*\*Skipped|Not Run|Timeout" "$out/ctest.log" | head -40
  grep -c "Skipped" "$out/ctest.log" | sed 's/^/skipped tests: /'
fi

# The ceilings file is measured on the first run (when missing) and reused after.
: >"$out/bench.log"
run_bench() {
  echo "== tilesparse-bench $*" | tee -a "$out/bench.log"
  timeout "${BENCH_TIMEOUT:-240}" "$build/tilesparse-bench" --commit "$commit" \
    --out "$out/bench.jsonl" "$@" 2>&1 | tee -a "$out/bench.log"
  local rc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] || { echo "gpu-check: bench call exited $rc: $*" | tee -a "$out/bench.log"; status=1; }
}
if [ -n "${BENCH_PLAN:-}" ]; then
  [ -f "$BENCH_PLAN" ] || { echo "gpu-check: BENCH_PLAN '$BENCH_PLAN' is not a file"; exit 1; }
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in ''|'#'*) continue ;; esac
    # shellcheck disable=SC2086  # a plan line is a list of arguments
    run_bench $line </dev/null
  done <"$BENCH_PLAN"
else
  # shellcheck disable=SC2086
  run_bench $bench_args
fi
# The device's ceilings (bench/device_<model>.json), measured on its first bench call.
cp bench/device_*.json "$out/" 2>/dev/null
echo "gpu-check: done (status $status), results in $out"
exit $status
