"""The docstring examples and the README's example run as written (AVMNIST, masks, collate, download)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import mce_data

MODULES = [
    "mce_data",
    *sorted(
        info.name
        for info in pkgutil.walk_packages(mce_data.__path__, "mce_data.")
        if not info.name.endswith("__main__")
    ),
]
"""Every module of the package, found rather than listed: a new module's examples run without a change here."""


def _examples(name: str) -> int:
    return sum(len(test.examples) for test in doctest.DocTestFinder().find(importlib.import_module(name)))


@pytest.mark.parametrize("name", [name for name in MODULES if _examples(name)])
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


def test_readme_example_runs() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


def test_missing_extra_names_the_install_command() -> None:
    from mce_data._optional import require

    with pytest.raises(ImportError, match=r"pip install 'mce-data\[audio\]'"):
        require("librosa.no_such_submodule")


def test_data_dir_reads_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mce_data.paths import data_dir

    monkeypatch.setenv("MCE_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path
    monkeypatch.setenv("MCE_DATA_DIR", str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="nope"):
        data_dir()
    monkeypatch.delenv("MCE_DATA_DIR")
    assert data_dir() is None
    with pytest.raises(FileNotFoundError, match="MCE_DATA_DIR is not set"):
        data_dir(required=True)


def test_missing_soundfile_names_the_audio_extra_before_librosa_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    import numpy as np

    from mce_data.mfcc import librosa_mfcc

    monkeypatch.setitem(sys.modules, "soundfile", None)  # import soundfile now raises ImportError
    with pytest.raises(ImportError, match=r"soundfile is needed .* pip install 'mce-data\[audio\]'"):
        librosa_mfcc(np.zeros(800, dtype=np.float32), 20)


def test_missing_nuscenes_devkit_names_the_no_deps_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from mce_data._optional import require

    monkeypatch.setitem(sys.modules, "nuscenes", None)
    monkeypatch.setitem(sys.modules, "nuscenes.nuscenes", None)
    hint = "pip install --no-deps nuscenes-devkit==1.2.0 && pip install 'mce-data[nuscenes]'"
    with pytest.raises(ImportError, match=re.escape(hint)):
        require("nuscenes.nuscenes")


@pytest.mark.parametrize("writer", ["avmnist", "brats", "iemocap", "nuscenes"])
@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan"), "high"])
def test_every_generator_checks_informativeness_the_same_way(writer: str, bad: object, tmp_path: Path) -> None:
    import mce_data

    write = getattr(mce_data, f"write_synthetic_{writer}")
    key = {"avmnist": "audio", "brats": "t1", "iemocap": "visual", "nuscenes": "radar"}[writer]
    with pytest.raises(ValueError, match=rf"informativeness\['{key}'\] must be"):
        write(tmp_path, informativeness={key: bad})
    with pytest.raises(ValueError, match="informativeness keys must be among"):
        write(tmp_path, informativeness={"nope": 0.5})
    assert not any(tmp_path.iterdir())  # nothing written before the check
