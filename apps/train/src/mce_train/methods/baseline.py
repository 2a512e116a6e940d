"""The baseline: the benchmark's multi-modal network trained on its task loss alone (Table 2, row a)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from mce_train.methods import register_method
from mce_train.methods.base import Method, MethodContext, PerSample
from mce_train.network import MultiModalNet


@register_method(
    "baseline",
    paper="the benchmark's own network, task loss only (MCE paper, Table 2 row a)",
    benchmarks=("avmnist", "iemocap", "brats", "nuscenes"),
)
class Baseline(Method):
    """The plain multi-modal model trained on its task loss only."""

    def __init__(self, task_loss: PerSample) -> None:
        self.task_loss = task_loss

    @classmethod
    def create(cls, context: MethodContext) -> Baseline:
        return cls(context.bench.task_loss)

    def loss(self, model: MultiModalNet, batch: Any) -> tuple[Tensor, dict[str, float]]:
        prediction = model(batch.inputs, batch.present, batch.lengths, batch.extras)
        return self.task_loss(prediction, batch.target).mean(), {}
