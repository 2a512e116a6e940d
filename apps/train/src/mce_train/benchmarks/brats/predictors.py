"""The BraTS2020 benchmark's predictors over whole volumes: sliding-window inference with the model's training
crop and 50 % overlap, for the fused prediction from a subset of modalities and for one modality's unimodal head.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from einops import rearrange, repeat
from torch import Tensor

from mce_data import sliding_window_inference
from mce_train.benchmarks.brats.blocks import N_FLAGS
from mce_train.benchmarks.brats.models import FusionHead
from mce_train.network import MultiModalNet

DECODED_VOXELS = 2**22
"""Full-resolution voxels (windows x subsets) decoded at once: bounds the decoder's activations (8 rows of 80³)."""
ACCUMULATOR_BUDGET = 2**29
"""Elements of the float64 window average (``subsets x 4`` maps of a whole volume, 4 GiB) kept at once; more
subsets than fit are predicted in groups, one encoder pass per group (one group for a 240x240x155 volume)."""


def predict_subsets(model: MultiModalNet, h: Tensor, keeps: Tensor, *, voxels: int = DECODED_VOXELS) -> Tensor:
    """``Float[S, N, 4, D, H, W]`` logits of every subset ``keeps[s]`` (``Bool[S, N, M]``) from packed features
    ``h`` (``Float[N, M, F, g, g, g]``): :meth:`~mce_train.network.MultiModalNet.predict` per subset, up to rounding.

    With the BraTS fusion head (and ``predict = head(complete(h, keep))``) only the bottleneck and flags are
    completed per subset, and each skip enters the decoder through its term of the first convolution of
    its level, computed once per modality (:meth:`FusionHead.skip_terms`) and averaged per subset; any
    other network goes through :meth:`~mce_train.network.MultiModalNet.predict_subsets`.
    """
    head = getattr(model, "head", None)
    if not isinstance(head, FusionHead) or type(model).predict is not MultiModalNet.predict:
        return model.predict_subsets(h, keeps)
    width = head.layout.bottleneck + N_FLAGS
    terms = head.skip_terms(head.layout.unpack(h).skips)
    slim = h[:, :, :width]  # the bottleneck and flags: what completion changes per subset
    decoded = h.shape[0] * math.prod(h.shape[3:]) * 8**head.layout.depth  # full-resolution voxels per subset
    chunk = max(1, voxels // max(1, decoded))
    logits = []
    for first in range(0, keeps.shape[0], chunk):
        keep = keeps[first : first + chunk]
        subsets = keep.shape[0]
        completed = model.complete(
            repeat(slim, "batch ... -> (subset batch) ...", subset=subsets),
            rearrange(keep, "subset batch modality -> (subset batch) modality"),
        )[:, :, :width]
        completed = rearrange(completed, "(subset batch) ... -> subset batch ...", subset=subsets)
        logits.append(head.forward_subsets(completed, terms))
    return torch.cat(logits)


def sliding_window_predictor(model: MultiModalNet, batch: Any, keeps: Tensor) -> Tensor:
    """``Float[S, N, 4, D, H, W]`` class probabilities of whole volumes from each subset ``keeps[s]``
    (``Bool[S, N, M]``).

    Each volume is tiled with windows of the model's training crop (``model.patch``) overlapping by
    50 %; each window is encoded once (every modality the volume has) and decoded for every subset
    (:func:`predict_subsets`), and overlapping windows are averaged per subset.
    """
    patch: tuple[int, int, int] | None = getattr(model, "patch", None)
    if patch is None:
        raise TypeError(f"sliding-window inference needs a model with a training crop size .patch; got {type(model)}")
    names = model.modalities
    window_batch = 4 if patch[0] >= 64 else 8
    n_subsets = keeps.shape[0]
    voxels = math.prod(batch.inputs[names[0]].shape[2:])
    group = max(1, ACCUMULATOR_BUDGET // (4 * voxels))
    outputs = []
    for row in range(len(batch)):
        volume = torch.cat([batch.inputs[name][row] for name in names])  # Float[M, D, H, W]
        present = batch.present[row : row + 1]
        per_group = []
        for first in range(0, n_subsets, group):
            kept = keeps[first : first + group, row]  # Bool[s, M]

            def predict(windows: Tensor, kept: Tensor = kept, present: Tensor = present) -> Tensor:
                count = windows.shape[0]
                inputs = {name: windows[:, m : m + 1] for m, name in enumerate(names)}
                h = model.encode(inputs, present.expand(count, -1))
                window_keeps = repeat(kept, "subset modality -> subset window modality", window=count)
                probabilities = predict_subsets(model, h, window_keeps).float().softmax(2)
                return rearrange(probabilities, "subset window label d h w -> window (subset label) d h w")

            mean = sliding_window_inference(volume, predict, patch, overlap=0.5, batch_size=window_batch)
            per_group.append(rearrange(mean, "(subset label) d h w -> subset label d h w", subset=kept.shape[0]))
        outputs.append(torch.cat(per_group))
    return torch.stack(outputs, dim=1)


def sliding_window_each_subset(model: MultiModalNet, batch: Any, keeps: Tensor) -> Tensor:
    """:func:`sliding_window_predictor` the slow way, its reference: a whole sliding-window pass per subset and
    volume, each window encoded from the subset's modalities only."""
    patch: tuple[int, int, int] | None = getattr(model, "patch", None)
    if patch is None:
        raise TypeError(f"sliding-window inference needs a model with a training crop size .patch; got {type(model)}")
    names = model.modalities
    window_batch = 4 if patch[0] >= 64 else 8
    per_subset = []
    for keep in keeps:
        outputs = []
        for row in range(len(batch)):
            volume = torch.cat([batch.inputs[name][row] for name in names])  # Float[M, D, H, W]
            kept = keep[row : row + 1]

            def predict(windows: Tensor, kept: Tensor = kept) -> Tensor:
                present = kept.expand(windows.shape[0], -1)
                inputs = {name: windows[:, m : m + 1] for m, name in enumerate(names)}
                return model.predict(model.encode(inputs, present), present).float().softmax(1)

            outputs.append(sliding_window_inference(volume, predict, patch, overlap=0.5, batch_size=window_batch))
        per_subset.append(torch.stack(outputs))
    return torch.stack(per_subset)


def sliding_window_unimodal(model: MultiModalNet, batch: Any, m: int) -> Tensor:
    """``Float[N, 4, D, H, W]`` class probabilities of modality ``m``'s unimodal head ``f_dec^m`` over whole volumes.

    The unimodal counterpart of :func:`sliding_window_predictor` (for the upper-bound models' validation).
    """
    patch: tuple[int, int, int] | None = getattr(model, "patch", None)
    if patch is None:
        raise TypeError(f"sliding-window inference needs a model with a training crop size .patch; got {type(model)}")
    names = model.modalities
    only = torch.zeros(1, len(names), dtype=torch.bool, device=batch.present.device)
    only[0, m] = True

    def predict(windows: Tensor) -> Tensor:
        present = only.expand(windows.shape[0], -1)
        h = model.encode(dict.fromkeys(names, windows), present)
        return model.unimodal(h, m).float().softmax(1)

    window_batch = 4 if patch[0] >= 64 else 8
    outputs = [
        sliding_window_inference(batch.inputs[names[m]][row], predict, patch, overlap=0.5, batch_size=window_batch)
        for row in range(len(batch))
    ]
    return torch.stack(outputs)
