"""MCE's per-sample Shapley values (Eq. 5) of the fused head's score, for one batch.

The coalition value ``v_n(S)`` of Eq. 4 is the per-sample score (0/1 correct, Dice, IoU) of the
prediction from the modalities in ``S``, with ``v_n(∅) = 0`` (no modality, no correct answer).

* ``estimator="exact"`` reads those values off the pair batch (every feasible (sample, subset) row,
  already predicted for L_sub and L_aux) and values each sample's own game with
  :func:`mce_losses.shapley_from_pairs` (Eq. 5 on the pair batch): no extra forward.
* ``estimator="permutation"`` asks the model for the coalitions a Monte Carlo budget draws
  (:func:`mce_shapley.permutation`; the option for many modalities, where the pair batch is large).

Coalition values are per-sample games only in evaluation mode: when the network has batch norm or
dropout, a training-mode prediction depends on the rest of the pair batch, so the pairs are
predicted again, without gradient, in evaluation mode (batch-norm statistics untouched).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

import mce_shapley
from mce_losses import SubsetPairs, shapley_from_pairs
from mce_train.methods.base import PerSample
from mce_train.network import MultiModalNet, evaluation_mode, mode_dependent

ESTIMATORS = ("exact", "permutation")


@torch.no_grad()
def batch_shapley(
    model: MultiModalNet,
    h: Tensor,
    batch: Any,
    pairs: SubsetPairs,
    prediction: Tensor,
    *,
    score: PerSample,
    estimator: str,
    permutations: int,
    generator: torch.Generator,
    exact_when_cheaper: bool = True,
) -> Tensor:
    """``Float64[N, M]``: each sample's Shapley values of its fused head's score, in evaluation mode.

    Args:
        h: ``Float[N, M, *feature]``, the batch's encoded features (detached).
        pairs: the batch's (sample, subset) rows; ``prediction`` is the head's output on them.
        score: the per-sample coalition value ``f_acc`` of Eq. 4.
        estimator: ``"exact"`` or ``"permutation"``; ``permutations`` is the latter's budget per
            sample, drawn from ``generator``.
    """
    if model.training and mode_dependent(model):
        with evaluation_mode(model):
            return batch_shapley(
                model,
                h,
                batch,
                pairs,
                model.predict(h.index_select(0, pairs.sample_index), pairs.keep),
                score=score,
                estimator=estimator,
                permutations=permutations,
                generator=generator,
                exact_when_cheaper=exact_when_cheaper,
            )
    present, target = batch.present, batch.target
    n, m = present.shape
    if estimator == "exact":
        values = score(prediction.detach(), target.index_select(0, pairs.sample_index)).double()
        return shapley_from_pairs(values, pairs)
    if estimator != "permutation":
        raise ValueError(f"estimator must be one of {ESTIMATORS}; got {estimator!r}")

    def evaluate(samples: Tensor, coalitions: Tensor) -> Tensor:
        keep = coalitions & present.index_select(0, samples)
        out = score(model.predict(h.index_select(0, samples), keep), target.index_select(0, samples))
        return torch.where(keep.any(1), out.double(), torch.zeros_like(out, dtype=torch.float64))

    result = mce_shapley.permutation(
        mce_shapley.RowGame(evaluate, n, device=present.device),
        m,
        available=present,
        n_permutations=permutations,
        generator=generator,
        exact_when_cheaper=exact_when_cheaper,
    )
    return result.values
