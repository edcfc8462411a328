#!/usr/bin/env bash
# Fresh-machine entry point: sets up .venv (Python 3.11, bpy, CPU torch) on first use, then
#   ./run.sh demo [ARGS]   runs the main job on built-in assets (see README)
#   ./run.sh test [ARGS]   runs the whole test suite (extra ARGS go to pytest)
#   ./run.sh setup         only sets up the environment
set -euo pipefail
cd "$(dirname "$0")"
VENV=.venv

find_python() {
  for py in "${POSETRAJ_PYTHON:-}" python3.11 python3; do
    [ -n "$py" ] || continue
    if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      echo "$py"; return 0
    fi
  done
  echo "error: CPython 3.11 is required (bpy 5.0 is built for it); set POSETRAJ_PYTHON to its path" >&2
  return 1
}

setup() {
  local stamp="$VENV/.posetraj-installed" want
  want=$(cat pyproject.toml run.sh | sha256sum | cut -c1-16)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup] creating $VENV" >&2
    "$(find_python)" -m venv "$VENV"
  fi
  local pip="$VENV/bin/python -m pip --disable-pip-version-check"
  # torch first and pinned, so that no later requirement can pull the multi-GB CUDA build.
  if ! "$VENV/bin/python" -c 'import torch' >/dev/null 2>&1; then
    echo "[setup] installing torch==2.13.0 (CPU build where one is available)" >&2
    $pip install -q ${POSETRAJ_TORCH_INDEX:+--index-url "$POSETRAJ_TORCH_INDEX"} torch==2.13.0
  fi
  echo "[setup] installing posetraj with its render, train, catalog, farm, app and dev extras (bpy is ~400 MB)" >&2
  $pip install -q -e ".[render,train,catalog,farm,app,dev]"
  echo "$want" > "$stamp"
}

# The leaderboard's and the app's browser tests need Chromium (the app's drives it with playwright, which
# uses this system browser and downloads none); as root on Debian/Ubuntu, install it.
test_tools() {
  command -v chromium >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[setup] installing chromium for the leaderboard's and the app's browser tests" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "[setup] chromium not found: the headless-browser test will be skipped" >&2
  fi
}

cmd=${1:-help}; shift || true
case "$cmd" in
  setup) setup ;;
  demo)  setup; exec "$VENV/bin/posetraj" demo "$@" ;;
  test)  setup; test_tools; export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONUNBUFFERED=1
         exec "$VENV/bin/python" -m pytest -q "$@" ;;
  *) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; [ "$cmd" = help ] ;;
esac
