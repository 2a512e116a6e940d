"""What the trainer needs to know about a benchmark, and the small helpers every benchmark shares.

Each :class:`Benchmark` builds its three splits from the layout users already have on disk (or the
synthetic files mce-data writes in that layout), its network and its schedule, at one of two
sizes: ``paper`` (the paper's Table 1 settings and the official code's, the default) and ``quick``
(smoke runs and tests, seconds to minutes on a CPU). Each benchmark's ``recipe.py`` says where every
value comes from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional

from mce_data import MissingMask, MultiModalDataset, TensorMultiModalDataset
from mce_train.evaluation import Predictor
from mce_train.metrics import Metric
from mce_train.network import MultiModalNet
from mce_train.recipe import Recipe


def cross_entropy(prediction: Tensor, target: Tensor) -> Tensor:
    """Per-sample cross-entropy, ``Float[N]``."""
    return functional.cross_entropy(prediction, target, reduction="none")


@dataclass(frozen=True)
class Splits:
    """The base (complete) datasets of one benchmark, and where they came from."""

    train: Any
    val: Any
    test: Any
    source: str
    protocols: Mapping[str, Callable[[float], MissingMask]] = field(default_factory=dict)
    """Training masks the benchmark's own protocols define, by name: the mask of ``train`` at a value (AVMNIST's
    ``fig7``: the fraction of samples with audio)."""


@dataclass(frozen=True)
class Benchmark:
    """What the trainer needs to know about one benchmark."""

    name: str
    modalities: tuple[str, ...]
    build: Callable[[Mapping[str, Any], Splits], MultiModalNet]
    """The network from the recipe's ``model`` section."""
    recipe: Callable[[str, int], Recipe]
    """The recipe at a size (``paper`` or ``quick``) for a training split of ``n_train`` samples."""
    splits: Callable[[Path, Path, int, str], Splits]
    task_loss: Callable[[Tensor, Tensor], Tensor]
    score: Callable[[Tensor, Tensor], Tensor]
    metric: Callable[[], Metric]
    selection: str
    default_rates: tuple[float, ...]
    """The missing rates a run uses without ``--rates`` (its docstring says whether they are the paper's)."""
    mask_style: str = "counts"
    """How masks are drawn from the rates without ``--mask-style`` (a style of :data:`mce_data.masks.STYLES`, as
    the benchmark's official code draws them; the benchmark's module names the source)."""
    predictor: Predictor | None = None
    """How evaluation predicts a batch from every modality subset at once (``None``: encode once, decode the subsets
    batched; :data:`~mce_train.evaluation.Predictor`)."""
    unimodal_predictor: Callable[[MultiModalNet, Any, int], Tensor] | None = None
    """How the upper-bound models' validation predicts a batch with modality ``m``'s head (``None``: directly)."""


def in_memory(dataset: MultiModalDataset) -> TensorMultiModalDataset:
    """Load a fixed-shape dataset once into tensors (small benchmarks: no per-step file reads)."""
    items = [dataset[i] for i in range(len(dataset))]
    inputs = {name: torch.stack([item.inputs[name] for item in items]) for name in dataset.modalities}
    available = torch.tensor([item.available for item in items], dtype=torch.bool)
    target = torch.stack([item.target for item in items])
    return TensorMultiModalDataset([item.id for item in items], inputs, target, available)
