"""The two ways of drawing a presence matrix from per-modality missing rates (numpy, seeded).

* ``"counts"`` (RedCore / MMIN): modality ``m`` is missing in exactly ``k_m = floor(r_m * N + 0.5)``
  samples, chosen uniformly at random and independently per modality.
* ``"combinations"`` (PASSION): each presence pattern ``c`` (a subset of the modalities) gets an exact
  count: its probability under independent per-modality dropping, ``p(c) = prod_m (1 - r_m if m in c
  else r_m)``, with the all-missing pattern rejected (``p`` renormalised over the non-empty patterns)
  when all-missing samples are redrawn, times ``N``, rounded by largest remainder so the counts sum to
  ``N``; the patterns are then dealt to samples by a seeded permutation.

What happens to a sample whose every modality is missing is the ``all_missing`` choice:

* ``"redraw"``: ``"counts"`` style repairs such rows by *swapping*: each all-missing row takes one
  present cell (modality ``m``) from a random other row that keeps at least one modality, so every
  per-modality count stays exactly ``k_m`` (tolerance 0). This needs ``sum_m (N - k_m) >= N`` (enough
  present cells for one per sample); otherwise a ``ValueError`` says so. ``"combinations"`` style
  gives the all-missing pattern probability 0 (rejection), so its per-modality missing fractions are
  below the nominal rates (by exactly the renormalisation).
* ``"exclude"``: rows are drawn as if all-missing were allowed and the all-missing ones are dropped
  from the mask; the per-modality counts ``k_m`` then hold over the original ``N`` ids.

>>> import numpy as np
>>> present = draw_counts(10, (0.5, 0.2), np.random.default_rng(0), redraw=True)
>>> (~present).sum(axis=0).tolist(), bool(present.any(axis=1).all())
([5, 2], True)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

BoolArray = NDArray[np.bool_]


def check_rates(rates: Sequence[float], n_modalities: int) -> tuple[float, ...]:
    """Validate missing rates: one per modality, each a finite number in ``[0, 1)``."""
    if isinstance(rates, (str, bytes)) or not isinstance(rates, Sequence):
        raise TypeError(f"rates must be a sequence of floats, one per modality; got {type(rates).__name__}")
    if len(rates) != n_modalities:
        raise ValueError(f"expected {n_modalities} missing rates (one per modality), got {len(rates)}: {list(rates)}")
    checked = []
    for index, rate in enumerate(rates):
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating, np.integer)):
            raise TypeError(f"rate {index} must be a float in [0, 1), got {rate!r} ({type(rate).__name__})")
        value = float(rate)
        if not (0.0 <= value < 1.0):
            raise ValueError(f"rate {index} must be in [0, 1) (a modality cannot be missing everywhere), got {rate!r}")
        checked.append(value)
    return tuple(checked)


def missing_counts(n_samples: int, rates: Sequence[float]) -> list[int]:
    """``k_m = floor(r_m * N + 0.5)``: the exact number of samples missing modality ``m`` (round half up).

    >>> missing_counts(10, (0.25, 0.35, 0.0))
    [3, 4, 0]
    """
    return [math.floor(rate * n_samples + 0.5) for rate in rates]


def draw_counts(n_samples: int, rates: Sequence[float], rng: np.random.Generator, *, redraw: bool) -> BoolArray:
    """``"counts"`` style: ``present: Bool[N, M]`` with exactly ``k_m`` missing per modality (module doc)."""
    n_mod = len(rates)
    counts = missing_counts(n_samples, rates)
    present = np.ones((n_samples, n_mod), dtype=bool)
    for m, k in enumerate(counts):
        present[rng.permutation(n_samples)[:k], m] = False
    if not redraw:
        return present
    total_present = n_samples * n_mod - sum(counts)
    if total_present < n_samples:
        raise ValueError(
            f"rates {list(rates)} leave {total_present} present cells for {n_samples} samples: with exact per-modality "
            f"counts some sample must miss every modality (needs sum(1 - rate) >= 1, got {n_mod - sum(rates):.3f}); "
            f"use all_missing='exclude' or style='combinations'"
        )
    dead = np.flatnonzero(~present.any(axis=1))
    if dead.size == 0:
        return present
    # Each row keeps one random present cell; its other present cells are "spare" and may be given away.
    priority = rng.random((n_samples, n_mod))
    priority[~present] = -1.0
    keep = priority.argmax(axis=1)
    spare = present.copy()
    spare[np.arange(n_samples), keep] = False
    cells = np.argwhere(spare)
    chosen = cells[rng.choice(len(cells), size=dead.size, replace=False)]
    receivers = rng.permutation(dead)
    present[chosen[:, 0], chosen[:, 1]] = False
    present[receivers, chosen[:, 1]] = True
    return present


def patterns(n_modalities: int) -> BoolArray:
    """All ``2^M`` presence patterns as ``Bool[2^M, M]``, all-missing first (``itertools.product`` order)."""
    return np.array(list(itertools.product([False, True], repeat=n_modalities)), dtype=bool).reshape(-1, n_modalities)


def pattern_counts(n_samples: int, rates: Sequence[float], *, redraw: bool) -> NDArray[np.int64]:
    """``Long[2^M]``: the exact number of samples given each pattern of :func:`patterns` (largest remainder).

    >>> pattern_counts(100, (0.5, 0.5), redraw=True).tolist()   # patterns: none, 2nd only, 1st only, both
    [0, 33, 33, 34]
    """
    table = patterns(len(rates))
    rate = np.asarray(rates, dtype=np.float64)
    prob = np.where(table, 1.0 - rate, rate).prod(axis=1)
    if redraw:
        prob[0] = 0.0
        prob = prob / prob.sum()
    expected = prob * n_samples
    counts: NDArray[np.int64] = np.floor(expected).astype(np.int64)
    short = n_samples - int(counts.sum())
    if short:
        # Largest fractional part first; ties go to the pattern with more modalities present (later index).
        order = np.lexsort((-np.arange(len(expected)), -(expected - counts)))
        counts[order[:short]] += 1
    return counts


def draw_combinations(n_samples: int, rates: Sequence[float], rng: np.random.Generator, *, redraw: bool) -> BoolArray:
    """``"combinations"`` style: exact per-pattern counts dealt to samples by a seeded permutation."""
    counts = pattern_counts(n_samples, rates, redraw=redraw)
    rows = np.repeat(patterns(len(rates)), counts, axis=0)
    return rows[rng.permutation(n_samples)]
