"""The app's docstring examples run as written."""

import doctest
import importlib
import pkgutil

import pytest

import mce_train

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(mce_train.__path__, "mce_train.") if not info.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
