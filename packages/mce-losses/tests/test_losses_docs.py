"""The docstring examples and the README's training-loop example run as written."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import mce_losses

MODULES = [
    "mce_losses",
    *sorted(
        info.name
        for info in pkgutil.walk_packages(mce_losses.__path__, "mce_losses.")
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
