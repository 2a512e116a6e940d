"""LCE's factor B (Eqs. 5-8, learning-state encouragement): the capability statistics of a batch and the factor.

Shapes: ``N`` samples, ``M`` modalities. ``present: Bool[N, M]`` says which sample has which
modality (the paper's ``E``).

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
>>> b = factor_b(torch.tensor([91.0, 26.0, 12.0]), torch.tensor([23.6667, 11.6667, 4.0]), torch.tensor([101, 65, 20]))
>>> b.double().round(decimals=4).tolist()
[0.6667, 0.2205, 0.4]
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from mce_losses._checks import check_floating, check_presence, check_shape, check_tensor


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

    >>> gap = capability_gap(torch.tensor([91.0, 29.0, 8.0]), torch.tensor([59.6667, 34.6667, 10.6667]))
    >>> gap.double().round(decimals=4).tolist()
    [31.3333, -5.6667, -2.6667]
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
    >>> factor_b(upper, phi, torch.tensor([105, 79, 25])).double().round(decimals=4).tolist()
    [0.2984, 0.0, 0.0]
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
