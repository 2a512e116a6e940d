"""RCE's losses: L_single (Eq. 9), L_sub (Eq. 11), L_aux (Eq. 13), and the total objective (Eq. 14).

The functions take what the model produced, not the model: per-sample losses ``rho`` already
computed (any loss: cross-entropy, Dice + CE, MSE, reduced to one value per sample or row) and
reconstructed features. L_sub and L_aux range over the (sample, subset) rows of
:func:`~mce_losses.subset_pairs`, which a trainer evaluates in one batched forward:

.. code-block:: python

    pairs = subset_pairs(present)                        # P rows
    completed = f_rec(pair_features(h, pairs))           # [P, M, ...]: Eq. 12 for every row
    logits = f_dec(f_fusion(completed))                  # [P, C]
    pair_losses = F.cross_entropy(logits, y[pairs.sample_index], reduction="none")   # [P]
    l_sub = subset_loss(pair_losses, pairs)
    l_aux = auxiliary_loss(completed, h, pairs, weight=a * b)

Choices where the paper is ambiguous (each documented at its function, switchable where both
readings are reasonable):

* L_single sums over modalities as Eq. 9 writes (``modality_reduction="sum"``); the reference
  code averages (``"mean"``). ``rho`` for modality ``m`` sums the losses of the samples that have
  ``m`` and divides by the batch size (``sample_reduction="batch"``, as the reference code's masked
  cross-entropy does). Dividing by the number of samples that have ``m`` instead (``"present"``)
  would already equalise modalities, and factor A would then over-weight rare modalities a
  second time: with ``"batch"`` each modality's total gradient weight is ``A_m * count_m / N``,
  constant across modalities when A is Eq. 3's ``N / count_m`` — the equal updates A is for.
* L_sub / L_aux average per subset then over subsets, as Eqs. 11 and 13 write
  (``normalization="subset"``); the reference code averages per sample over its subsets, then
  over samples (``"sample"``). The ``epsilon`` of Eqs. 11 and 13 is not needed: every subset in
  ``S_batch`` has at least one feasible sample, and a row with no dropped modality contributes
  exactly 0 to L_aux (what ``1 / (0 + epsilon) * 0`` gives).
* The distance of L_aux: Eq. 13 writes a norm ``||h' - h||``. Default ``"l1"``, the mean absolute
  difference over the feature elements (the reference code's ``F.l1_loss``; independent of the
  feature size); ``"mse"`` (mean squared) and ``"l2"`` (the Euclidean norm, Eq. 13 literally)
  are available, as is any callable.
* Reconstruction targets are not detached by default (the reference code lets L_aux's gradient
  reach the target modality's encoder too); ``detach_target=True`` stops it.
* The factors A and B are weights, never trained: the functions detach ``weight``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor

from mce_losses._checks import (
    check_choice,
    check_floating,
    check_modality_vector,
    check_nonnegative_float,
    check_presence,
    check_shape,
)
from mce_losses.subsets import SubsetPairs, check_pairs

PairNormalization = Literal["subset", "sample"]
"""How L_sub and L_aux average their rows: ``"subset"`` (Eqs. 11 and 13: mean over each subset's
feasible samples, then mean over ``S_batch``) or ``"sample"`` (the reference code: mean over each
sample's subsets, then mean over the samples that have at least one)."""

ModalityReduction = Literal["sum", "mean"]
SampleReduction = Literal["batch", "present"]
"""How L_single combines modalities: ``"sum"`` (Eq. 9) or ``"mean"`` (the reference code)."""

Distance = Literal["l1", "mse", "l2"]
"""The reconstruction distance of L_aux, per (row, modality), over all feature elements:
``"l1"`` mean ``|h' - h|`` (default), ``"mse"`` mean ``(h' - h)**2``, ``"l2"`` ``||h' - h||_2``."""

DistanceFn = Callable[[Tensor, Tensor], Tensor]
"""A custom distance: ``(reconstructed: [P, M, ...], target: [P, M, ...]) -> Float[P, M]``."""

_NORMALIZATIONS = ("subset", "sample")


def _group_mean_of_means(values: Tensor, group: Tensor, n_groups: int) -> Tensor:
    """Mean over groups that have rows, of the mean of each group's rows. 0 when there are no rows."""
    sums = torch.zeros(n_groups, dtype=values.dtype, device=values.device).index_add(0, group, values)
    counts = torch.zeros(n_groups, dtype=values.dtype, device=values.device).index_add(
        0, group, torch.ones_like(values)
    )
    occurring = counts > 0
    means = sums / counts.clamp_min(1)
    return means.sum() / occurring.sum().clamp_min(1).to(values.dtype)


def _average_rows(row_values: Tensor, pairs: SubsetPairs, normalization: str, weights: Tensor | None = None) -> Tensor:
    if weights is not None:
        check_shape("pair_weights", weights, (pairs.n_pairs,), "(one weight per row of pairs)")
        return (row_values * weights.detach().to(row_values.dtype)).sum()
    if normalization == "subset":
        return _group_mean_of_means(row_values, pairs.subset_index, pairs.n_subsets)
    return _group_mean_of_means(row_values, pairs.sample_index, pairs.n_samples)


def _weight(weight: Tensor | None, n_modalities: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    if weight is None:
        return torch.ones(n_modalities, dtype=dtype, device=device)
    return check_modality_vector("weight", weight, n_modalities, device).detach().to(dtype)


def single_modal_loss(
    unimodal_losses: Tensor,
    present: Tensor,
    weight: Tensor | None = None,
    *,
    modality_reduction: ModalityReduction = "sum",
    sample_reduction: SampleReduction = "batch",
) -> Tensor:
    """L_single (Eq. 9): ``sum_m A_m B_m rho(f_dec^m(h_m), Y)``, each modality's own head supervised.

    Args:
        unimodal_losses: ``Float[N, M]``; column ``m`` is the per-sample loss of modality ``m``'s
            own decoder on its features (e.g. ``F.cross_entropy(head_m(h[:, m]), y,
            reduction="none")``). Entries where ``present`` is False are ignored (they may hold
            anything; no gradient reaches them).
        present: ``Bool[N, M]``.
        weight: ``Float[M]``, the per-modality factor ``A_m * B_m`` (None: all ones). Detached.
        modality_reduction: ``"sum"`` (Eq. 9, default) or ``"mean"`` over modalities (the
            reference code).
        sample_reduction: ``"batch"`` (default): ``rho_m`` sums the losses of the samples that
            have ``m`` and divides by ``N``, so factor A alone equalises the modalities' updates;
            ``"present"``: divides by the number of samples that have ``m`` (see the module notes).

    Returns:
        A scalar; a modality absent from the batch contributes 0.
    """
    check_presence(present)
    check_floating("unimodal_losses", unimodal_losses)
    check_shape("unimodal_losses", unimodal_losses, tuple(present.shape), "(samples, modalities), like present")
    check_choice("modality_reduction", modality_reduction, ("sum", "mean"))
    check_choice("sample_reduction", sample_reduction, ("batch", "present"))
    dtype, device = unimodal_losses.dtype, unimodal_losses.device
    if present.device != device:
        raise ValueError(f"present is on {present.device}; expected {device}, the device of unimodal_losses")
    factor = _weight(weight, present.shape[1], device, dtype)
    masked = torch.where(present, unimodal_losses, torch.zeros((), dtype=dtype, device=device))
    if sample_reduction == "batch":
        per_modality = masked.sum(dim=0) / max(present.shape[0], 1)
    else:
        per_modality = masked.sum(dim=0) / present.sum(dim=0).clamp_min(1).to(dtype)
    weighted = factor * per_modality
    return weighted.sum() if modality_reduction == "sum" else weighted.mean()


def subset_loss(
    pair_losses: Tensor,
    pairs: SubsetPairs,
    *,
    normalization: PairNormalization = "subset",
    pair_weights: Tensor | None = None,
) -> Tensor:
    """L_sub (Eq. 11): the task loss of the prediction from every feasible modality subset.

    ``L_sub = 1/|S_batch| sum_S 1/|N_S| sum_{n in N_S} rho(f_dec(f_fusion({h_{n,m}}_{m in S})), Y_n)``

    Args:
        pair_losses: ``Float[P]``, the per-row loss ``rho`` of the prediction from row ``p``'s
            subset ``keep[p]`` of sample ``sample_index[p]`` (compute all rows in one forward on
            :func:`~mce_losses.pair_features`).
        pairs: from :func:`~mce_losses.subset_pairs` on the batch.
        normalization: ``"subset"`` (Eq. 11, default) or ``"sample"`` (the reference code); see
            :data:`PairNormalization`.
        pair_weights: ``Float[P]`` from :func:`~mce_losses.subset_pair_weights` (e.g. with counts
            all-reduced over processes): the loss is then ``sum_p w_p rho_p`` and ``normalization``
            is not used.

    Returns:
        A scalar; 0 when there are no rows.
    """
    check_pairs(pairs)
    check_floating("pair_losses", pair_losses)
    check_shape("pair_losses", pair_losses, (pairs.n_pairs,), "(one loss per row of pairs)")
    check_choice("normalization", normalization, _NORMALIZATIONS)
    if pair_losses.device != pairs.present.device:
        raise ValueError(f"pair_losses is on {pair_losses.device}; expected {pairs.present.device}, the pairs' device")
    return _average_rows(pair_losses, pairs, normalization, pair_weights)


def _distance(reconstructed: Tensor, target: Tensor, distance: Distance | DistanceFn) -> Tensor:
    if callable(distance):
        out = distance(reconstructed, target)
        if not isinstance(out, Tensor) or tuple(out.shape) != tuple(reconstructed.shape[:2]):
            shape = list(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(
                f"a custom distance must return shape {list(reconstructed.shape[:2])} (rows, modalities); got {shape}"
            )
        return out
    difference = (reconstructed - target).flatten(2)
    if distance == "l1":
        return difference.abs().mean(dim=-1)
    if distance == "mse":
        return difference.square().mean(dim=-1)
    norm: Tensor = torch.linalg.vector_norm(difference, dim=-1)
    return norm


def auxiliary_loss(
    reconstructed: Tensor,
    features: Tensor,
    pairs: SubsetPairs,
    weight: Tensor | None = None,
    *,
    distance: Distance | DistanceFn = "l1",
    detach_target: bool = False,
    normalization: PairNormalization = "subset",
    pair_weights: Tensor | None = None,
) -> Tensor:
    """L_aux (Eq. 13): reconstruct every dropped modality from every feasible subset.

    ``L_aux = 1/|S_batch| sum_S 1/|N_S| sum_{n in N_S} 1/|D| sum_{m in D} A_m B_m d(h'_{n,m}, h_{n,m})``
    with ``D = M_n \\ S`` the row's dropped modalities (:attr:`SubsetPairs.drop`); a row with
    nothing dropped contributes 0 and still counts in ``|N_S|``, as Eq. 13 writes.

    Args:
        reconstructed: ``[P, M, ...]``, the completion module's output for each row (Eq. 12),
            e.g. ``f_rec(pair_features(features, pairs))``. Only dropped entries are read.
        features: ``[N, M, ...]``, the targets ``h_{n,m}`` (vectors ``[N, M, D]`` or maps
            ``[N, M, C, *spatial]``); only present entries are read, so absent ones may hold
            anything.
        pairs: from :func:`~mce_losses.subset_pairs` on the batch.
        weight: ``Float[M]``, ``A_m * B_m`` (None: all ones). Detached.
        distance: ``"l1"`` (default), ``"mse"``, ``"l2"``, or a callable; see :data:`Distance`.
        detach_target: stop the gradient into ``features`` (default False, as the reference
            code: the target modality's encoder is pulled towards what the others predict).
        normalization: ``"subset"`` (Eq. 13, default) or ``"sample"``; see :data:`PairNormalization`.
        pair_weights: ``Float[P]`` row weights from :func:`~mce_losses.subset_pair_weights`, which
            replace ``normalization`` (see :func:`subset_loss`).

    Returns:
        A scalar; 0 when there are no rows.
    """
    check_pairs(pairs)
    check_floating("reconstructed", reconstructed)
    check_floating("features", features)
    n_pairs, n_samples, n_modalities = pairs.n_pairs, pairs.n_samples, pairs.n_modalities
    if features.dim() < 2 or tuple(features.shape[:2]) != (n_samples, n_modalities):
        raise ValueError(
            f"features must have shape [N, M, ...] = [{n_samples}, {n_modalities}, ...] to match the pairs; "
            f"got shape {list(features.shape)}"
        )
    check_shape("reconstructed", reconstructed, (n_pairs, *features.shape[1:]), "(one row per pair, like features)")
    check_choice("normalization", normalization, _NORMALIZATIONS)
    if not callable(distance):
        check_choice("distance", distance, ("l1", "mse", "l2"))
    device = pairs.present.device
    for name, tensor in (("reconstructed", reconstructed), ("features", features)):
        if tensor.device != device:
            raise ValueError(f"{name} is on {tensor.device}; expected {device}, the pairs' device")
    dtype = torch.promote_types(reconstructed.dtype, features.dtype)
    factor = _weight(weight, n_modalities, device, dtype)
    drop = pairs.drop
    target = features[pairs.sample_index]
    if detach_target:
        target = target.detach()
    # Blank every entry that is not a dropped modality before the distance, so that whatever
    # those entries hold (absent-modality placeholders, NaN) never reaches a value or a gradient.
    selected = drop.view(*drop.shape, *([1] * (features.dim() - 2)))
    zero = torch.zeros((), dtype=dtype, device=device)
    per_entry = _distance(
        torch.where(selected, reconstructed.to(dtype), zero), torch.where(selected, target.to(dtype), zero), distance
    )
    per_entry = torch.where(drop, per_entry.to(dtype), zero) * factor
    per_row = per_entry.sum(dim=1) / drop.sum(dim=1).clamp_min(1).to(dtype)
    return _average_rows(per_row, pairs, normalization, pair_weights)


def total_objective(
    task: Tensor,
    single: Tensor,
    sub: Tensor,
    aux: Tensor,
    *,
    lambda_single: float = 1.0,
    lambda_sub: float = 1.0,
    lambda_aux: float = 1.0,
) -> Tensor:
    """Eq. 14: ``L = L_task + lambda_single L_single + lambda_sub L_sub + lambda_aux L_aux``.

    All four are scalars. (The paper's best IEMOCAP setting, Fig. 6, is ``(1, 2, 1)`` for
    ``(lambda_single, lambda_sub, lambda_aux)``.)

    >>> one, half, quarter, two = (torch.tensor(v) for v in (1.0, 0.5, 0.25, 2.0))
    >>> total = total_objective(one, half, quarter, two, lambda_sub=2.0)
    >>> total.item()
    4.0
    """
    lambdas = {
        "lambda_single": check_nonnegative_float("lambda_single", lambda_single),
        "lambda_sub": check_nonnegative_float("lambda_sub", lambda_sub),
        "lambda_aux": check_nonnegative_float("lambda_aux", lambda_aux),
    }
    for name, value in (("task", task), ("single", single), ("sub", sub), ("aux", aux)):
        check_floating(name, value)
        if value.dim() != 0:
            raise ValueError(f"{name} must be a scalar loss (shape []); got shape {list(value.shape)}")
    return task + lambdas["lambda_single"] * single + lambdas["lambda_sub"] * sub + lambdas["lambda_aux"] * aux
