#!/usr/bin/env bash
# Fetch the wheels the GPU run needs into .whl/ and check them (see benchmarks/gpu/wheels.txt).
#
#   scripts/gpu_wheels.sh            where PyPI is reachable; then bring .whl/ along with the working tree
#
# 1. downloads each listed wheel for CPython 3.12 on manylinux x86_64 (no dependencies: the list is complete)
#    and removes wheels that are not listed;
# 2. checks that they take at most 48 MiB;
# 3. rehearses the run on this machine with the tiny models, tracing every import, and checks that each one
#    resolves against the standard library, the project, these wheels and what the GPU machine has;
# 4. with a Python 3.12 at hand ($PY312, else python3.12 on the PATH), installs the wheels into an empty
#    folder with it and imports them there, migrates a SQLite database, starts the embedded Redis and runs an
#    RQ job with nothing else on the path.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p .whl

mapfile -t PINS < <("$PYTHON" -c 'from benchmarks.gpu.wheels import read_list
for pin in read_list(): print(f"{pin.name}=={pin.version}")')
echo "downloading ${#PINS[@]} wheels into .whl/"
"$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux2010_x86_64 \
    -d .whl "${PINS[@]}"
"$PYTHON" -m benchmarks.gpu.wheels prune
"$PYTHON" -m benchmarks.gpu.wheels check

TRACE="$(mktemp -d "${TMPDIR:-/tmp}/gpu-trace-XXXXXX")"
trap 'rm -rf "$TRACE"' EXIT
echo "rehearsing the run on the CPU with the tiny models (a few minutes) to trace its imports"
if ! "$PYTHON" -m benchmarks.gpu.run --tiny --out "$TRACE/out" --trace-imports "$TRACE/imports" > "$TRACE/run.log"; then
    cat "$TRACE/run.log"
    echo "the rehearsal did not finish every stage: see the logs above" >&2
    exit 1
fi
"$PYTHON" -m benchmarks.gpu.imports --trace "$TRACE/imports"

PY312="${PY312:-$(command -v python3.12 || true)}"
if [ -n "$PY312" ]; then
    echo "installing the wheels into an empty folder with $PY312"
    "$PYTHON" -m benchmarks.gpu.wheels verify --python "$PY312"
else
    echo "no Python 3.12 here (set PY312): the install check into an empty 3.12 folder was skipped"
fi
