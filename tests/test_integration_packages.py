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


def test_run_py_default_states_its_plan_and_exits_0(tmp_path: Path) -> None:
    environment = {**os.environ, "MCE_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, str(ROOT / "apps" / "train" / "run.py")],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "AudiovisionMNIST" in done.stdout
    assert "mnist MISSING, fsdd MISSING" in done.stdout
