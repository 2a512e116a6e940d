"""nuScenes' per-sample task loss and coalition value over the valid BEV cells."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional

from mce_losses import iou_score
from mce_train.benchmarks.nuscenes.metrics import masks, vehicle_logits

POS_WEIGHT = 2.13
"""Simple-BEV's positive-class weight of the BCE (``SimpleLoss(2.13)``): vehicles cover few cells."""


def bev_bce(prediction: Tensor, target: Tensor) -> Tensor:
    """Per-sample task loss ``Float[N]``: BCE with logits (positive weight 2.13) averaged over valid cells."""
    logits = vehicle_logits(prediction)
    _, vehicle, valid = masks(prediction, target)
    weight = torch.tensor(POS_WEIGHT, dtype=logits.dtype, device=logits.device)
    loss = functional.binary_cross_entropy_with_logits(
        logits, vehicle.to(logits.dtype), pos_weight=weight, reduction="none"
    )
    loss = torch.where(valid, loss, torch.zeros_like(loss))
    return loss.flatten(1).sum(1) / valid.flatten(1).sum(1).clamp_min(1).to(logits.dtype)


def bev_iou(prediction: Tensor, target: Tensor) -> Tensor:
    """Per-sample coalition value ``Float[N]``: the IoU of the vehicle mask over valid cells (1 when both empty)."""
    predicted, vehicle, valid = masks(prediction, target)
    return iou_score(predicted, vehicle, valid=valid)
