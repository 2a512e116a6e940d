"""Segmentation metrics accumulated over an evaluation split: BraTS Dice for WT, TC and ET.

Convention (the BraTS challenge's): Dice is computed per case and region, then averaged over cases.
A region empty in both the prediction and the ground truth scores 1 (nothing to find, nothing
found); a region empty in the ground truth but predicted somewhere scores 0.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mce_data import regions
from mce_losses import dice_score

REGIONS = ("wt", "tc", "et")
"""Whole tumour (labels 1, 2, 3), tumour core (1, 3), enhancing tumour (3)."""


def labels_of(prediction: Tensor) -> Tensor:
    """``Long[N, *spatial]`` labels: the arg-max over dim 1 of ``Float[N, classes, *spatial]`` scores, or the labels."""
    if prediction.is_floating_point():
        return prediction.argmax(1)
    return prediction


def region_dice(prediction: Tensor, target: Tensor) -> Tensor:
    """``Float[N, 3]``: per case, the Dice of WT, TC and ET (empty in both: 1).

    Args:
        prediction: ``Float[N, 4, *spatial]`` class scores (logits or probabilities) or ``Long[N, *spatial]``
            labels in ``{0, 1, 2, 3}``.
        target: ``Long[N, *spatial]`` labels in ``{0, 1, 2, 3}``.

    >>> target = torch.tensor([[0, 1, 2, 3]])
    >>> [round(v, 4) for v in region_dice(torch.tensor([[0, 2, 2, 3]]), target)[0].tolist()]  # TC: 2*1/(1+2)
    [1.0, 0.6667, 1.0]
    """
    labels = labels_of(prediction)
    if tuple(labels.shape) != tuple(target.shape):
        raise ValueError(
            f"prediction labels and target must have the same shape [N, *spatial]; got {tuple(labels.shape)} "
            f"(from prediction {tuple(prediction.shape)}) and {tuple(target.shape)}"
        )
    predicted, truth = regions(labels), regions(target)  # Bool[3, N, *spatial]
    return torch.stack([dice_score(predicted[r], truth[r]) for r in range(len(REGIONS))], dim=1)


class RegionDiceMetric:
    """Mean per-case Dice of WT, TC, ET and their mean ``dice``, in percent.

    >>> metric = RegionDiceMetric()
    >>> metric.update(torch.tensor([[0, 2, 2, 3]]), torch.tensor([[0, 1, 2, 3]]))
    >>> metric.update(torch.tensor([[0, 0, 0, 0]]), torch.tensor([[0, 0, 0, 0]]))
    >>> {k: round(v, 2) for k, v in metric.compute().items()}
    {'dice': 94.44, 'wt': 100.0, 'tc': 83.33, 'et': 100.0}
    """

    def __init__(self) -> None:
        self.sums = torch.zeros(len(REGIONS), dtype=torch.float64)
        self.cases = 0

    def update(self, prediction: Tensor, target: Tensor) -> None:
        """Add a batch: ``prediction`` scores ``Float[N, 4, *spatial]`` or labels ``Long[N, *spatial]``."""
        scores = region_dice(prediction, target)
        self.sums += scores.double().sum(0).cpu()
        self.cases += int(scores.shape[0])

    def merge(self, other: RegionDiceMetric) -> None:
        """Add another accumulator's cases (e.g. gathered from another rank)."""
        self.sums += other.sums
        self.cases += other.cases

    def compute(self) -> dict[str, float]:
        if self.cases == 0:
            raise ValueError("no predictions were accumulated")
        means = self.sums / self.cases * 100
        return {"dice": float(means.mean()), **{name: float(v) for name, v in zip(REGIONS, means, strict=True)}}
