"""The two ways of drawing a presence matrix from per-modality missing rates (numpy, seeded).

* ``"counts"`` (RedCore / MMIN): modality ``m`` is missing in exactly ``k_m = floor(r_m * N + 0.5)``
  samples, chosen uniformly at random and independently per modality. (With redraw, when rounding
  half up leaves fewer present cells than samples although ``sum_m (1 - r_m) >= 1``, the counts that
  were rounded up go down by one, most rounded first, until one present cell per sample fits: (0.5,
  0.5) on 945 samples misses 472 and 473, not 473 and 473; see :func:`missing_counts`.)
* ``"combinations"`` (PASSION): each presence pattern ``c`` (a subset of the modalities) gets an exact
  count ``N * q(c)``, rounded by largest remainder so the counts sum to ``N``, and the patterns are dealt
  to samples by a seeded permutation. Without redraw, ``q`` is independent per-modality dropping,
  ``q(c) = prod_m (1 - r_m if m in c else r_m)``. With redraw the all-missing pattern gets ``q = 0``
  and the other ``2^M - 1`` probabilities are fitted by iterative proportional fitting (IPF), starting
  from independent dropping, so that the marginal missing rates still equal ``r_m`` (see
  :func:`fit_pattern_probabilities`); this needs ``sum_m (1 - r_m) >= 1``, else a ``ValueError``.

What happens to a sample whose every modality is missing is the ``all_missing`` choice:

* ``"redraw"``: ``"counts"`` style repairs such rows by *swapping*: each all-missing row takes one
  present cell (modality ``m``) from a random other row that keeps at least one modality, so every
  per-modality count stays exactly ``k_m`` (tolerance 0). This needs ``sum_m (N - k_m) >= N`` (enough
  present cells for one per sample), which :func:`missing_counts` ensures whenever ``sum_m (1 - r_m)
  >= 1``; below that a ``ValueError`` says so. ``"combinations"`` style
  never draws the all-missing pattern (its marginals are fitted, above).
* ``"exclude"``: rows are drawn as if all-missing were allowed and the all-missing ones are dropped
  from the mask; the per-modality counts ``k_m`` then hold over the original ``N`` ids.

Source availability (``available: Bool[N, M]``, a modality the source itself lacks is ``False``):
cells the source lacks are never drawn and stay missing. In ``"counts"`` style the ``k_m`` missing
cells of modality ``m`` are drawn among the samples that *have* ``m`` (so modality ``m`` ends up missing
in ``k_m`` plus its unavailable cells), and with redraw never from a sample whose only available
modality is ``m``; more than that is a ``ValueError``. In ``"combinations"`` style the drawn patterns
are dealt so that (with redraw) each sample's pattern keeps one of its available modalities, and its
row is the pattern AND its availability.

>>> import numpy as np
>>> present = draw_counts(10, (0.5, 0.2), np.random.default_rng(0), redraw=True)
>>> (~present).sum(axis=0).tolist(), bool(present.any(axis=1).all())
([5, 2], True)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

BoolArray = NDArray[np.bool_]
RatesLike = Sequence[float] | NDArray[Any] | torch.Tensor
"""Missing rates: a sequence of floats, a 1-D numpy array or a 1-D tensor."""


def check_rates(rates: RatesLike, n_modalities: int) -> tuple[float, ...]:
    """Validate missing rates: one per modality (a sequence, 1-D numpy array or tensor), each in ``[0, 1)``."""
    if isinstance(rates, torch.Tensor):
        rates = rates.detach().cpu().numpy()
    if isinstance(rates, np.ndarray):
        if rates.ndim != 1:
            raise ValueError(f"rates must be one-dimensional (one per modality), got shape {rates.shape}")
        if rates.dtype == np.bool_ or not np.issubdtype(rates.dtype, np.number):
            raise TypeError(f"rates must hold floats, got an array of {rates.dtype}")
        # float32/float16 values as their shortest decimal (0.35, not 0.3499999940395355)
        rates = [float(np.format_float_positional(r, unique=True, trim="0")) for r in rates]
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


def missing_counts(n_samples: int, rates: Sequence[float], *, redraw: bool = False) -> list[int]:
    """``k_m = floor(r_m * N + 0.5)``: the exact number of samples missing modality ``m`` (round half up).

    With ``redraw`` (every sample keeps a modality) and rates that allow it (``sum_m (1 - r_m) >= 1``),
    counts rounded up are lowered by one, the most rounded first, while the present cells
    ``sum_m (N - k_m)`` number fewer than ``N``: each count stays within one of ``r_m * N``.

    >>> missing_counts(10, (0.25, 0.35, 0.0))
    [3, 4, 0]
    >>> missing_counts(945, (0.5, 0.5)), missing_counts(945, (0.5, 0.5), redraw=True)
    ([473, 473], [473, 472])
    """
    counts = [math.floor(rate * n_samples + 0.5) for rate in rates]
    if not redraw or len(rates) - math.fsum(rates) < 1.0 - 1e-9:
        return counts
    rounded_up = sorted(
        (m for m, k in enumerate(counts) if k > rates[m] * n_samples), key=lambda m: counts[m] - rates[m] * n_samples
    )
    while n_samples * len(rates) - sum(counts) < n_samples and rounded_up:
        counts[rounded_up.pop()] -= 1
    return counts


def draw_counts(
    n_samples: int,
    rates: Sequence[float],
    rng: np.random.Generator,
    *,
    redraw: bool,
    available: BoolArray | None = None,
) -> BoolArray:
    """``"counts"`` style: ``present: Bool[N, M]`` with exactly ``k_m`` drawn missing per modality (module doc)."""
    if available is not None and not available.all():
        return _draw_counts_available(rates, rng, redraw, available)
    n_mod = len(rates)
    counts = missing_counts(n_samples, rates, redraw=redraw)
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


_ATTEMPTS = 64
"""Random orders tried before a draw restricted by availability is declared impossible: each try
fills rows greedily, and an unlucky order can strand a restricted row that another order serves."""


def _draw_counts_available(
    rates: Sequence[float], rng: np.random.Generator, redraw: bool, available: BoolArray
) -> BoolArray:
    """``"counts"`` style restricted to the available cells (module doc); the result is within ``available``."""
    n_samples = available.shape[0]
    counts = missing_counts(n_samples, rates, redraw=redraw)
    last = available.sum(axis=1) == 1  # a sample's last available modality is never drawn (redraw)
    for m, k in enumerate(counts):
        candidates = np.flatnonzero(available[:, m] & ~last) if redraw else np.flatnonzero(available[:, m])
        if k > candidates.size:
            also = " and another available modality" if redraw else ""
            raise ValueError(
                f"modality {m}: rate {rates[m]} asks for {k} of {n_samples} samples to miss it, but only "
                f"{candidates.size} have it available{also}; lower the rate or use all_missing='exclude'"
            )
    for _ in range(_ATTEMPTS):
        present = _try_counts_available(counts, rng, redraw, available, last)
        if present is not None:
            return present
    raise ValueError(
        f"with this availability, {_ATTEMPTS} random draws could not give every sample a modality without "
        f"breaking the exact per-modality counts {counts}; lower the rates or use all_missing='exclude'"
    )


def _try_counts_available(
    counts: list[int], rng: np.random.Generator, redraw: bool, available: BoolArray, last: BoolArray
) -> BoolArray | None:
    """One random draw of :func:`_draw_counts_available`; ``None`` when its greedy repair gets stuck."""
    n_samples, n_mod = available.shape
    present = available.copy()
    for m, k in enumerate(counts):
        candidates = np.flatnonzero(available[:, m] & ~last) if redraw else np.flatnonzero(available[:, m])
        present[candidates[rng.permutation(candidates.size)[:k]], m] = False
    if not redraw:
        return present
    dead = np.flatnonzero(~present.any(axis=1))
    if dead.size == 0:
        return present
    priority = rng.random((n_samples, n_mod))
    priority[~present] = -1.0
    spare = present.copy()
    spare[np.arange(n_samples), priority.argmax(axis=1)] = False
    # Samples with the fewest available modalities choose first (they have the fewest options).
    order = dead[np.lexsort((rng.random(dead.size), available[dead].sum(axis=1)))]
    for row in order:
        columns = np.flatnonzero(available[row] & spare.any(axis=0))
        if columns.size == 0:
            return None
        cells = np.argwhere(spare[:, columns])
        donor, column = cells[rng.integers(len(cells))]
        m = int(columns[column])
        spare[donor, m] = present[donor, m] = False
        present[row, m] = True
    return present


def patterns(n_modalities: int) -> BoolArray:
    """All ``2^M`` presence patterns as ``Bool[2^M, M]``, all-missing first (``itertools.product`` order)."""
    return np.array(list(itertools.product([False, True], repeat=n_modalities)), dtype=bool).reshape(-1, n_modalities)


def fit_pattern_probabilities(rates: Sequence[float], *, max_iter: int = 20_000) -> NDArray[np.float64]:
    """``Float[2^M]``: pattern probabilities with ``q(all missing) = 0`` and missing marginals exactly ``rates``.

    Iterative proportional fitting over the ``2^M - 1`` non-empty patterns of :func:`patterns`, from
    independent dropping: each sweep rescales, per modality, the patterns missing it to total ``r_m``
    and those having it to ``1 - r_m``. The fit is the distribution closest (in KL divergence) to
    independent dropping among those with the requested marginals. Raises a ``ValueError`` when none
    exists (``sum_m (1 - r_m) < 1``: on average less than one modality per sample).

    >>> [round(float(p), 6) for p in fit_pattern_probabilities((0.5, 0.5))]
    [0.0, 0.5, 0.5, 0.0]
    """
    rate = np.asarray(rates, dtype=np.float64)
    if float((1.0 - rate).sum()) < 1.0 - 1e-12:
        raise ValueError(
            f"rates {list(rates)}: no distribution over non-empty patterns has these missing rates (needs "
            f"sum(1 - rate) >= 1, got {float((1.0 - rate).sum()):.3f}); use all_missing='exclude'"
        )
    table = patterns(len(rate))
    if float((1.0 - rate).sum()) < 1.0 + 1e-9:  # the boundary: exactly one modality per sample
        return np.where(table.sum(axis=1) == 1, (table * (1.0 - rate)).sum(axis=1), 0.0)
    prob = np.where(table, 1.0 - rate, rate).prod(axis=1)
    prob[0] = 0.0
    prob /= prob.sum()
    error = np.inf
    for _ in range(max_iter):
        for m in range(len(rate)):
            missing = ~table[:, m]
            total = prob[missing].sum()
            prob[missing] = prob[missing] * (rate[m] / total) if total > 0 else 0.0
            prob[~missing] *= (1.0 - rate[m]) / prob[~missing].sum()
        error = float(np.abs((prob[:, None] * ~table).sum(axis=0) - rate).max())
        if error < 1e-13:
            break
    if error > 1e-4:  # counts are whole samples: 1e-4 is a sample in 10,000 (slow near sum(1 - r) = 1)
        raise ValueError(
            f"rates {list(rates)}: the pattern probabilities did not converge (marginal error {error:.2e})"
        )
    fitted: NDArray[np.float64] = prob
    return fitted


def pattern_counts(n_samples: int, rates: Sequence[float], *, redraw: bool) -> NDArray[np.int64]:
    """``Long[2^M]``: the exact number of samples given each pattern of :func:`patterns` (largest remainder).

    >>> pattern_counts(100, (0.2, 0.5), redraw=True).tolist()   # patterns: none, 2nd only, 1st only, both
    [0, 20, 50, 30]
    """
    table = patterns(len(rates))
    if redraw:
        prob = fit_pattern_probabilities(rates)
    else:
        prob = np.where(table, 1.0 - np.asarray(rates, dtype=np.float64), np.asarray(rates)).prod(axis=1)
    expected = prob * n_samples
    counts: NDArray[np.int64] = np.floor(expected + 1e-9).astype(np.int64)
    short = n_samples - int(counts.sum())
    if not short:
        return counts
    # Largest fractional part first; ties go to the pattern with more modalities present (later index).
    order = np.lexsort((-np.arange(len(expected)), -(expected - counts)))
    rounded = counts.copy()
    rounded[order[:short]] += 1
    wanted = np.asarray(missing_counts(n_samples, rates))
    if _marginal_gap(rounded, table, wanted) <= 1 or math.comb(int((expected > counts).sum()), short) > 50_000:
        return rounded
    # Rare: the largest remainder puts a modality's missing count more than 1 off round(r_m * N); take
    # the rounding (same floors, ``short`` patterns rounded up) with the smallest such gap instead.
    best = rounded, _marginal_gap(rounded, table, wanted)
    for ups in itertools.combinations([int(i) for i in order if expected[i] > counts[i]], short):
        trial = counts.copy()
        trial[list(ups)] += 1
        gap = _marginal_gap(trial, table, wanted)
        if gap < best[1]:
            best = trial, gap
    return best[0]


def _marginal_gap(counts: NDArray[np.int64], table: BoolArray, wanted: NDArray[Any]) -> int:
    """The largest ``|missing count of m - wanted_m|`` over the modalities, for per-pattern ``counts``."""
    return int(np.abs((counts[:, None] * ~table).sum(axis=0) - wanted).max())


def draw_combinations(
    n_samples: int,
    rates: Sequence[float],
    rng: np.random.Generator,
    *,
    redraw: bool,
    available: BoolArray | None = None,
) -> BoolArray:
    """``"combinations"`` style: exact per-pattern counts dealt to samples by a seeded permutation."""
    counts = pattern_counts(n_samples, rates, redraw=redraw)
    table = patterns(len(rates))
    if available is None or available.all():
        rows = np.repeat(table, counts, axis=0)
        return rows[rng.permutation(n_samples)]
    for _ in range(_ATTEMPTS):
        out = _try_deal_patterns(counts, table, rng, redraw, available)
        if out is not None:
            result: BoolArray = out & available
            return result
    raise ValueError(
        f"with this availability, {_ATTEMPTS} random deals of the pattern counts left some sample with no "
        f"pattern that keeps one of its available modalities; lower the rates or use all_missing='exclude'"
    )


def _try_deal_patterns(
    counts: NDArray[np.int64], table: BoolArray, rng: np.random.Generator, redraw: bool, available: BoolArray
) -> BoolArray | None:
    """Deal the pattern counts to rows, most restricted rows first; ``None`` when a row is left with none."""
    n_samples = available.shape[0]
    pool = counts.astype(np.float64)
    out = np.zeros_like(available)
    for row in np.lexsort((rng.random(n_samples), available.sum(axis=1))):
        weights = pool * ((table & available[row]).any(axis=1) if redraw else 1.0)
        if weights.sum() <= 0:
            return None
        chosen = rng.choice(len(pool), p=weights / weights.sum())
        pool[chosen] -= 1
        out[row] = table[chosen]
    return out
