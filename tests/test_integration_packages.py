"""The monorepo's packages install side by side, stay independent, and the front door works."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from importlib.metadata import requires, version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARIES = {"mce-shapley": "mce_shapley", "mce-losses": "mce_losses", "mce-recon": "mce_recon", "mce-data": "mce_data"}


@pytest.mark.parametrize("distribution", sorted(LIBRARIES))
def test_libraries_do_not_depend_on_each_other(distribution: str) -> None:
    names = {re.split(r"[\s;<>=!\[~]", requirement, maxsplit=1)[0] for requirement in requires(distribution) or []}
    assert not names & set(LIBRARIES), f"{distribution} requires {sorted(names & set(LIBRARIES))}"


@pytest.mark.parametrize(("distribution", "module"), sorted(LIBRARIES.items()))
def test_each_version_has_one_source(distribution: str, module: str) -> None:
    about = (ROOT / "packages" / distribution / "src" / module / "__about__.py").read_text()
    declared = re.search(r'__version__ = "([^"]+)"', about)
    assert declared is not None
    assert version(distribution) == importlib.import_module(module).__version__ == declared.group(1)


def test_changelog_records_the_current_version() -> None:
    for distribution in LIBRARIES:
        changelog = (ROOT / "packages" / distribution / "CHANGELOG.md").read_text()
        assert f"## [{version(distribution)}]" in changelog, distribution


def test_run_py_composes_the_packages_end_to_end(tmp_path: Path) -> None:
    """The front door, as a user runs it (a smoke-size run on synthetic files): it trains both methods
    through all four packages, prints the per-subset table and writes its results."""
    environment = {**os.environ, "MCE_DATA_DIR": str(tmp_path / "no-data")}
    (tmp_path / "no-data").mkdir()
    out = tmp_path / "out"
    command = [sys.executable, str(ROOT / "apps" / "train" / "run.py"), "--quick", "--steps", "3", "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "SYNTHETIC AudiovisionMNIST" in done.stdout
    assert "| method | image | audio | image+audio | mean |" in done.stdout
    assert "| baseline |" in done.stdout
    assert "| mce |" in done.stdout
    assert (out / "results.json").is_file()


def test_readme_python_example_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    assert blocks, "the README lost its Python example"
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
