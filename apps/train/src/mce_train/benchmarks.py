"""The benchmarks the trainer knows: data, network, losses and the paper's Table 1 schedule.

Each :class:`Benchmark` builds its three splits from the layout users already have on disk (or the
synthetic files mce-data writes in that layout), its network, and its schedule; ``size``
gives the CPU smoke-run size. Sizes: ``paper`` (the paper's Table 1 settings, the default) and
``quick`` (smoke runs and tests, seconds on a CPU).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional

from mce_data import AVMNIST, IEMOCAP, MultiModalDataset, TensorMultiModalDataset, write_synthetic_iemocap
from mce_data.synthetic_avmnist import write_synthetic_avmnist
from mce_losses import classification_score
from mce_recon import CompletionTransformer
from mce_train.evaluation import Predictor
from mce_train.metrics import ClassificationMetric, Metric
from mce_train.models import avmnist, iemocap
from mce_train.network import MultiModalNet
from mce_train.trainer import Schedule


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


@dataclass(frozen=True)
class Benchmark:
    """What the trainer needs to know about one benchmark."""

    name: str
    modalities: tuple[str, ...]
    build: Callable[[str, Splits], MultiModalNet]
    schedule: Callable[[str, int], Schedule]
    splits: Callable[[Path, Path, int, str], Splits]
    task_loss: Callable[[Tensor, Tensor], Tensor]
    score: Callable[[Tensor, Tensor], Tensor]
    metric: Callable[[], Metric]
    selection: str
    paper_rates: tuple[float, ...]
    predictor: Predictor | None = None
    """How evaluation predicts a batch from a modality subset (``None``: encode once, decode per subset)."""


def in_memory(dataset: MultiModalDataset) -> TensorMultiModalDataset:
    """Load a fixed-shape dataset once into tensors (small benchmarks: no per-step file reads)."""
    items = [dataset[i] for i in range(len(dataset))]
    inputs = {name: torch.stack([item.inputs[name] for item in items]) for name in dataset.modalities}
    available = torch.tensor([item.available for item in items], dtype=torch.bool)
    target = torch.stack([item.target for item in items])
    return TensorMultiModalDataset([item.id for item in items], inputs, target, available)


def _avmnist_build(size: str, splits: Splits) -> MultiModalNet:
    del splits
    dim, hidden = (32, 64) if size == "quick" else (64, 128)
    return MultiModalNet(
        avmnist.MODALITIES,
        avmnist.encoders(dim),
        avmnist.head(dim, hidden),
        avmnist.unimodal_heads(dim, hidden),
        CompletionTransformer(len(avmnist.MODALITIES), dim, depth=1, heads=4),
    )


def _avmnist_schedule(size: str, n_train: int) -> Schedule:
    """``paper``: Table 1 (2.5k iterations, batch 128, Adam, lr 1e-3, step decay); ``quick``: a smoke run."""
    del n_train
    if size == "quick":
        return Schedule(steps=40, batch_size=32, lr=1e-3, eval_every=20, checkpoint_every=20)
    return Schedule(
        steps=2500, batch_size=128, lr=1e-3, decay_every=1000, decay_gamma=0.1, eval_every=250, checkpoint_every=250
    )


def _avmnist_splits(data: Path, cache: Path, seed: int, size: str) -> Splits:
    """Real FSDD + MNIST under ``data`` when present, else synthetic files written under ``cache``."""
    root, source = data, f"real data in {data}"
    if not ((data / "fsdd" / "recordings").is_dir() and (data / "mnist").is_dir()):
        root = cache / "synthetic-avmnist"
        if not (root / "fsdd").is_dir():
            write_synthetic_avmnist(root, seed=0)
        source = f"SYNTHETIC AudiovisionMNIST files in {root} (no FSDD/MNIST under {data})"
    limit = 256 if size == "quick" else None
    kw: dict[str, Any] = {"cache_dir": cache / "mfcc", "limit": limit}
    train, val, test = (in_memory(AVMNIST(root, split, **kw)) for split in ("train", "val", "test"))
    return Splits(train, val, test, source)


def _iemocap_build(size: str, splits: Splits) -> MultiModalNet:
    dim, hidden = (32, 32) if size == "quick" else (128, 128)
    first = splits.train[0]
    dims = {name: int(first.inputs[name].shape[-1]) for name in iemocap.MODALITIES}
    return MultiModalNet(
        iemocap.MODALITIES,
        iemocap.encoders(dim, dims),
        iemocap.head(dim, hidden),
        iemocap.unimodal_heads(dim, hidden),
        CompletionTransformer(len(iemocap.MODALITIES), dim, depth=1, heads=4),
    )


def _iemocap_schedule(size: str, n_train: int) -> Schedule:
    """``paper``: Table 1 (60 epochs, batch 128, Adam, lr 2e-4, step decay: halved every 20 epochs)."""
    if size == "quick":
        return Schedule(steps=40, batch_size=32, lr=1e-3, eval_every=20, checkpoint_every=20)
    epoch = max(1, n_train // 128)
    return Schedule(
        steps=60 * epoch,
        batch_size=128,
        lr=2e-4,
        decay_every=20 * epoch,
        decay_gamma=0.5,
        eval_every=epoch,
        checkpoint_every=epoch,
    )


IEMOCAP_INFORMATIVENESS = {"acoustic": 0.6, "visual": 0.3, "lexical": 1.0}
"""The synthetic stand-in's per-modality informativeness: lexical strongest, visual weakest (as on IEMOCAP)."""


def _iemocap_splits(data: Path, cache: Path, seed: int, size: str) -> Splits:
    """MMIN's feature layout under ``data/iemocap`` (fold 1) when present, else synthetic files in that layout."""
    del seed
    root, source = data / "iemocap", f"real IEMOCAP features in {data / 'iemocap'}"
    if not (root / "target").is_dir():
        root = cache / ("synthetic-iemocap-quick" if size == "quick" else "synthetic-iemocap")
        if not (root / "target").is_dir():
            write_synthetic_iemocap(
                root,
                n_utterances=400 if size == "quick" else 3000,
                informativeness=IEMOCAP_INFORMATIVENESS,
                seed=0,
                real_dims=size != "quick",
            )
        source = f"SYNTHETIC IEMOCAP features in MMIN's layout in {root} (no {data / 'iemocap' / 'target'})"
    train, val, test = (IEMOCAP(root, 1, split, preload=True) for split in ("trn", "val", "tst"))
    return Splits(train, val, test, source)


AVMNIST_BENCHMARK = Benchmark(
    name="avmnist",
    modalities=avmnist.MODALITIES,
    build=_avmnist_build,
    schedule=_avmnist_schedule,
    splits=_avmnist_splits,
    task_loss=cross_entropy,
    score=classification_score,
    metric=lambda: ClassificationMetric(avmnist.N_CLASSES),
    selection="accuracy",
    paper_rates=(0.2, 0.8),
)

IEMOCAP_BENCHMARK = Benchmark(
    name="iemocap",
    modalities=iemocap.MODALITIES,
    build=_iemocap_build,
    schedule=_iemocap_schedule,
    splits=_iemocap_splits,
    task_loss=cross_entropy,
    score=classification_score,
    metric=lambda: ClassificationMetric(iemocap.N_CLASSES),
    selection="accuracy",
    paper_rates=(0.2, 0.8, 0.5),  # setting a: (A, L, V) = (0.2, 0.5, 0.8), in this column order (A, V, L)
)

BENCHMARKS: dict[str, Benchmark] = {"avmnist": AVMNIST_BENCHMARK, "iemocap": IEMOCAP_BENCHMARK}


def get(name: str) -> Benchmark:
    """The benchmark called ``name``, or an error listing the known ones."""
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; expected one of {sorted(BENCHMARKS)}")
    return BENCHMARKS[name]
