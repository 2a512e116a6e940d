"""PMR's computations on tensors: class weights of labels and maps, prototypes, the prototypical terms and the
rebalance coefficients (:mod:`mce_train.methods.pmr.method` says where each comes from and what is ours)."""

from __future__ import annotations

import torch
from einops import einsum, rearrange
from torch import Tensor
from torch.nn import functional

PROTOTYPE_MOMENTUM = 0.2
"""fanyunfeng-bit/Modal-Imbalance-PMR main_Prototype_grad.py: ``--momentum_coef 0.2`` (the old prototype's share)."""


def class_weights(target: Tensor, n_classes: int, grid: tuple[int, ...]) -> Tensor:
    """``Float[N, K, L]``: per location, the fraction of its voxels in each class (``L = 1`` for labels ``[N]``).

    ``target`` is ``Long[N]`` or ``Long[N, *space]`` (negative: ignored); a dense target is average-pooled
    to ``grid``, the feature map's spatial shape.

    >>> class_weights(torch.tensor([[[0, 1], [1, -1]]]), 2, (1, 1)).tolist()  # a 2x2 map pooled to one location
    [[[0.25], [0.5]]]
    >>> class_weights(torch.tensor([1, 0]), 2, ()).tolist()  # labels: one location
    [[[0.0], [1.0]], [[1.0], [0.0]]]
    """
    valid = target >= 0
    one_hot = functional.one_hot(target.clamp_min(0), n_classes).to(torch.float32) * valid[..., None]
    if target.dim() == 1:
        return one_hot[:, :, None]
    one_hot = rearrange(one_hot, "batch ... classes -> batch classes ...")
    if tuple(one_hot.shape[2:]) != grid:
        one_hot = _pool(one_hot, grid)
    return one_hot.flatten(2)


def _pool(x: Tensor, grid: tuple[int, ...]) -> Tensor:
    """``Float[N, K, *space] -> Float[N, K, *grid]`` by adaptive average pooling (2-D or 3-D)."""
    if len(grid) == 2:
        return functional.adaptive_avg_pool2d(x, (grid[0], grid[1]))
    if len(grid) == 3:
        return functional.adaptive_avg_pool3d(x, (grid[0], grid[1], grid[2]))
    raise ValueError(f"dense targets need a 2-D or 3-D feature grid; got {grid}")


def locations(features: Tensor) -> Tensor:
    """``Float[n, C, *space] -> Float[n, C, L]`` (a vector ``[n, C]`` gets ``L = 1``)."""
    return features[:, :, None] if features.dim() == 2 else features.flatten(2)


def class_sums(features: Tensor, weights: Tensor) -> tuple[Tensor, Tensor]:
    """``(Float[K, C], Float[K])``: weighted feature sums and weights per class.

    Args:
        features: ``Float[n, C, L]``; weights: ``Float[n, K, L]`` (:func:`class_weights`).
    """
    sums = einsum(features.float(), weights, "batch channel location, batch classes location -> classes channel")
    return sums, weights.sum((0, 2))


def update_prototypes(
    old: Tensor, defined: Tensor, sums: Tensor, counts: Tensor, momentum: float
) -> tuple[Tensor, Tensor]:
    """``(prototypes Float[K, C], defined Bool[K])`` after one prototype pass.

    A class seen in the pass gets its class mean, blended ``(1 - momentum)·new + momentum·old`` where an
    old prototype exists; an unseen class keeps its old one (or stays undefined).
    """
    seen = counts > 0
    mean = sums / counts.clamp_min(1e-12)[:, None]
    blended = torch.where(defined[:, None], (1 - momentum) * mean + momentum * old, mean)
    return torch.where(seen[:, None], blended, old), defined | seen


def prototype_terms(features: Tensor, weights: Tensor, prototypes: Tensor, defined: Tensor) -> dict[str, Tensor]:
    """PCE, score sum, weight and entropy of one modality on the samples that have it.

    Args:
        features: ``Float[n, C, L]``; weights: ``Float[n, K, L]``; prototypes: ``Float[K, C]``; defined: ``Bool[K]``.

    Returns:
        ``pce`` (the weighted mean cross-entropy of ``-distance`` logits), ``entropy`` (weighted mean),
        ``score`` (the sum of the true class's probability, weighted) and ``weight`` (the weights' sum).
    """
    x = rearrange(features.float(), "batch channel location -> (batch location) channel")
    logits = -torch.cdist(x, prototypes)  # Float[n·L, K]
    logits = rearrange(logits, "(batch location) classes -> batch classes location", batch=features.shape[0])
    mask = defined[None, :, None]
    log_p = torch.log_softmax(logits.masked_fill(~mask, float("-inf")), 1).masked_fill(~mask, 0.0)
    p = log_p.exp() * mask
    w = weights * mask
    total = w.sum()
    location_weight = w.sum(1)  # Float[n, L]
    zero = total * 0
    if int(defined.sum()) < 2 or float(total) <= 0:
        return {"pce": zero, "entropy": zero, "score": zero.detach(), "weight": zero.detach()}
    pce = -(w * log_p).sum() / total
    entropy = (-(p * log_p).sum(1) * location_weight).sum() / total
    return {"pce": pce, "entropy": entropy, "score": (w * p).sum().detach(), "weight": total.detach()}


def coefficients(scores: Tensor, defined: Tensor) -> tuple[Tensor, Tensor]:
    """``(β Float[M], γ Float[M])`` from mean prototype scores ``Float[M]`` (``defined: Bool[M]``).

    ``ρ_m = s_m / mean_{j≠m} s_j``; ``β = clip(1/ρ - 1, 0, 1)``, ``γ = clip(ρ - 1, 0, 1)``; zero for a modality
    without a score or without another modality to compare with.

    >>> beta, gamma = coefficients(torch.tensor([0.6, 0.4]), torch.tensor([True, True]))
    >>> [round(x, 4) for x in beta.tolist()], [round(x, 4) for x in gamma.tolist()]
    ([0.0, 0.5], [0.5, 0.0])
    """
    s = torch.where(defined, scores, torch.zeros_like(scores))
    n = defined.sum()
    others = (s.sum() - s) / (n - defined.long()).clamp_min(1)
    rho = s / others.clamp_min(1e-12)
    usable = defined & (n >= 2)
    beta = torch.where(usable, (1 / rho.clamp_min(1e-12) - 1).clamp(0, 1), torch.zeros_like(s))
    gamma = torch.where(usable, (rho - 1).clamp(0, 1), torch.zeros_like(s))
    return beta, gamma
