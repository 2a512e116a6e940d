"""The stub front door states its plan and its data folder, and exits 0."""

from pathlib import Path

import pytest

from mce_train.cli import main


def test_default_run_states_plan_and_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "mnist").mkdir()
    monkeypatch.setenv("MCE_DATA_DIR", str(tmp_path))
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "AudiovisionMNIST" in out
    assert "MCE and baseline" in out
    assert f"{tmp_path}" in out
    assert "mnist found, fsdd MISSING" in out
