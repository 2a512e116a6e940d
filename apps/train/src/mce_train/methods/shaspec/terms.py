"""ShaSpec's computations on tensors: missing-feature generation and the two auxiliary objectives.

Shapes: ``r`` and ``s`` are the shared and specific features ``Float[N, M, C, *space]`` (vectors: no
space; nuScenes: ``[X, Y]``; BraTS: the bottleneck grid ``[g, g, g]``), zero in the slots of absent
modalities; ``keep`` / ``present`` are ``Bool[N, M]``.
"""

from __future__ import annotations

import torch
from einops import reduce
from torch import Tensor
from torch.nn import functional

GENERATIONS = ("mean", "first")
"""How a dropped modality's feature is generated from the kept modalities' shared features: their mean (the
paper) or the first kept one's (the official BraTS code, ``DualNet_SS.py``: ``general_shared_ft``)."""


def slot_mask(keep: Tensor, dims: int) -> Tensor:
    """``Bool[N, M, 1, ...]``: ``keep`` broadcastable over a ``dims``-dimensional ``[N, M, C, *space]`` tensor."""
    return keep.reshape(*keep.shape, *([1] * (dims - 2)))


def generate_missing(r: Tensor, keep: Tensor, rule: str = "mean") -> Tensor:
    """``Float[N, C, *space]``: each sample's feature for its dropped slots, from the shared features it keeps.

    ``"mean"``: the mean of the kept modalities' shared features; ``"first"``: the shared feature of the
    lowest-index kept modality. A sample that keeps nothing gets zeros (nothing to generate from).
    """
    if rule not in GENERATIONS:
        raise ValueError(f"rule must be one of {GENERATIONS}; got {rule!r}")
    if keep.shape != r.shape[:2]:
        raise ValueError(f"expected keep Bool[{r.shape[0]}, {r.shape[1]}]; got {list(keep.shape)}")
    weights = keep.to(r.dtype)
    if rule == "first":
        first = keep.long().argmax(1)  # torch.argmax returns the first maximal index
        weights = functional.one_hot(first, keep.shape[1]).to(r.dtype) * keep.any(1, keepdim=True).to(r.dtype)
    else:
        weights = weights / keep.sum(1, keepdim=True).clamp(min=1).to(r.dtype)
    kept = torch.where(slot_mask(keep, r.dim()), r, torch.zeros_like(r))  # dropped slots never read (NaN-safe)
    return (kept * slot_mask(weights, r.dim())).sum(1)


def assemble(fused: Tensor, r: Tensor, keep: Tensor, rule: str = "mean") -> Tensor:
    """``Float[N, M, C, *space]``: the fused feature in kept slots, the generated one (:func:`generate_missing`)
    in dropped slots."""
    generated = generate_missing(r, keep, rule).unsqueeze(1).to(fused.dtype)
    return torch.where(slot_mask(keep, fused.dim()), fused, generated)


def alignment_pairs(n_modalities: int) -> list[tuple[int, int]]:
    """The modality pairs whose shared features are aligned: the cycle ``(0, 1), (1, 2), ..., (M-1, 0)`` of the
    official code (``train_SS.py``, "SimShareAllPairs": flair-t1, t1-t1ce, t1ce-t2, t2-flair), each unordered
    pair once (two modalities: one pair)."""
    pairs: list[tuple[int, int]] = []
    for m in range(n_modalities):
        pair = (min(m, (m + 1) % n_modalities), max(m, (m + 1) % n_modalities))
        if pair[0] != pair[1] and pair not in pairs:
            pairs.append(pair)
    return pairs


def distribution_alignment(r: Tensor, present: Tensor) -> Tensor:
    """``L_dao``: the sum over :func:`alignment_pairs` of the L1 distance (``nn.L1Loss``, the mean absolute
    difference over elements) between the two modalities' shared features, over the samples that have both.

    A pair no sample has both of contributes zero.
    """
    total = r.new_zeros((), dtype=torch.float32)
    for a, b in alignment_pairs(r.shape[1]):
        rows = (present[:, a] & present[:, b]).nonzero().squeeze(1)
        if rows.numel() == 0:
            continue
        total = total + functional.l1_loss(r[rows, a].float(), r[rows, b].float())
    return total


def pooled(s: Tensor) -> Tensor:
    """``Float[N, M, C]``: features averaged over their spatial locations (vectors as they are), the input of the
    domain classifier (the official code classifies the spatial mean of the specific encoder's last features)."""
    if s.dim() == 3:
        return s
    return reduce(s, "batch modality channel ... -> batch modality channel", "mean")


def domain_classification(logits: Tensor, present: Tensor) -> Tensor:
    """``L_dco``: the cross-entropy of the domain classifier's ``logits`` (``Float[N, M, M]``: per sample and
    slot, one logit per modality) against each slot's own modality index, averaged over the present slots."""
    n, m = present.shape
    labels = torch.arange(m, device=logits.device).expand(n, m)
    if not bool(present.any()):
        return logits.new_zeros((), dtype=torch.float32)
    return functional.cross_entropy(logits[present].float(), labels[present])
