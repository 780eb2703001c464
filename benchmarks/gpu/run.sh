#!/usr/bin/env bash
# Every GPU figure in one run, on a CUDA machine that reaches nothing outside itself (see docs/BENCHMARKS.md).
#
#   bash benchmarks/gpu/run.sh          results in $OUT (default benchmarks/results/gpu): gpu.json, gpu.md, logs/
#
# Bring the working tree and .whl/ (made by scripts/gpu_wheels.sh). It checks the GPU first, installs the
# wheels into a temporary site folder (nothing is fetched) and runs the stages, each under its own time limit,
# 8 minutes in all. Without a CUDA device it stops at the check with exit status 3.
set -euo pipefail

STARTED=$(date +%s)
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
OUT="${OUT:-$ROOT/benchmarks/results/gpu}"
TOTAL_S="${STUDIO_GPU_RUN_S:-480}"
mkdir -p "$OUT"
export PYTHONPATH="$ROOT"

# The check needs only torch, so a machine without CUDA stops before anything is installed.
status=0
"$PYTHON" -m benchmarks.gpu.check_gpu --out "$OUT" || status=$?
if [ "$status" -ne 0 ]; then
    exit "$status"
fi

SITE="$(mktemp -d "${TMPDIR:-/tmp}/studio-gpu-site-XXXXXX")"
trap 'rm -rf "$SITE"' EXIT
"$PYTHON" -m benchmarks.gpu.wheels install --target "$SITE"
export PYTHONPATH="$SITE:$ROOT"

"$PYTHON" -m benchmarks.gpu.run --out "$OUT" --deadline-at "$((STARTED + TOTAL_S))"
