"""A benchmark's recipe: every setting it trains with, where each value comes from, and how to override it.

A :class:`Recipe` holds sections of named values:

* ``schedule``: the optimiser and its schedule (:class:`~mce_train.schedule.Schedule`'s fields), in steps;
* ``model``: the benchmark network's sizes (widths, dropout, the completion module);
* ``unimodal``: how the frozen unimodal models behind MCE's U (Eq. 6) train (to convergence, with early
  stopping on validation);
* one section per method whose hyperparameters the benchmark sets (e.g. ``mce``: ``lambdas``).

Each value remembers its source (a paper table, an official repository, or "ours" for settings beyond the
paper), printed by ``python apps/train/run.py --show-recipe``. Overrides come from a TOML file
(``--config``, stdlib :mod:`tomllib`) and then the command line: flags beat the file, the file beats the
defaults, and an unknown section or key is an error that lists the known ones.

>>> recipe = Recipe.of({"schedule": {"lr": From(1e-3, "Table 1"), "steps": 10}})
>>> recipe.override({"schedule": {"steps": 20}}, "--config run.toml").section("schedule")["steps"]
20
>>> recipe.override({"schedule": {"lr": 1e-4}}, "cli").source("schedule.lr")
'cli'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

Sections = Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class From:
    """A recipe value and where it comes from: ``From(2e-4, "MCE paper, Table 1")``."""

    value: Any
    source: str


def _same_kind(default: Any, value: Any) -> bool:
    """Whether ``value`` may replace ``default``: the same type, an int for a float, a list for a tuple."""
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if isinstance(default, (tuple, list)):
        return isinstance(value, (tuple, list)) and len(value) == len(default)
    if default is None:
        return True
    return isinstance(value, type(default))


@dataclass(frozen=True)
class Recipe:
    """Sections of settings and the source of each (``"section.key" -> source``)."""

    sections: Sections
    sources: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, sections: Sections) -> Recipe:
        """A recipe from ``{section: {key: From(value, source) or value}}`` (a bare value's source is "ours")."""
        values: dict[str, dict[str, Any]] = {}
        sources: dict[str, str] = {}
        for name, entries in sections.items():
            values[name] = {}
            for key, entry in entries.items():
                values[name][key] = entry.value if isinstance(entry, From) else entry
                sources[f"{name}.{key}"] = entry.source if isinstance(entry, From) else "ours"
        return cls(values, sources)

    def section(self, name: str) -> dict[str, Any]:
        """A copy of one section (empty when the recipe has none of that name)."""
        return dict(self.sections.get(name, {}))

    def source(self, key: str) -> str:
        """Where ``"section.key"``'s value comes from (``"ours"`` when no source was recorded)."""
        return self.sources.get(key, "ours")

    def override(self, updates: Sections, source: str, *, new_sections: tuple[str, ...] = ()) -> Recipe:
        """This recipe with ``updates`` applied, each changed value sourced to ``source``.

        Args:
            updates: ``{section: {key: value}}``.
            source: what the new values say they come from (``"--config FILE"``, ``"command line"``).
            new_sections: sections ``updates`` may create (a method's options, which have defaults of their
                own); any other unknown section, and any unknown key, is a ``ValueError``.
        """
        sections = {name: dict(values) for name, values in self.sections.items()}
        sources = dict(self.sources)
        for name, values in updates.items():
            if not isinstance(values, Mapping):
                raise ValueError(f"{source}: [{name}] must be a table of settings; got {values!r}")
            if name not in sections and name not in new_sections:
                known = sorted({*sections, *new_sections})
                raise ValueError(f"{source}: unknown section [{name}]; expected one of {known}")
            target = sections.setdefault(name, {})
            for key, value in values.items():
                if name in self.sections and key not in target:
                    raise ValueError(f"{source}: unknown key {name}.{key}; [{name}] has {sorted(target)}")
                if key in target and not _same_kind(target[key], value):
                    raise ValueError(
                        f"{source}: {name}.{key} must be like {target[key]!r} ({type(target[key]).__name__}); "
                        f"got {value!r}"
                    )
                target[key] = tuple(value) if isinstance(value, list) else value
                sources[f"{name}.{key}"] = source
        return Recipe(sections, sources)

    def show(self) -> str:
        """One line per value, ``section.key = value  # source``, sections in order."""
        lines = []
        for name, values in self.sections.items():
            if not values:
                continue
            lines.append(f"[{name}]")
            width = max((len(key) for key in values), default=0)
            lines.extend(
                f"{key:<{width}} = {value!r}  # {self.source(f'{name}.{key}')}" for key, value in values.items()
            )
            lines.append("")
        return "\n".join(lines).rstrip()

    def as_dict(self) -> dict[str, Any]:
        """``{"sections": ..., "sources": ...}`` for ``results.json``."""
        return {"sections": {k: dict(v) for k, v in self.sections.items()}, "sources": dict(self.sources)}


def read_config(path: Path) -> dict[str, dict[str, Any]]:
    """The sections of a TOML file (``--config``), with a clear error for an unreadable or malformed one."""
    try:
        with path.open("rb") as file:
            loaded = tomllib.load(file)
    except OSError as error:
        raise ValueError(f"--config {path}: cannot read it ({error.strerror or error})") from error
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"--config {path}: not valid TOML ({error})") from error
    bad = [name for name, values in loaded.items() if not isinstance(values, dict)]
    if bad:
        raise ValueError(f"--config {path}: settings belong in [sections]; found top-level {bad}")
    return loaded
