"""BEV segmentation metric: vehicle IoU accumulated over a whole split (Simple-BEV's evaluation).

Targets are ``Long[N, X, Y]`` with 1 for vehicle, 0 for background and :data:`IGNORE` for cells left
out of the evaluation (nuScenes' ``valid`` mask: vehicles less than 40 % visible). The IoU is the sum
of intersections over the sum of unions of all valid cells of every sample, not a mean of
per-sample IoUs: a sample with a large vehicle weighs more than one with a small one.
"""

from __future__ import annotations

from torch import Tensor

IGNORE = -1
"""Target value of cells that do not count (neither in the loss, the score nor the metric)."""


def vehicle_logits(prediction: Tensor) -> Tensor:
    """``Float[N, X, Y]``: the vehicle logit of a ``Float[N, 1, X, Y]`` (or ``Float[N, X, Y]``) prediction."""
    if prediction.dim() == 4 and prediction.shape[1] == 1:
        return prediction[:, 0]
    if prediction.dim() == 3:
        return prediction
    raise ValueError(f"expected vehicle logits Float[N, 1, X, Y] or Float[N, X, Y]; got {list(prediction.shape)}")


def masks(prediction: Tensor, target: Tensor, threshold: float = 0.0) -> tuple[Tensor, Tensor, Tensor]:
    """``(predicted, vehicle, valid)``, each ``Bool[N, X, Y]``, from logits and a target with :data:`IGNORE`."""
    logits = vehicle_logits(prediction)
    if logits.shape != target.shape:
        raise ValueError(f"prediction {list(prediction.shape)} does not match target {list(target.shape)}")
    return logits > threshold, target == 1, target != IGNORE


class BEVIoUMetric:
    """Vehicle IoU over the evaluation set, in percent: ``100 · Σ|P ∩ T| / Σ|P ∪ T|`` over valid cells.

    Args:
        threshold: a cell is predicted vehicle where its logit exceeds this (0: probability 0.5).

    >>> import torch
    >>> metric = BEVIoUMetric()
    >>> metric.update(torch.tensor([[[[1.0, 1.0], [-1.0, -1.0]]]]), torch.tensor([[[1, 0], [0, 0]]]))
    >>> metric.update(torch.tensor([[[[1.0, 1.0], [1.0, 1.0]]]]), torch.tensor([[[1, 1], [1, -1]]]))
    >>> round(metric.compute()["iou"], 4)  # (1 + 3) / (2 + 3), not the mean of 1/2 and 3/3
    80.0
    """

    def __init__(self, threshold: float = 0.0) -> None:
        self.threshold = threshold
        self.intersection = 0
        self.union = 0
        self.cells = 0

    def update(self, prediction: Tensor, target: Tensor) -> None:
        """``prediction``: logits ``Float[N, 1, X, Y]``; ``target``: ``Long[N, X, Y]`` with :data:`IGNORE`."""
        predicted, vehicle, valid = masks(prediction, target, self.threshold)
        predicted, vehicle = predicted & valid, vehicle & valid
        self.intersection += int((predicted & vehicle).sum())
        self.union += int((predicted | vehicle).sum())
        self.cells += int(valid.sum())

    def merge(self, other: BEVIoUMetric) -> None:
        """Add another accumulator's counts (e.g. gathered from another rank)."""
        self.intersection += other.intersection
        self.union += other.union
        self.cells += other.cells

    def compute(self) -> dict[str, float]:
        """``{"iou": percent}``; 100 when no valid cell holds or predicts a vehicle (nothing to find, none found)."""
        if self.cells == 0:
            raise ValueError("no valid cells were accumulated")
        if self.union == 0:
            return {"iou": 100.0}
        return {"iou": 100.0 * self.intersection / self.union}
