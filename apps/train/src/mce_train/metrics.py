"""Evaluation metrics accumulated over a split: classification (accuracy, UAR, macro-F1)."""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor


class Metric(Protocol):
    """Accumulates predictions batch by batch; ``compute`` gives named percentages."""

    def update(self, prediction: Tensor, target: Tensor) -> None: ...

    def compute(self) -> dict[str, float]: ...


class ClassificationMetric:
    """Confusion-matrix metrics: accuracy, unweighted average recall (UAR) and macro-F1, in percent.

    >>> metric = ClassificationMetric(2)
    >>> metric.update(torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]]), torch.tensor([0, 1, 1]))
    >>> round(metric.compute()["accuracy"], 4)
    66.6667
    """

    def __init__(self, n_classes: int) -> None:
        self.n_classes = n_classes
        self.confusion = torch.zeros(n_classes, n_classes, dtype=torch.long)

    def update(self, prediction: Tensor, target: Tensor) -> None:
        """``prediction``: logits ``Float[N, classes]``; ``target``: ``Long[N]``."""
        if prediction.shape != (target.shape[0], self.n_classes):
            raise ValueError(
                f"expected logits of shape ({target.shape[0]}, {self.n_classes}); got {tuple(prediction.shape)}"
            )
        index = target.cpu() * self.n_classes + prediction.argmax(1).cpu()
        self.confusion += torch.bincount(index, minlength=self.n_classes**2).view(self.n_classes, self.n_classes)

    def merge(self, other: ClassificationMetric) -> None:
        """Add another accumulator's counts (e.g. gathered from another rank)."""
        self.confusion += other.confusion

    def compute(self) -> dict[str, float]:
        confusion = self.confusion.double()
        total = confusion.sum()
        if total == 0:
            raise ValueError("no predictions were accumulated")
        hits = confusion.diagonal()
        support = confusion.sum(1)
        predicted = confusion.sum(0)
        seen = support > 0
        recall = hits[seen] / support[seen]
        precision = torch.where(predicted > 0, hits / predicted.clamp(min=1), torch.zeros_like(hits))
        f1 = torch.where(
            precision + hits / support.clamp(min=1) > 0,
            2 * precision * (hits / support.clamp(min=1)) / (precision + hits / support.clamp(min=1)),
            torch.zeros_like(hits),
        )
        return {
            "accuracy": float(hits.sum() / total * 100),
            "uar": float(recall.mean() * 100),
            "macro_f1": float(f1[seen].mean() * 100),
        }
