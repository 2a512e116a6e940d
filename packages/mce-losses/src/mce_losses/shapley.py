"""Exact per-sample Shapley values (Eq. 5) from coalition values already evaluated on the pair batch.

The pair batch of :func:`~mce_losses.subset_pairs` holds every non-empty subset ``S`` of each
sample's available modalities ``M_n``, which is exactly what the Shapley value of sample ``n``'s
game needs. So the forward that gives L_sub and L_aux also gives the coalition values ``v_n(S)``
of Eq. 4 (score each row with :mod:`mce_losses.scores`), and this function turns them into
``phi[n, m]`` with no further model call:

``phi[n, m] = sum_{S subset of M_n, m in S} w(|S| - 1) v_n(S) - sum_{S subset of M_n, m not in S} w(|S|) v_n(S)``

with ``w(s) = s! (|M_n| - s - 1)! / |M_n|!`` and ``v_n(empty set) = empty_value``. Modalities a
sample lacks get 0. For a standalone, general library (Monte Carlo estimates, games that are not
on a pair batch) see mce-shapley.

>>> import torch
>>> from mce_losses import subset_pairs
>>> present = torch.tensor([[True, True]])
>>> pairs = subset_pairs(present)            # rows: {0}, {1}, {0, 1}
>>> shapley_from_pairs(torch.tensor([1.0, 0.0, 1.0]), pairs).double().round(decimals=4).tolist()
[[1.0, 0.0]]
"""

from __future__ import annotations

import torch
from torch import Tensor

from mce_losses._checks import check_floating, check_shape
from mce_losses.subsets import SubsetPairs, check_pairs


def shapley_from_pairs(pair_values: Tensor, pairs: SubsetPairs, *, empty_value: float = 0.0) -> Tensor:
    """Per-sample Shapley values of each modality (the summand of Eq. 5) from per-row values.

    Args:
        pair_values: ``Float[P]``, ``v_n(S)`` for each row of ``pairs`` (e.g. 0/1 correctness of
            the prediction from the row's modality subset).
        pairs: from :func:`~mce_losses.subset_pairs` with ``include_full=True`` (the default),
            unchanged: every subset of every sample's modalities must be a row.
        empty_value: ``v_n`` of the empty coalition (0.0: no modality, no correct answer; the
            reference code uses 0 as well).

    Returns:
        ``Float[N, M]`` in ``pair_values``' dtype (accumulated in float64); 0 where a modality
        is absent. Sum over samples for ``phi_m`` of Eq. 5 (:func:`~mce_losses.capability_statistics`
        does). Differentiable in ``pair_values`` (pass detached scores for factor B).
    """
    check_pairs(pairs)
    check_floating("pair_values", pair_values)
    check_shape("pair_values", pair_values, (pairs.n_pairs,), "(one value per row of pairs)")
    if not pairs.include_full:
        raise ValueError(
            "shapley_from_pairs needs v(M_n) for every sample: "
            "build pairs with subset_pairs(present, include_full=True)"
        )
    if pair_values.device != pairs.present.device:
        raise ValueError(f"pair_values is on {pair_values.device}; expected {pairs.present.device}, the pairs' device")
    values = pair_values.to(torch.float64)
    keep, drop = pairs.keep, pairs.drop
    n_available = pairs.present.sum(dim=1).to(torch.float64)  # |M_n|
    k = n_available[pairs.sample_index]
    size = keep.sum(dim=1).to(torch.float64)  # |S| >= 1
    log_k_factorial = torch.lgamma(k + 1)
    # m in S: weight (|S|-1)! (k-|S|)! / k!; m in M_n \ S: weight |S|! (k-|S|-1)! / k! (only when |S| < k).
    in_weight = torch.exp(torch.lgamma(size) + torch.lgamma(k - size + 1) - log_k_factorial)
    out_weight = torch.exp(torch.lgamma(size + 1) + torch.lgamma((k - size).clamp_min(1)) - log_k_factorial)
    signed_weight = keep.to(torch.float64) * in_weight[:, None] - drop.to(torch.float64) * out_weight[:, None]
    contribution = signed_weight * values[:, None]
    phi = torch.zeros(pairs.present.shape, dtype=torch.float64, device=values.device)
    phi = phi.index_add(0, pairs.sample_index, contribution)
    # The empty coalition: every available modality m gets -w(0) v(empty) = -v(empty) / |M_n|.
    phi = phi - pairs.present.to(torch.float64) * (empty_value / n_available.clamp_min(1))[:, None]
    return phi.to(pair_values.dtype)
