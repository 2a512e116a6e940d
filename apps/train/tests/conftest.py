"""Fixtures shared by the app's end-to-end tests."""

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for every run of a test module: they share the synthetic files and the caches."""
    return tmp_path_factory.mktemp("runs")


@pytest.fixture
def no_real_data(runs: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``$MCE_DATA_DIR`` set to an empty folder: the runs use synthetic files in the real layouts."""
    empty = runs / "no-data"
    empty.mkdir(exist_ok=True)
    monkeypatch.setenv("MCE_DATA_DIR", str(empty))
    return empty
