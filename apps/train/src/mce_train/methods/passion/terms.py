"""PASSION's computations on tensors: pixel-wise and semantic-wise self-distillation, the relative preference of
each modality (per step and per epoch) and the task-wise weight update (:mod:`mce_train.methods.passion.method`
says where each comes from and what is ours).

Shapes: ``n`` samples, ``K`` classes, ``C`` feature channels, ``L`` locations (voxels, BEV cells; 1 for a
vector task), ``M`` modalities.
"""

from __future__ import annotations

import math

import torch
from einops import rearrange
from torch import Tensor
from torch.nn import functional

from mce_train.methods.pmr.prototypes import class_sums, locations

PROBABILITY_FLOOR = 0.005
"""Jun-Jie-Shi/PASSION code/utils/criterions.py ``temp_kl_loss_bs``: both softened maps clamped to [0.005, 1]."""
COSINE_EPS = 1e-5
"""criterions.py ``prototype_passion_loss_bs``: ``eps = 1e-5`` in the class means and the cosine similarities."""
BETA_RANGE = (0.1, 4.0)
"""Jun-Jie-Shi/PASSION code/train.py: ``torch.clamp(imb_beta, min=0.1, max=4.0)``."""


def class_logits(prediction: Tensor) -> Tensor:
    """``Float[n, K, L]`` class logits per location from ``Float[n, K]`` or ``Float[n, K, *space]``; a single
    binary logit ``z`` (``K = 1``, nuScenes) becomes the two classes ``(0, z)`` (softmax = (1 - σ(z), σ(z)))."""
    x = prediction.float()
    x = x[:, :, None] if x.dim() == 2 else x.flatten(2)
    return torch.cat([torch.zeros_like(x), x], dim=1) if x.shape[1] == 1 else x


def valid_locations(target: Tensor) -> Tensor:
    """``Bool[n, L]``: the locations of ``Long[n]`` or ``Long[n, *space]`` labels that count (negative: ignored)."""
    return target.reshape(target.shape[0], -1) >= 0


def pixel_distillation(student: Tensor, teacher: Tensor, valid: Tensor, temperature: float) -> Tensor:
    """``Float[n]``: ``T² · mean_{k, l} p_t (log p_t - log p_s)`` over the classes and valid locations, with
    ``p = clamp(softmax(logits / T), 0.005, 1)`` (``temp_kl_loss_bs``: the mean runs over classes too).

    Args:
        student, teacher: predictions (:func:`class_logits` shapes); the teacher is used as given (detach it).
        valid: ``Bool[n, L]`` (:func:`valid_locations`).
    """
    s, t = class_logits(student), class_logits(teacher)
    p_s = torch.softmax(s / temperature, 1).clamp(PROBABILITY_FLOOR, 1.0)
    p_t = torch.softmax(t / temperature, 1).clamp(PROBABILITY_FLOOR, 1.0)
    kl = temperature**2 * (p_t * (p_t.log() - p_s.log())).sum(1)  # Float[n, L]
    weight = valid.to(kl.dtype)
    return (kl * weight).sum(1) / (s.shape[1] * weight.sum(1).clamp_min(1.0))


def similarity_maps(features: Tensor, weights: Tensor) -> tuple[Tensor, Tensor]:
    """``(sim Float[G, K, L], present Bool[G, K])``: each location's cosine similarity to each class prototype of
    its group (the class mean of the group's features, ``Σ w f / (Σ w + 1e-5)``); ``present``: the classes the
    group has.

    Args:
        features: ``Float[G, C, L]``; weights: ``Float[G, K, L]`` (PMR's ``class_weights``, per group).
    """
    pairs = [class_sums(features[g : g + 1], weights[g : g + 1]) for g in range(features.shape[0])]
    sums = torch.stack([s for s, _ in pairs])  # Float[G, K, C]
    counts = torch.stack([c for _, c in pairs])  # Float[G, K]
    prototypes = sums / (counts + COSINE_EPS)[:, :, None]
    sim = functional.cosine_similarity(features.float()[:, None], prototypes[:, :, :, None], dim=2, eps=COSINE_EPS)
    return sim, counts > 0


def semantic_distillation(student: Tensor, teacher: Tensor, weights: Tensor) -> tuple[Tensor, Tensor]:
    """``(loss Float[n], distance Float[n])``: the mean squared and mean absolute gap between the student's and the
    teacher's prototype-similarity maps, over the present classes and valid locations.

    Dense features (``Float[n, C, *space]``): one group per sample, as ``prototype_passion_loss_bs`` does.
    Vector features (``Float[n, C]``): the samples are the locations of one group, the batch (ours: a per-sample
    prototype of one vector is the vector itself).

    Args:
        student, teacher: features; the teacher is used as given (detach it).
        weights: ``Float[n, K, L]`` class weights at the features' locations (PMR's ``class_weights``).
    """
    dense = student.dim() > 2
    fs, ft = locations(student), locations(teacher)
    w = weights
    if not dense:  # one group, the batch: [n, C, 1] -> [1, C, n]
        fs, ft = (rearrange(x, "batch channel one -> one channel batch") for x in (fs, ft))
        w = rearrange(w, "batch classes one -> one classes batch")
    sim_s, present = similarity_maps(fs, w)
    sim_t, _ = similarity_maps(ft, w)
    gap = sim_s - sim_t  # Float[G, K, L]
    cell = (present[:, :, None] & (w.sum(1) > 0)[:, None, :]).to(gap.dtype)
    if dense:
        count = cell.sum((1, 2)).clamp_min(1.0)
        return (gap.square() * cell).sum((1, 2)) / count, (gap.abs() * cell).sum((1, 2)) / count
    count = cell.sum(1).clamp_min(1.0)  # per location: per sample
    return (gap.square() * cell).sum(1)[0] / count[0], (gap.abs() * cell).sum(1)[0] / count[0]


def step_preference(distance: Tensor, present: Tensor) -> Tensor:
    """``Float[M]``: the step's ``rp_iter = Σ_b mask_bm (d_bm / d̄_b - 1)``, ``d̄_b`` the mean of sample ``b``'s
    distances over its modalities (official ``train.py``, IDT branch). Positive: ``m`` trails the teacher more
    than its sample's other modalities. A sample whose distances are all zero (one modality: the student is the
    teacher) adds nothing (ours; the official division gives NaN).

    Args:
        distance: ``Float[N, M]`` (:func:`semantic_distillation`'s distance; anything where absent);
        present: ``Bool[N, M]``.
    """
    mask = present.to(distance.dtype)
    d = distance * mask
    mean = d.sum(1) / mask.sum(1).clamp_min(1.0)
    ratio = d / mean.clamp_min(torch.finfo(d.dtype).tiny)[:, None] - 1
    ratio = torch.where(mean[:, None] > 0, ratio, torch.zeros_like(ratio))
    return (ratio * mask).sum(0)


def epoch_preference(distance: Tensor, defined: Tensor) -> Tensor:
    """``Float[M]``: ``rp_epoch = (D̄ - D_m) / D̄`` from each modality's mean distance ``D_m`` over the epoch and
    their mean ``D̄`` (official ``train.py``); positive: ``m`` is closer to the teacher (dominant). Zero for a
    modality no sample had (``defined`` false) or when every distance is zero."""
    mean = distance[defined].mean() if bool(defined.any()) else distance.new_zeros(())
    if float(mean) <= 0:
        return torch.zeros_like(distance)
    return torch.where(defined, (mean - distance) / mean, torch.zeros_like(distance))


def update_weights(beta: Tensor, preference: Tensor, eta: float) -> Tensor:
    """``Float[M]``: the task-wise weights after an epoch: ``β - η·rp_epoch`` clamped to [0.1, 4], then scaled to
    norm ``√M`` (official: ``2·β / ||β||`` with ``M = 4``; ``√M`` keeps unit weights a fixed point for any M)."""
    b = (beta - eta * preference).clamp(*BETA_RANGE)
    scaled: Tensor = math.sqrt(beta.numel()) * b / b.norm()
    return scaled
