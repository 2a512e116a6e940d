"""Evaluation over every non-empty modality subset (the paper's protocol)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from mce_train.metrics import Metric
from mce_train.network import MultiModalNet
from mce_train.subsets import named_subsets

Predictor = Callable[[MultiModalNet, Any, Tensor], Tensor]
"""``(model, batch, keep: Bool[N, M]) -> prediction``: how a benchmark predicts a batch from a subset
(e.g. sliding-window inference over whole volumes); ``None`` encodes once and decodes per subset."""


@torch.no_grad()
def evaluate(
    model: MultiModalNet,
    batches: Iterable[Any],
    metric: Callable[[], Metric],
    device: torch.device,
    predictor: Predictor | None = None,
) -> dict[str, dict[str, float]]:
    """Metrics per subset name (``"image"``, ``"audio"``, ``"image+audio"``, ...).

    Subset ``S`` keeps ``S ∩ present`` of every sample (a sample lacking a modality of ``S`` in the
    source keeps the rest). Without a ``predictor`` each batch is encoded once and decoded per subset.
    """
    was_training = model.training
    model.eval()
    subsets = named_subsets(model.modalities)
    metrics = {name: metric() for name, _ in subsets}
    for batch in batches:
        batch = batch.to(device)
        h = None if predictor is not None else model.encode(batch.inputs, batch.present, batch.lengths, batch.extras)
        for name, mask in subsets:
            keep = batch.present & mask.to(device)
            prediction = predictor(model, batch, keep) if predictor is not None else model.predict(h, keep)  # type: ignore[arg-type]
            metrics[name].update(prediction, batch.target)
    model.train(was_training)
    return {name: m.compute() for name, m in metrics.items()}
