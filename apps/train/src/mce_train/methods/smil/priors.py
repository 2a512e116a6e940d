"""SMIL's modality priors: K-means centroids of a modality's features, and a missing feature as their weighted mean.

The official code (mengmenm/SMIL, ``src/get_sound_mean_kmean.py``) encodes the audio of every full-modality
training sample with the pretrained model and keeps ``sklearn.cluster.KMeans(n_clusters=10, random_state=0)``'s
centroids (sklearn's defaults of the time: k-means++ seeding, ``n_init=10``, ``max_iter=300``, ``tol=1e-4``
relative to the features' mean variance). The reconstruction (``src/models/soundlenet5.py``,
``SoundLenet5New.forward``, mode ``'one'``) weighs them by ``w = softplus(fc0(image feature))`` and
divides by ``Σ_k w_k``: the missing feature is a convex combination of the priors.

Here K-means is plain torch (sklearn is not a dependency) with an explicit generator: the standard
k-means++ seeding (sklearn adds ``2 + log k`` greedy trials per centre) and Lloyd's iterations; a
cluster that loses every point keeps its centre. :func:`kmeans` started from given centres (``init``)
runs Lloyd's iterations from them once, so centre ``k`` stays the same cluster as the features drift.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn.functional import softplus

N_INIT, MAX_ITER, TOL = 10, 300, 1e-4
"""sklearn ``KMeans``'s defaults behind the official ``KMeans(n_clusters=10, random_state=0)``."""


def squared_distances(x: Tensor, centres: Tensor) -> Tensor:
    """``Float[n, k]``: ``||x_i - c_j||²`` of ``x: Float[n, D]`` and ``centres: Float[k, D]``."""
    cross = x @ centres.T
    return ((x * x).sum(1, keepdim=True) - 2 * cross + (centres * centres).sum(1)[None, :]).clamp_min(0.0)


def kmeans_plus_plus(x: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """``Float[k, D]``: k-means++ seeding (Arthur & Vassilvitskii 2007) of ``x: Float[n, D]``, ``n >= 1``."""
    first = int(torch.randint(x.shape[0], (1,), generator=generator))
    centres = [x[first]]
    closest = ((x - x[first]) ** 2).sum(1)
    for _ in range(1, k):
        total = closest.sum()
        if total > 0:
            pick = int(torch.multinomial(closest / total, 1, generator=generator))
        else:  # every point sits on a centre already
            pick = int(torch.randint(x.shape[0], (1,), generator=generator))
        centres.append(x[pick])
        closest = torch.minimum(closest, ((x - x[pick]) ** 2).sum(1))
    return torch.stack(centres)


def lloyd(x: Tensor, centres: Tensor, *, max_iter: int = MAX_ITER, tol: float = TOL) -> tuple[Tensor, float]:
    """``(centres, inertia)``: Lloyd's iterations from ``centres`` until the centres move less than ``tol`` times
    the mean per-feature variance of ``x`` (sklearn's criterion); an emptied cluster keeps its centre."""
    threshold = tol * float(x.var(0, unbiased=False).mean()) if x.shape[0] > 1 else 0.0
    for _ in range(max_iter):
        labels = squared_distances(x, centres).argmin(1)
        sums = torch.zeros_like(centres).index_add_(0, labels, x)
        counts = torch.bincount(labels, minlength=centres.shape[0]).to(x.dtype)[:, None]
        moved = torch.where(counts > 0, sums / counts.clamp_min(1.0), centres)
        shift = float(((moved - centres) ** 2).sum())
        centres = moved
        if shift <= threshold:
            break
    return centres, float(squared_distances(x, centres).min(1).values.sum())


def kmeans(
    x: Tensor,
    k: int,
    *,
    generator: torch.Generator,
    init: Tensor | None = None,
    n_init: int = N_INIT,
    max_iter: int = MAX_ITER,
    tol: float = TOL,
) -> Tensor:
    """``Float[k, D]``: K-means centroids of ``x: Float[n, D]`` (``n >= 1``).

    ``init`` given: Lloyd's iterations from it (one run). Otherwise the lowest-inertia of ``n_init``
    k-means++ runs; with ``n <= k`` points, the points themselves, repeated in order to ``k`` rows.
    """
    if x.dim() != 2 or x.shape[0] < 1:
        raise ValueError(f"kmeans needs Float[n >= 1, D] features; got {list(x.shape)}")
    if init is not None:
        return lloyd(x, init.to(x.dtype), max_iter=max_iter, tol=tol)[0]
    if x.shape[0] <= k:
        return x[torch.arange(k) % x.shape[0]].clone()
    best, best_inertia = x[:k], float("inf")
    for _ in range(n_init):
        centres, inertia = lloyd(x, kmeans_plus_plus(x, k, generator), max_iter=max_iter, tol=tol)
        if inertia < best_inertia:
            best, best_inertia = centres, inertia
    return best


def prior_mixture(logits: Tensor, priors: Tensor) -> Tensor:
    """``Float[N, D]``: ``Σ_k w_k P_k / Σ_k w_k`` of ``priors: Float[K, D]``, ``w = softplus(logits: Float[N, K])``."""
    weights = softplus(logits)
    return (weights @ priors) / weights.sum(1, keepdim=True)
