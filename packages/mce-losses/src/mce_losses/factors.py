"""LCE's factor A (Eq. 3, missing-rate balancing), from a presence matrix, presence counts or missing rates.

Shapes: ``N`` samples, ``M`` modalities. ``present: Bool[N, M]`` says which sample has which
modality (the paper's ``E``).

**Factor A** (Eq. 3) is dataset-level: ``A_m = N / sum_n E[n, m]``, the inverse presence rate,
so that a modality seen in a fifth of the samples gets five times the signal when it appears
(Fig. 2: presence counts 10, 8, 5, 2 out of 10 give A = 1, 1.25, 2, 5). The paper normalises A
"for example, by its mean" before use; that is the default here (``normalize="mean"``).

Factor B (Eqs. 6-8, learning-state encouragement) and its batch statistics live in
:mod:`mce_losses.capability` and are re-exported here.

>>> import torch
>>> present = torch.tensor([[True, True], [True, False], [True, False], [True, True]])
>>> factor_a(present, normalize="none").tolist()
[1.0, 2.0]
>>> factor_a(present).double().round(decimals=4).tolist()  # normalised by its mean (1.5)
[0.6667, 1.3333]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

from mce_losses._checks import check_choice, check_presence, check_tensor, listed
from mce_losses.capability import CapabilityStatistics as CapabilityStatistics
from mce_losses.capability import capability_gap as capability_gap
from mce_losses.capability import capability_statistics as capability_statistics
from mce_losses.capability import factor_b as factor_b
from mce_losses.capability import factor_b_from_scores as factor_b_from_scores

Normalization = Literal["mean", "min", "sum", "none"]
"""How :func:`factor_a` rescales ``N / count``:

* ``"mean"`` (default, the paper's "for example, by its mean"): ``A / mean(A)``, so the factors
  average to 1 and the overall loss scale is unchanged.
* ``"min"``: ``A / min(A)``, so the most-present modality gets exactly 1 (what the reference
  code's AudiovisionMNIST script does: image always present, weight 1).
* ``"sum"``: ``A / sum(A)``.
* ``"none"``: Eq. 3 as written, ``N / count``.
"""

_NORMALIZATIONS = ("mean", "min", "sum", "none")


def _normalize(raw: Tensor, normalize: str) -> Tensor:
    if normalize == "mean":
        return raw / raw.mean()
    if normalize == "min":
        return raw / raw.min()
    if normalize == "sum":
        return raw / raw.sum()
    return raw


def factor_a_from_counts(count: Tensor, n_samples: int | Tensor, *, normalize: Normalization = "mean") -> Tensor:
    """Factor A (Eq. 3) from per-modality presence counts: ``A_m = N / count_m``, then normalised.

    The form for a trainer that counts presence while streaming over a dataset (or all-reduces
    counts across ranks) instead of holding the whole presence matrix.

    Args:
        count: ``[M]``, how many samples have each modality (any real or integer dtype).
        n_samples: ``N``, the number of samples counted (samples with no modality at all are
            excluded from training by Sec. 3.1 and should not be counted).
        normalize: see :data:`Normalization`; ``"mean"`` by default, as the paper suggests.

    Returns:
        ``Float[M]`` (float32, or count's floating dtype), on ``count``'s device, no gradient.

    Raises:
        ValueError: a modality with ``count_m = 0`` (present in no sample: Eq. 3 would divide
            by zero), a negative count, a count above ``N``, or ``N < 1``.

    >>> factor_a_from_counts(torch.tensor([10, 8, 5, 2]), 10, normalize="none").double().round(decimals=4).tolist()
    [1.0, 1.25, 2.0, 5.0]
    """
    check_tensor("count", count)
    if count.dim() != 1 or count.numel() < 1:
        raise ValueError(f"count must have shape [M] (one count per modality); got shape {list(count.shape)}")
    check_choice("normalize", normalize, _NORMALIZATIONS)
    dtype = count.dtype if count.is_floating_point() else torch.get_default_dtype()
    counts = count.detach().to(dtype)
    total = torch.as_tensor(n_samples, dtype=dtype, device=count.device).detach()
    if total.numel() != 1:
        raise ValueError(f"n_samples must be one number; got shape {list(total.shape)}")
    if not bool(total >= 1):
        raise ValueError(f"n_samples must be >= 1; got {total.item()}")
    if bool((counts < 0).any()):
        raise ValueError(f"count must be >= 0; modalities {listed((counts < 0).nonzero().flatten())} are negative")
    if bool((counts > total).any()):
        raise ValueError(
            f"count cannot exceed n_samples = {total.item():g}; "
            f"modalities {listed((counts > total).nonzero().flatten())} do"
        )
    absent = counts == 0
    if bool(absent.any()):
        raise ValueError(
            f"modalities {listed(absent.nonzero().flatten())} are present in no sample: factor A (Eq. 3) "
            "is N / count and is undefined for them. Drop the modality or check the presence mask"
        )
    return _normalize(total / counts, normalize)


def factor_a(present: Tensor, *, normalize: Normalization = "mean") -> Tensor:
    """Factor A (Eq. 3) from the dataset's presence matrix: ``A_m = N / sum_n present[n, m]``.

    Args:
        present: ``Bool[N, M]`` over the training set (the paper's ``E``). Every row must have at
            least one modality: Sec. 3.1 excludes samples with none, and counting them would
            inflate ``N``.
        normalize: see :data:`Normalization`; ``"mean"`` by default.

    Returns:
        ``Float[M]`` on ``present``'s device, no gradient.

    Raises:
        ValueError: a modality present in no sample (a clear error, not a division by zero), or
            rows with no modality.

    Fig. 2's 4-modality, 10-sample example (each modality network updated 10, 8, 5, 2 times):

    >>> present = torch.zeros(10, 4, dtype=torch.bool)
    >>> for m, count in enumerate([10, 8, 5, 2]):
    ...     present[:count, m] = True
    >>> factor_a(present, normalize="none").double().round(decimals=4).tolist()
    [1.0, 1.25, 2.0, 5.0]
    >>> factor_a(present).double().round(decimals=4).tolist()
    [0.4324, 0.5405, 0.8649, 2.1622]
    """
    check_presence(present)
    empty_rows = ~present.any(dim=1)
    if bool(empty_rows.any()):
        raise ValueError(
            f"samples {listed(empty_rows.nonzero().flatten())} have no modality; Sec. 3.1 excludes such samples "
            "from training, so drop them before computing factor A"
        )
    return factor_a_from_counts(present.sum(dim=0), present.shape[0], normalize=normalize)


def factor_a_from_missing_rates(
    missing_rates: Tensor | Sequence[float], *, normalize: Normalization = "mean"
) -> Tensor:
    """Factor A (Eq. 3) from per-modality missing rates: ``A_m = 1 / (1 - r_m)``, then normalised.

    ``1 / (1 - r_m)`` is ``N / count_m`` in expectation when modality ``m`` is dropped with
    probability ``r_m`` (the reference code's nuScenes script uses this form).

    Args:
        missing_rates: ``[M]`` rates in ``[0, 1)``; a rate of 1 means the modality is never
            present, which is an error.
        normalize: see :data:`Normalization`.

    Returns:
        ``Float[M]`` (float32 for a sequence of floats).

    >>> factor_a_from_missing_rates([0.2, 0.5, 0.8], normalize="none").double().round(decimals=4).tolist()
    [1.25, 2.0, 5.0]
    """
    if isinstance(missing_rates, Tensor):
        rates = missing_rates
    else:
        values = list(missing_rates)
        if not all(isinstance(r, (int, float)) and not isinstance(r, bool) for r in values):
            raise TypeError(f"missing_rates must be numbers in [0, 1), one per modality; got {values!r}")
        rates = torch.tensor(values)
    if not rates.is_floating_point():
        rates = rates.to(torch.get_default_dtype())
    if rates.dim() != 1 or rates.numel() < 1:
        raise ValueError(f"missing_rates must have shape [M] (one rate per modality); got shape {list(rates.shape)}")
    check_choice("normalize", normalize, _NORMALIZATIONS)
    rates = rates.detach()
    if bool(torch.isnan(rates).any()) or bool(((rates < 0) | (rates > 1)).any()):
        raise ValueError(f"missing_rates must lie in [0, 1); got {rates.tolist()}")
    always_missing = rates == 1
    if bool(always_missing.any()):
        raise ValueError(
            f"modalities {listed(always_missing.nonzero().flatten())} have missing rate 1 (present in no sample): "
            "factor A (Eq. 3) is undefined for them"
        )
    return _normalize(1.0 / (1.0 - rates), normalize)
