"""LCE's factors: A (Eq. 3, missing-rate balancing) and B (Eqs. 6-8, learning-state encouragement).

Shapes: ``N`` samples, ``M`` modalities. ``present: Bool[N, M]`` says which sample has which
modality (the paper's ``E``).

**Factor A** (Eq. 3) is dataset-level: ``A_m = N / sum_n E[n, m]``, the inverse presence rate,
so that a modality seen in a fifth of the samples gets five times the signal when it appears
(Fig. 2: presence counts 10, 8, 5, 2 out of 10 give A = 1, 1.25, 2, 5). The paper normalises A
"for example, by its mean" before use; that is the default here (``normalize="mean"``).

**Factor B** (Eq. 8) is batch-level and built from sums and counts, so a distributed trainer can
all-reduce the three ``[M]`` statistics before dividing:

* ``U_m`` (Eq. 6): the sum, over the batch's samples that have modality ``m``, of the frozen
  unimodal model's per-sample score (0/1 correct for classification, Dice/IoU for segmentation;
  see :mod:`mce_losses.scores`). Table 6's IEMOCAP numbers are such sums (U = 91 of 101 samples).
* ``phi_m`` (Eq. 5): the sum of the per-sample Shapley values of modality ``m`` over the batch.
* ``count_m``: how many samples of the batch have modality ``m``.

Then ``Delta_m = U_m - phi_m`` (Eq. 7) and ``B_m = 1[Delta_m > 0] * Delta_m / count_m`` (Eq. 8,
negative values masked to zero as Sec. 3.2.2 says). A modality absent from the whole batch has
``count_m = 0`` and gets ``B_m = 0``, never a NaN (the reference code divides by zero there). B
is an incentive computed from scores, not a loss: every function here returns it detached.

>>> import torch
>>> present = torch.tensor([[True, True], [True, False], [True, False], [True, True]])
>>> factor_a(present, normalize="none")
tensor([1., 2.])
>>> factor_a(present)                       # normalised by its mean (1.5)
tensor([0.6667, 1.3333])
>>> factor_b(torch.tensor([91.0, 26.0, 12.0]), torch.tensor([23.6667, 11.6667, 4.0]), torch.tensor([101, 65, 20]))
tensor([0.6667, 0.2205, 0.4000])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

import torch
from torch import Tensor

from mce_losses._checks import (
    check_choice,
    check_floating,
    check_presence,
    check_shape,
    check_tensor,
    listed,
)

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

    >>> factor_a_from_counts(torch.tensor([10, 8, 5, 2]), 10, normalize="none")
    tensor([1.0000, 1.2500, 2.0000, 5.0000])
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
    >>> factor_a(present, normalize="none")
    tensor([1.0000, 1.2500, 2.0000, 5.0000])
    >>> factor_a(present)
    tensor([0.4324, 0.5405, 0.8649, 2.1622])
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

    >>> factor_a_from_missing_rates([0.2, 0.5, 0.8], normalize="none")
    tensor([1.2500, 2.0000, 5.0000])
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


class CapabilityStatistics(NamedTuple):
    """The batch statistics behind factor B, each ``Float[M]``: sums and a count, so they all-reduce.

    Stack them for one collective: ``torch.distributed.all_reduce(torch.stack(stats))``, then
    ``factor_b(*reduced)``.
    """

    upper_sum: Tensor
    """``U_m`` (Eq. 6): the frozen unimodal model's per-sample scores summed over samples with ``m``."""
    phi_sum: Tensor
    """``phi_m`` (Eq. 5): per-sample Shapley values of ``m`` summed over the batch."""
    n_present: Tensor
    """``count_m``: how many samples of the batch have modality ``m`` (the denominator of Eq. 8).
    (Not named ``count``, which would shadow ``tuple.count``.)"""


def capability_statistics(unimodal_scores: Tensor, phi: Tensor, present: Tensor) -> CapabilityStatistics:
    """Sum the unimodal upper bounds (Eq. 6) and Shapley values (Eq. 5) over a batch, and count.

    Args:
        unimodal_scores: ``Float[N, M]``; column ``m`` is the per-sample score of the frozen,
            pre-trained single-modality model of ``m`` on the batch (``f_acc(y_m^pt, Y)``, from
            :mod:`mce_losses.scores`). Entries where ``present`` is False are ignored (they may
            hold anything, NaN included).
        phi: ``Float[N, M]``, per-sample Shapley values of each modality (Eq. 5 before the sum
            over samples; e.g. :func:`mce_losses.shapley_from_pairs` or ``mce_shapley.exact``).
            Entries where ``present`` is False are ignored.
        present: ``Bool[N, M]``.

    Returns:
        :class:`CapabilityStatistics` ``(upper_sum, phi_sum, n_present)``, each ``[M]`` in the
        scores' floating dtype (counts included, so the three stack), detached.
    """
    check_presence(present)
    expected = tuple(present.shape)
    for name, value in (("unimodal_scores", unimodal_scores), ("phi", phi)):
        check_floating(name, value)
        check_shape(name, value, expected, "(samples, modalities), like present")
        if value.device != present.device:
            raise ValueError(f"{name} is on {value.device}; expected it on {present.device}, the device of present")
    dtype = torch.promote_types(unimodal_scores.dtype, phi.dtype)
    zero = torch.zeros((), dtype=dtype, device=present.device)
    upper = torch.where(present, unimodal_scores.detach().to(dtype), zero).sum(dim=0)
    shapley = torch.where(present, phi.detach().to(dtype), zero).sum(dim=0)
    return CapabilityStatistics(upper, shapley, present.sum(dim=0).to(dtype))


def _check_statistics(upper_sum: Tensor, phi_sum: Tensor, count: Tensor | None) -> None:
    check_floating("upper_sum", upper_sum)
    if upper_sum.dim() != 1:
        raise ValueError(f"upper_sum must have shape [M] (one sum per modality); got shape {list(upper_sum.shape)}")
    shape = tuple(upper_sum.shape)
    check_floating("phi_sum", phi_sum)
    check_shape("phi_sum", phi_sum, shape, "(one sum per modality, like upper_sum)")
    if count is not None:
        check_tensor("count", count)
        check_shape("count", count, shape, "(one count per modality, like upper_sum)")


def capability_gap(upper_sum: Tensor, phi_sum: Tensor) -> Tensor:
    """The capability gap ``Delta_m = U_m - phi_m`` (Eq. 7), unmasked, detached. ``Float[M]``.

    >>> capability_gap(torch.tensor([91.0, 29.0, 8.0]), torch.tensor([59.6667, 34.6667, 10.6667]))
    tensor([31.3333, -5.6667, -2.6667])
    """
    _check_statistics(upper_sum, phi_sum, None)
    return (upper_sum - phi_sum).detach()


def factor_b(upper_sum: Tensor, phi_sum: Tensor, count: Tensor) -> Tensor:
    """Factor B (Eq. 8): ``B_m = 1[Delta_m > 0] * Delta_m / count_m``, 0 where ``count_m = 0``.

    Args:
        upper_sum: ``Float[M]``, ``U_m`` summed over the batch (see :class:`CapabilityStatistics`).
        phi_sum: ``Float[M]``, ``phi_m`` summed over the batch.
        count: ``[M]`` (any numeric dtype), samples of the batch that have modality ``m``.

    Returns:
        ``Float[M]``, detached, ``>= 0``, finite: negative gaps are masked to zero (the model
        "encourages learning but does not penalize modalities") and a modality absent from the
        batch gets 0, not a NaN.

    Table 6, IEMOCAP late epoch: L and V outperform their upper bounds, so their B is masked.

    >>> upper, phi = torch.tensor([91.0, 29.0, 8.0]), torch.tensor([59.6667, 34.6667, 10.6667])
    >>> factor_b(upper, phi, torch.tensor([105, 79, 25]))
    tensor([0.2984, 0.0000, 0.0000])
    """
    _check_statistics(upper_sum, phi_sum, count)
    if count.device != upper_sum.device or phi_sum.device != upper_sum.device:
        raise ValueError(
            "upper_sum, phi_sum and count must share a device; "
            f"got {upper_sum.device}, {phi_sum.device}, {count.device}"
        )
    dtype = torch.promote_types(upper_sum.dtype, phi_sum.dtype)
    gap = upper_sum.detach().to(dtype) - phi_sum.detach().to(dtype)
    counts = count.detach().to(dtype)
    encouraged = (gap > 0) & (counts > 0)
    return torch.where(encouraged, gap / counts.clamp_min(1e-12), torch.zeros((), dtype=dtype, device=gap.device))


def factor_b_from_scores(unimodal_scores: Tensor, phi: Tensor, present: Tensor) -> Tensor:
    """Factor B of one (non-distributed) batch: :func:`capability_statistics` then :func:`factor_b`.

    Args:
        unimodal_scores: ``Float[N, M]``, per-sample scores of the frozen unimodal models.
        phi: ``Float[N, M]``, per-sample Shapley values.
        present: ``Bool[N, M]``.

    Returns:
        ``Float[M]``, detached.
    """
    return factor_b(*capability_statistics(unimodal_scores, phi, present))
