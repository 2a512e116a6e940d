"""The BraTS2020 benchmark's predictors over whole volumes: sliding-window inference with the model's training
crop and 50 % overlap, for the fused prediction from a subset of modalities and for one modality's unimodal head.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from mce_data import sliding_window_inference
from mce_train.network import MultiModalNet


def sliding_window_predictor(model: MultiModalNet, batch: Any, keep: Tensor) -> Tensor:
    """``Float[N, 4, D, H, W]`` class probabilities of whole volumes from the modalities in ``keep``.

    Each volume is tiled with windows of the model's training crop (``model.patch``) overlapping by
    50 %; only the kept modalities are encoded, and overlapping windows are averaged.
    """
    patch: tuple[int, int, int] | None = getattr(model, "patch", None)
    if patch is None:
        raise TypeError(f"sliding-window inference needs a model with a training crop size .patch; got {type(model)}")
    names = model.modalities
    window_batch = 4 if patch[0] >= 64 else 8
    outputs = []
    for row in range(len(batch)):
        volume = torch.cat([batch.inputs[name][row] for name in names])  # Float[M, D, H, W]
        kept = keep[row : row + 1]

        def predict(windows: Tensor, kept: Tensor = kept) -> Tensor:
            present = kept.expand(windows.shape[0], -1)
            inputs = {name: windows[:, m : m + 1] for m, name in enumerate(names)}
            return model.predict(model.encode(inputs, present), present).float().softmax(1)

        outputs.append(sliding_window_inference(volume, predict, patch, overlap=0.5, batch_size=window_batch))
    return torch.stack(outputs)


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
