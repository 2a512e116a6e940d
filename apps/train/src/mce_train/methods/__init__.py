"""The training methods, by name (``--methods``): one module (or folder) each, one registry.

A method is a :class:`~mce_train.methods.base.Method` subclass registered with :func:`register_method`
(the way timm registers models); the trainer, the CLI and the evaluation only ever see the registry.
Adding one is a new file here and one import line at the bottom of this module (see the app's README).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from mce_train.methods.base import Method, MethodContext, Option, PerSample, identity

METHODS: dict[str, type[Method]] = {}
"""Every registered method class by name, in registration order."""

_M = TypeVar("_M", bound=type[Method])


def register_method(name: str, *, paper: str, benchmarks: Iterable[str]) -> Callable[[_M], _M]:
    """Class decorator: register a :class:`Method` subclass under ``name``.

    Args:
        name: the ``--methods`` name (lower case, unique).
        paper: where the method comes from, for ``--list-methods``.
        benchmarks: the benchmarks it runs on.
    """

    def register(cls: _M) -> _M:
        if name in METHODS:
            raise ValueError(f"a method named {name!r} is already registered ({METHODS[name].__qualname__})")
        if not issubclass(cls, Method):
            raise TypeError(f"register_method needs a Method subclass; got {cls!r}")
        cls.name, cls.paper, cls.benchmarks = name, paper, frozenset(benchmarks)
        METHODS[name] = cls
        return cls

    return register


def get_method(name: str) -> type[Method]:
    """The method registered as ``name``, or an error listing the known ones."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; expected one of {', '.join(METHODS)}")
    return METHODS[name]


def method_table(benchmarks: Iterable[str]) -> str:
    """A markdown table: one row per method, ✓ under each benchmark it runs on, and its paper."""
    names = list(benchmarks)
    lines = [f"| method | {' | '.join(names)} | paper |", "| --- |" + " :-: |" * len(names) + " --- |"]
    for name, cls in METHODS.items():
        marks = " | ".join("✓" if cls.supports(b) else "" for b in names)
        lines.append(f"| {name} | {marks} | {cls.paper} |")
    return "\n".join(lines)


# The built-in methods, one line each: importing a module registers its method.
from mce_train.methods.baseline import Baseline  # noqa: E402
from mce_train.methods.mce import MCE  # noqa: E402
from mce_train.methods.redcore import RedCore  # noqa: E402

# isort: split
# The comparison methods of the paper's Tables 3-5 and Fig. 7, after the project's own, alphabetically
# (registration order is the order of --list-methods and of the tables).
from mce_train.methods.mbt_sample import MBTSample  # noqa: E402
from mce_train.methods.passion import PASSION  # noqa: E402
from mce_train.methods.pmr import PMR  # noqa: E402
from mce_train.methods.shaspec import ShaSpec  # noqa: E402
from mce_train.methods.smil import SMIL  # noqa: E402
from mce_train.methods.unimf import UniMF  # noqa: E402

__all__ = [
    "MCE",
    "METHODS",
    "PASSION",
    "PMR",
    "SMIL",
    "Baseline",
    "MBTSample",
    "Method",
    "MethodContext",
    "Option",
    "PerSample",
    "RedCore",
    "ShaSpec",
    "UniMF",
    "get_method",
    "identity",
    "method_table",
    "register_method",
]
