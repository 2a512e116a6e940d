"""Presence matrices from per-modality missing rates: the three styles times the three all-missing modes (numpy).

Styles (what is drawn):

* ``"counts"``: exact per-modality counts, drawn independently per modality (:mod:`mce_data.mask_draw`).
* ``"bernoulli"``: every cell independently, present with probability ``1 - r_m``; the counts vary by draw.
* ``"combinations"``: exact per-pattern counts of independent dropping (:mod:`mce_data.mask_patterns`).

All-missing modes (what happens to a sample drawn with no modality; the paper, Sec. 3.1, excludes such samples
from training, and ``"exclude"`` is every default):

* ``"exclude"``: draw as if all-missing rows were allowed, then drop them; the mask covers fewer ids
  (``n_excluded``), and ``"counts"``' exact counts hold over the original ``N``.
* ``"swap"``: keep every id and the per-modality missing counts: an all-missing row takes one present cell from
  another row (``"counts"``, ``"bernoulli"``: the counts drawn stay exact), or the all-missing pattern's share is
  fitted onto the others (``"combinations"``). Impossible with fewer present cells than samples: a ``ValueError``.
* ``"redraw"``: draw each all-missing row again, every cell independently present with probability ``1 - r_m``,
  until it is not empty, as PASSION does for its BraTS masks (Jun-Jie-Shi/PASSION
  ``code/preprocessing/generate_imb_mr.py``: ``while`` a row has no modality, each of its four cells is
  ``np.random.rand(1) > p[m]`` again). Every id is kept; the realised missing rates come out lower than asked.

With source availability (``available: Bool[N, M]``) cells the source lacks stay missing, draws and redraws
happen among the available cells, and a sample with no available modality is dropped (``"exclude"``) or a
``ValueError`` (``"swap"``, ``"redraw"``: no draw can keep it).

>>> import numpy as np
>>> rows = draw_presence("bernoulli", "redraw", 8, (0.5, 0.9), np.random.default_rng(0))
>>> rows.shape, bool(rows.any(axis=1).all())
((8, 2), True)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mce_data.mask_checks import ALL_MISSING, STYLES
from mce_data.mask_draw import ATTEMPTS, BoolArray, draw_counts, swap_restricted, swap_unrestricted
from mce_data.mask_patterns import draw_combinations


def draw_presence(
    style: str,
    all_missing: str,
    n_samples: int,
    rates: Sequence[float],
    rng: np.random.Generator,
    available: BoolArray | None = None,
) -> BoolArray:
    """``Bool[N, M]`` drawn in ``style`` with ``all_missing`` applied (module doc); within ``available`` if given.

    Under ``"exclude"`` the all-missing rows are still in the result (the caller drops them); under ``"swap"`` and
    ``"redraw"`` there are none. The same arguments and generator state give the same matrix.
    """
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, got {style!r}")
    if all_missing not in ALL_MISSING:
        raise ValueError(f"all_missing must be one of {ALL_MISSING}, got {all_missing!r}")
    swap = all_missing == "swap"
    if style == "counts":
        rows = draw_counts(n_samples, rates, rng, swap=swap, available=available)
    elif style == "combinations":
        rows = draw_combinations(n_samples, rates, rng, swap=swap, available=available)
    else:
        rows = draw_bernoulli(n_samples, rates, rng, available)
        if swap:
            rows = swap_bernoulli(rows, rates, rng, available)
    if available is not None:
        rows &= available
    if all_missing == "redraw":
        rows = redraw_empty_rows(rows, rates, rng, available)
    return rows


def draw_bernoulli(
    n_samples: int, rates: Sequence[float], rng: np.random.Generator, available: BoolArray | None = None
) -> BoolArray:
    """``"bernoulli"`` style: each (available) cell present independently with probability ``1 - r_m``."""
    cells: BoolArray = rng.random((n_samples, len(rates))) >= np.asarray(rates, dtype=np.float64)
    return cells if available is None else cells & available


def swap_bernoulli(
    present: BoolArray, rates: Sequence[float], rng: np.random.Generator, available: BoolArray | None = None
) -> BoolArray:
    """``"swap"`` for a Bernoulli draw: all-missing rows take present cells from other rows, so the drawn
    per-modality counts stay exact; a ``ValueError`` when the draw has fewer present cells than rows."""
    n_samples = present.shape[0]
    if int(present.sum()) < n_samples:
        raise ValueError(
            f"rates {list(rates)}: the Bernoulli draw left {int(present.sum())} present cells for {n_samples} "
            f"samples, too few to give every sample one by swapping; use all_missing='exclude' or 'redraw'"
        )
    if available is None or available.all():
        return swap_unrestricted(present, rng)
    for _ in range(ATTEMPTS):
        repaired = swap_restricted(present.copy(), rng, available)
        if repaired is not None:
            return repaired
    raise ValueError(
        f"with this availability, {ATTEMPTS} random deals could not give every sample a modality it has from "
        f"another sample's present cells; use all_missing='exclude' or 'redraw'"
    )


def redraw_empty_rows(
    present: BoolArray, rates: Sequence[float], rng: np.random.Generator, available: BoolArray | None = None
) -> BoolArray:
    """``"redraw"``: every all-missing row drawn again, each (available) cell present with probability ``1 - r_m``,
    until none is empty (in place; returned). Rows whose source has no modality are a ``ValueError``.

    All still-empty rows are redrawn together, in row order, one ``Float[rows, M]`` uniform draw per round.
    """
    dead = np.flatnonzero(~present.any(axis=1))
    if available is not None and not available[dead].any(axis=1).all():
        raise ValueError(
            f"{int((~available[dead].any(axis=1)).sum())} sample(s) have no modality available in the source, so "
            f"no redraw can give them one; use all_missing='exclude'"
        )
    rate = np.asarray(rates, dtype=np.float64)
    while dead.size:
        cells: BoolArray = rng.random((dead.size, rate.size)) >= rate
        if available is not None:
            cells &= available[dead]
        present[dead] = cells
        dead = dead[~cells.any(axis=1)]
    return present
