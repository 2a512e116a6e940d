"""The docstring examples and the README's training-loop example run as written."""

from __future__ import annotations

import doctest
import importlib
import re
from pathlib import Path

import pytest

MODULES = [
    "mce_losses",
    "mce_losses.factors",
    "mce_losses.capability",
    "mce_losses.scores",
    "mce_losses.subsets",
    "mce_losses.shapley",
    "mce_losses.losses",
    "mce_losses.ablation",
    "mce_losses.objective",
    "mce_losses.redcore",
    "mce_losses.redcore_projection",
    "mce_losses.vib",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


def test_readme_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 3
    assert all("'total'" in line and "B = " in line for line in printed)


def test_public_names_are_exported() -> None:
    module = importlib.import_module("mce_losses")
    for name in module.__all__:
        assert hasattr(module, name), name
