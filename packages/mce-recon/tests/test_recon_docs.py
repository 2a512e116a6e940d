"""The docstring examples and the README's example run as written."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import mce_recon

MODULES = [
    "mce_recon",
    *sorted(
        info.name
        for info in pkgutil.walk_packages(mce_recon.__path__, "mce_recon.")
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
