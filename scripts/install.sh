#!/usr/bin/env bash
# Creates .venv (Python 3.11) and installs video-r1 with its dev tools into it.
# Idempotent: a second run only checks. torch goes first so the CPU wheel is taken.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check "torch==2.13.0" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[dev]" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import video_r1, torch; print('video-r1 installed; torch', torch.__version__)"
