"""The ``"combinations"`` style: exact per-pattern counts dealt to samples by a seeded permutation (numpy).

Each presence pattern ``c`` (a subset of the modalities) gets an exact count ``N * q(c)``, rounded by largest
remainder so the counts sum to ``N``, and the patterns are dealt to samples by a seeded permutation. ``q`` is
independent per-modality dropping, ``q(c) = prod_m (1 - r_m if m in c else r_m)``, all-missing pattern included;
the all-missing rows are then excluded or redrawn (:mod:`mce_data.mask_modes`). This is the scheme of PASSION's
BraTS masks (Jun-Jie-Shi/PASSION ``code/preprocessing/generate_imb_mr.py``, ``imb_mr_split``: "i.i.d.-expected"
per-pattern counts, shuffled, all-missing rows redrawn) except for the rounding: PASSION truncates every
non-empty pattern's count (``int(N * q)``, raised to 1 when it is 0) and gives the leftover rows to the
all-missing pattern, so its all-missing share, and the redraws, are usually larger than ``q(none) * N``.

With ``swap`` (keep every id and the per-modality rates) the all-missing pattern gets ``q = 0`` and the other
``2^M - 1`` probabilities are fitted by iterative proportional fitting (IPF), starting from independent dropping,
so that the marginal missing rates still equal ``r_m`` (:func:`fit_pattern_probabilities`): the all-missing share
is moved onto the other patterns instead of onto cells, and the realised counts are within one of
``round(r_m * N)``. This needs ``sum_m (1 - r_m) >= 1``, else a ``ValueError``.

With source availability the drawn patterns are dealt so that (with swap) each sample's pattern keeps one of its
available modalities, and its row is the pattern AND its availability.

>>> pattern_counts(100, (0.2, 0.5), swap=False).tolist()   # patterns: none, 2nd only, 1st only, both
[10, 10, 40, 40]
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mce_data.mask_draw import ATTEMPTS, BoolArray, missing_counts


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
            f"sum(1 - rate) >= 1, got {float((1.0 - rate).sum()):.3f}); use all_missing='exclude' or 'redraw'"
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


def pattern_counts(n_samples: int, rates: Sequence[float], *, swap: bool) -> NDArray[np.int64]:
    """``Long[2^M]``: the exact number of samples given each pattern of :func:`patterns` (largest remainder).

    >>> pattern_counts(100, (0.2, 0.5), swap=True).tolist()   # patterns: none, 2nd only, 1st only, both
    [0, 20, 50, 30]
    """
    table = patterns(len(rates))
    if swap:
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
    if _fault(rounded, table, wanted) <= (0, 1) or math.comb(int((expected > counts).sum()), short) > 50_000:
        return rounded
    # Rare: the largest remainder puts a modality's missing count more than 1 off round(r_m * N), or leaves a
    # modality that should be present somewhere present nowhere (small N: 7 BraTS cases at T2 0.8); take the
    # rounding (same floors, ``short`` patterns rounded up) with the fewest such modalities, then the smallest gap.
    best = rounded, _fault(rounded, table, wanted)
    for ups in itertools.combinations([int(i) for i in order if expected[i] > counts[i]], short):
        trial = counts.copy()
        trial[list(ups)] += 1
        fault = _fault(trial, table, wanted)
        if fault < best[1]:
            best = trial, fault
    return best[0]


def _fault(counts: NDArray[np.int64], table: BoolArray, wanted: NDArray[Any]) -> tuple[int, int]:
    """For per-pattern ``counts``: how many modalities are present nowhere though ``wanted`` (missing counts) has
    them somewhere, and the largest ``|missing count of m - wanted_m|`` over the modalities."""
    missing = (counts[:, None] * ~table).sum(axis=0)
    n_samples = int(counts.sum())
    lost = int(((missing == n_samples) & (wanted < n_samples)).sum())
    return lost, int(np.abs(missing - wanted).max())


def draw_combinations(
    n_samples: int,
    rates: Sequence[float],
    rng: np.random.Generator,
    *,
    swap: bool,
    available: BoolArray | None = None,
) -> BoolArray:
    """``"combinations"`` style: exact per-pattern counts dealt to samples by a seeded permutation."""
    counts = pattern_counts(n_samples, rates, swap=swap)
    table = patterns(len(rates))
    if available is None or available.all():
        rows = np.repeat(table, counts, axis=0)
        return rows[rng.permutation(n_samples)]
    for _ in range(ATTEMPTS):
        out = _try_deal_patterns(counts, table, rng, swap, available)
        if out is not None:
            result: BoolArray = out & available
            return result
    raise ValueError(
        f"with this availability, {ATTEMPTS} random deals of the pattern counts left some sample with no "
        f"pattern that keeps one of its available modalities; lower the rates or use all_missing='exclude'"
    )


def _try_deal_patterns(
    counts: NDArray[np.int64], table: BoolArray, rng: np.random.Generator, swap: bool, available: BoolArray
) -> BoolArray | None:
    """Deal the pattern counts to rows, most restricted rows first; ``None`` when a row is left with none."""
    n_samples = available.shape[0]
    pool = counts.astype(np.float64)
    out = np.zeros_like(available)
    for row in np.lexsort((rng.random(n_samples), available.sum(axis=1))):
        weights = pool * ((table & available[row]).any(axis=1) if swap else 1.0)
        if weights.sum() <= 0:
            return None
        chosen = rng.choice(len(pool), p=weights / weights.sum())
        pool[chosen] -= 1
        out[row] = table[chosen]
    return out
