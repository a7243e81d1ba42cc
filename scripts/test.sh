#!/usr/bin/env bash
# Installs (if needed) and runs the whole test suite: offline, CPU only.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/python -m pytest -q "$@"
