#!/usr/bin/env bash
# Set up the environment, then check everything: lint, then for each package on its own
# mypy --strict and its tests, then the app, then the cross-package tests, then each library
# installed from its wheel into a fresh virtual environment that holds only torch.
# A pytest run that collects no tests exits 5 and fails this script.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
bin="${MCE_VENV:-.venv}/bin"

step() { printf '\n== %s\n' "$*"; }

step "ruff"
"$bin/ruff" check .
"$bin/ruff" format --check .

for dir in packages/*/ apps/train/; do
    dir=${dir%/}
    targets=("$dir/src" "$dir/tests")
    [ -d "$dir/perf" ] && targets+=("$dir/perf")  # speed scripts: "benchmark" names a dataset of the paper
    step "$dir: mypy --strict"
    "$bin/mypy" --strict "${targets[@]}"
    step "$dir: pytest"
    "$bin/python" -m pytest -q "$dir/tests"
done

step "tests/: cross-package integration tests"
"$bin/python" -m pytest -q tests

for dir in packages/*/; do
    step "${dir%/}: wheel in a fresh virtual environment"
    bash scripts/check_isolated.sh "${dir%/}"
done
step "all checks passed"
