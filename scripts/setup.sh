#!/usr/bin/env bash
# Create or refresh the development virtual environment (default .venv; override with MCE_VENV).
# Re-installs only when requirements-dev.txt, constraints.txt, a pyproject.toml or a version (__about__.py) changed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

venv="${MCE_VENV:-.venv}"
python="${PYTHON:-python3}"
stamp="$venv/.requirements.sha256"
want=$(cat requirements-dev.txt constraints.txt packages/*/pyproject.toml apps/*/pyproject.toml packages/*/src/*/__about__.py apps/*/src/*/__about__.py | sha256sum | cut -d' ' -f1)

if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup: installing the development environment into $venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
    # nuscenes-devkit pins numpy<2 yet runs with numpy 2; its imports come with mce-data[nuscenes].
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -c constraints.txt nuscenes-devkit
    echo "$want" > "$stamp"
fi
