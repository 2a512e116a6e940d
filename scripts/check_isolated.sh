#!/usr/bin/env bash
# Prove a library stands alone: build its wheel, install it (with its test extra) into a fresh
# virtual environment that starts with torch only, and run its tests against that install.
# Usage: scripts/check_isolated.sh packages/<name>
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
package_dir=$(cd "$1" && pwd)
repo=$(pwd)
bin="$repo/${MCE_VENV:-.venv}/bin"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$bin/python" -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir "$work/dist" "$package_dir"
wheel=$(ls "$work"/dist/*.whl)
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check -c constraints.txt torch
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check -c constraints.txt "$wheel[test]"

module=$(basename "$package_dir" | tr - _)
if [ "$module" = mce_data ]; then  # the devkit pins numpy<2 yet runs with numpy 2 (see mce-data's README)
    "$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -c constraints.txt nuscenes-devkit
fi
cd "$work"
"$work/venv/bin/python" - "$module" <<'PY'
import importlib, importlib.util, sys
module = importlib.import_module(sys.argv[1])
assert "/venv/" in module.__file__, f"{sys.argv[1]} imported from {module.__file__}, not the fresh install"
others = {"mce_shapley", "mce_losses", "mce_recon", "mce_data", "mce_train"} - {sys.argv[1]}
leaked = sorted(name for name in others if importlib.util.find_spec(name) is not None)
assert not leaked, f"the fresh environment can import {leaked}: it is not isolated"
print(f"{sys.argv[1]} {module.__version__} imported from {module.__file__}")
PY
"$work/venv/bin/python" -m pytest -q -p no:cacheprovider -c "$repo/pyproject.toml" --rootdir "$package_dir" "$package_dir/tests"
