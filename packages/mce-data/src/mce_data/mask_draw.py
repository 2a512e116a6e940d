"""The ``"counts"`` style and the ``"swap"`` repair (numpy, seeded); the other styles and the all-missing modes
that combine them are in :mod:`mce_data.mask_patterns` and :mod:`mce_data.mask_modes`.

``"counts"``: modality ``m`` is missing in exactly ``k_m = floor(r_m * N + 0.5)`` samples, chosen uniformly at
random and independently per modality. This is the rule of the MCE official IEMOCAP code
(byzhaoAI/MCE ``emotion_recog/missing_index.py``, ``missing_pattern``: per modality ``np.random.choice`` of
``int(num_sample * ratio[i])`` rows without replacement, independently; the same helper is in its
``scene_seg/nuscenesdataset.py`` with ``torch.randperm``) except for the rounding: the official code truncates
(``int``), we round half up, so a count can be one higher than theirs. (MMIN itself, AIM3-RUC/MMIN
``data/multimodal_miss_dataset.py``, trains on six fixed missing patterns, not on per-modality rates.)

``"swap"`` (never all-missing, every count exact): each all-missing row takes one present cell (modality ``m``)
from a random other row that keeps at least one modality, so every per-modality count stays exactly ``k_m``
(tolerance 0). This needs ``sum_m (N - k_m) >= N`` present cells, which :func:`missing_counts` ensures whenever
``sum_m (1 - r_m) >= 1``: at that boundary, when rounding half up leaves one present cell too few ((0.5, 0.5)
on 945 samples), the counts that were rounded up go down by one, the most rounded first; below it a
``ValueError`` says so.

Source availability (``available: Bool[N, M]``, a modality the source itself lacks is ``False``): the ``k_m``
missing cells of modality ``m`` are drawn among the samples that *have* ``m`` (so ``m`` ends up missing in
``k_m`` plus its unavailable cells), and with swap never from a sample whose only available modality is ``m``;
more than that is a ``ValueError``.

>>> import numpy as np
>>> present = draw_counts(10, (0.5, 0.2), np.random.default_rng(0), swap=True)
>>> (~present).sum(axis=0).tolist(), bool(present.any(axis=1).all())
([5, 2], True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

BoolArray = NDArray[np.bool_]
RatesLike = Sequence[float] | NDArray[Any] | torch.Tensor
"""Missing rates: a sequence of floats, a 1-D numpy array or a 1-D tensor."""

ATTEMPTS = 64
"""Random orders tried before a draw restricted by availability is declared impossible: each try
fills rows greedily, and an unlucky order can strand a restricted row that another order serves."""


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


def missing_counts(n_samples: int, rates: Sequence[float], *, swap: bool = False) -> list[int]:
    """``k_m = floor(r_m * N + 0.5)``: the exact number of samples missing modality ``m`` (round half up).

    With ``swap`` (every sample keeps a modality) and rates that allow it (``sum_m (1 - r_m) >= 1``),
    counts rounded up are lowered by one, the most rounded first, while the present cells
    ``sum_m (N - k_m)`` number fewer than ``N``: each count stays within one of ``r_m * N``.

    >>> missing_counts(10, (0.25, 0.35, 0.0))
    [3, 4, 0]
    >>> missing_counts(945, (0.5, 0.5)), missing_counts(945, (0.5, 0.5), swap=True)
    ([473, 473], [473, 472])
    """
    counts = [math.floor(rate * n_samples + 0.5) for rate in rates]
    if not swap or len(rates) - math.fsum(rates) < 1.0 - 1e-9:
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
    swap: bool,
    available: BoolArray | None = None,
) -> BoolArray:
    """``"counts"`` style: ``present: Bool[N, M]`` with exactly ``k_m`` drawn missing per modality (module doc);
    with ``swap`` no row is all-missing, else all-missing rows are left for the caller (exclude / redraw)."""
    if available is not None and not available.all():
        return _draw_counts_available(rates, rng, swap, available)
    n_mod = len(rates)
    counts = missing_counts(n_samples, rates, swap=swap)
    present = np.ones((n_samples, n_mod), dtype=bool)
    for m, k in enumerate(counts):
        present[rng.permutation(n_samples)[:k], m] = False
    if not swap:
        return present
    total_present = n_samples * n_mod - sum(counts)
    if total_present < n_samples:
        raise ValueError(
            f"rates {list(rates)} leave {total_present} present cells for {n_samples} samples: with exact per-modality "
            f"counts some sample must miss every modality (needs sum(1 - rate) >= 1, got {n_mod - sum(rates):.3f}); "
            f"use all_missing='exclude' or 'redraw'"
        )
    return swap_unrestricted(present, rng)


def swap_unrestricted(present: BoolArray, rng: np.random.Generator) -> BoolArray:
    """Give each all-missing row one present cell taken from a row that keeps another one (in place; returned).

    The caller makes sure there are at least as many present cells as rows, so the donors suffice.
    """
    n_samples, n_mod = present.shape
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


def swap_restricted(present: BoolArray, rng: np.random.Generator, available: BoolArray) -> BoolArray | None:
    """:func:`swap_unrestricted` where a row only receives a modality its source has (in place); ``None`` when the
    greedy deal gets stuck (another random order may not)."""
    n_samples, n_mod = available.shape
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


def _draw_counts_available(
    rates: Sequence[float], rng: np.random.Generator, swap: bool, available: BoolArray
) -> BoolArray:
    """``"counts"`` style restricted to the available cells (module doc); the result is within ``available``."""
    n_samples = available.shape[0]
    counts = missing_counts(n_samples, rates, swap=swap)
    last = available.sum(axis=1) == 1  # a sample's last available modality is never drawn (swap)
    for m, k in enumerate(counts):
        candidates = np.flatnonzero(available[:, m] & ~last) if swap else np.flatnonzero(available[:, m])
        if k > candidates.size:
            also = " and another available modality" if swap else ""
            raise ValueError(
                f"modality {m}: rate {rates[m]} asks for {k} of {n_samples} samples to miss it, but only "
                f"{candidates.size} have it available{also}; lower the rate or use all_missing='exclude'"
            )
    for _ in range(ATTEMPTS):
        present = available.copy()
        for m, k in enumerate(counts):
            candidates = np.flatnonzero(available[:, m] & ~last) if swap else np.flatnonzero(available[:, m])
            present[candidates[rng.permutation(candidates.size)[:k]], m] = False
        if not swap:
            return present
        repaired = swap_restricted(present, rng, available)
        if repaired is not None:
            return repaired
    raise ValueError(
        f"with this availability, {ATTEMPTS} random draws could not give every sample a modality without "
        f"breaking the exact per-modality counts {counts}; lower the rates or use all_missing='exclude'"
    )
