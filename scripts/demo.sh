#!/usr/bin/env bash
# Installs (if needed) and runs the demo: synthetic data -> tiny model -> SFT -> T-GRPO -> eval.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/video-r1 demo "$@"
