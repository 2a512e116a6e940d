"""The BraTS2020 benchmark's loss and coalition value: the task loss (per-case soft Dice plus cross-entropy over
the four classes) and ``f_acc`` (the mean Dice of the whole tumour, tumour core and enhancing tumour regions).
"""

from __future__ import annotations

from torch import Tensor
from torch.nn import functional

from mce_train.benchmarks.brats.metrics import region_dice


def dice_cross_entropy(prediction: Tensor, target: Tensor, *, smooth: float = 1.0) -> Tensor:
    """Per-case soft Dice (mean over the 4 classes) plus voxel-mean cross-entropy, ``Float[N]``.

    Args:
        prediction: ``Float[N, 4, *spatial]`` logits.
        target: ``Long[N, *spatial]`` labels.
        smooth: added to the Dice numerator and denominator (a class absent from both scores 1).
    """
    logits = prediction.float()
    cross_entropy = functional.cross_entropy(logits, target, reduction="none").flatten(1).mean(1)
    probabilities = logits.softmax(1).flatten(2)  # Float[N, K, voxels]
    one_hot = functional.one_hot(target.flatten(1), logits.shape[1]).transpose(1, 2).to(probabilities.dtype)
    overlap = (probabilities * one_hot).sum(2)
    total = probabilities.sum(2) + one_hot.sum(2)
    dice = (2 * overlap + smooth) / (total + smooth)
    return cross_entropy + 1 - dice.mean(1)


def mean_region_dice(prediction: Tensor, target: Tensor) -> Tensor:
    """The coalition value ``f_acc``: per case, the mean Dice of WT, TC and ET (``Float[N]``, detached)."""
    return region_dice(prediction.detach(), target).mean(1)
