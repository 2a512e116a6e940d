#!/usr/bin/env bash
# Set up the environment, then run the main job: python apps/train/run.py [arguments].
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec "${MCE_VENV:-.venv}/bin/python" apps/train/run.py "$@"
