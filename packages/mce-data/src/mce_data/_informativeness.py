"""The ``informativeness`` knob shared by the synthetic generators: one value in ``[0, 1]`` per modality."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def check_informativeness(
    informativeness: Mapping[str, float] | None, modalities: Sequence[str], default: Mapping[str, float]
) -> dict[str, float]:
    """Per modality, the knob's value: given values must be finite numbers in ``[0, 1]`` for known
    modalities (an unknown key is an error); modalities not given take ``default``.

    >>> check_informativeness({"y": 0.25}, ("x", "y"), {"x": 1.0, "y": 1.0})
    {'x': 1.0, 'y': 0.25}
    """
    values = {m: float(default[m]) for m in modalities}
    given = dict(informativeness or {})
    unknown = sorted(set(given) - set(modalities))
    if unknown:
        raise ValueError(f"informativeness keys must be among {tuple(modalities)}; got unknown {unknown}")
    for name, value in given.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"informativeness[{name!r}] must be a finite number in [0, 1], got {value!r}")
        if not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"informativeness[{name!r}] must be in [0, 1], got {value!r}")
        values[name] = float(value)
    return values
