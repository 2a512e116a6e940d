"""Evaluation over every non-empty modality subset (the paper's protocol), each input encoded once.

The encoders see each sample once per batch; the completion module, the fusion and the decoder run
per subset, the subsets batched (as the MCE training step batches its coalitions). A benchmark with
its own predictor (BraTS' sliding windows over whole volumes) does the same per window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from mce_train.metrics import Metric
from mce_train.network import MultiModalNet
from mce_train.subsets import named_subsets

Predictor = Callable[[MultiModalNet, Any, Tensor], Tensor]
"""``(model, batch, keeps: Bool[S, N, M]) -> predictions[S, N, ...]``: how a benchmark predicts a batch from every
subset ``keeps[s]`` at once (e.g. sliding-window inference over whole volumes); ``None``: :func:`predict_subsets`."""


def subset_keeps(present: Tensor, masks: Tensor) -> Tensor:
    """``Bool[S, N, M]``: what each subset ``masks[s]`` (``Bool[S, M]``) keeps of each sample's ``present``
    (``Bool[N, M]``).

    >>> subset_keeps(torch.tensor([[True, False]]), torch.tensor([[True, True], [False, True]])).tolist()
    [[[True, False]], [[False, False]]]
    """
    return present[None, :, :] & masks[:, None, :]


def predict_subsets(model: MultiModalNet, batch: Any, keeps: Tensor) -> Tensor:
    """``prediction[S, N, ...]``: the batch encoded once (every modality it has), then decoded per subset."""
    h = model.encode(batch.inputs, batch.present, batch.lengths, batch.extras)
    return model.predict_subsets(h, keeps)


def predict_each_subset(model: MultiModalNet, batch: Any, keeps: Tensor) -> Tensor:
    """``prediction[S, N, ...]`` the slow way, the reference of :func:`predict_subsets`: per subset, only its
    modalities encoded, then :meth:`~mce_train.network.MultiModalNet.predict`."""
    return torch.stack(
        [model.predict(model.encode(batch.inputs, keep, batch.lengths, batch.extras), keep) for keep in keeps]
    )


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
    source keeps the rest). Every subset of a batch is predicted by one call of ``predictor``
    (default :func:`predict_subsets`: one encoder pass, the subsets batched after it).
    """
    was_training = model.training
    model.eval()
    subsets = named_subsets(model.modalities)
    masks = torch.stack([mask for _, mask in subsets]).to(device)
    metrics = {name: metric() for name, _ in subsets}
    predict = predictor if predictor is not None else predict_subsets
    for batch in batches:
        batch = batch.to(device)
        predictions = predict(model, batch, subset_keeps(batch.present, masks))
        for (name, _), prediction in zip(subsets, predictions, strict=True):
            metrics[name].update(prediction, batch.target)
    model.train(was_training)
    return {name: m.compute() for name, m in metrics.items()}
