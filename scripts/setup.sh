#!/usr/bin/env bash
# Creates .venv and installs Persona Studio with every extra. Safe to run again: it skips what is done.
# torch is installed first as a CPU build (or the CUDA build a GPU image brings), so nothing pulls a
# multi-GB CUDA wheel by accident.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-}
if [ -z "$PYTHON" ] && [ ! -x .venv/bin/python ]; then
  for candidate in python3.13 python3.12 python3.11 python3; do
    if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then
      PYTHON=$candidate; break
    fi
  done
fi
if [ ! -x .venv/bin/python ]; then
  [ -n "$PYTHON" ] || { echo "Python 3.11 or newer is required" >&2; exit 1; }
  "$PYTHON" -m venv .venv
fi
VENV_PY=.venv/bin/python
EXTRAS=${STUDIO_EXTRAS:-bots,inference,dev}
TORCH_VERSION=2.13.0
# Browser tests drive Debian's chromium through Playwright (Playwright never downloads a browser here). It is
# installed where apt can be used; elsewhere the rest installs all the same and browser tests are skipped
# (outside CI).
if [[ "$EXTRAS" == *dev* ]] && [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1; then
  apt=""
  noninteractive="env DEBIAN_FRONTEND=noninteractive apt-get"
  if [ "$(id -u)" = 0 ]; then apt="$noninteractive"; elif sudo -n true 2>/dev/null; then apt="sudo $noninteractive"; fi
  if [ -n "$apt" ]; then
    $apt install -y chromium >/dev/null 2>&1 || { $apt update >/dev/null 2>&1 && $apt install -y chromium >/dev/null 2>&1; } \
      || echo "could not install chromium: the browser tests will be skipped" >&2
  else
    echo "chromium is missing and apt-get needs root: the browser tests will be skipped" >&2
  fi
fi
stamp=".venv/.studio-installed-$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)-$EXTRAS"
if [ -f "$stamp" ]; then
  exit 0
fi

"$VENV_PY" -m pip install --quiet --upgrade pip wheel setuptools
if [[ "$EXTRAS" == *inference* ]] && ! "$VENV_PY" -c "import torch" 2>/dev/null; then
  local_wheel=$(compgen -G "/opt/wheels/torch-${TORCH_VERSION}+cpu-*.whl" | head -n1 || true)
  if [ -n "$local_wheel" ]; then
    "$VENV_PY" -m pip install --quiet "$local_wheel"                      # a CPU wheel on this disk
  else
    "$VENV_PY" -m pip install --quiet "torch==$TORCH_VERSION" --index-url https://download.pytorch.org/whl/cpu
  fi
fi
"$VENV_PY" -m pip install --quiet -e ".[$EXTRAS]"
rm -f .venv/.studio-installed-*
touch "$stamp"
echo "installed Persona Studio into .venv ($EXTRAS)"
