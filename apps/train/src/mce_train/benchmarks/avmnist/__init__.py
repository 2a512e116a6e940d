"""AudiovisionMNIST: FSDD audio + MNIST images (SMIL protocol), LeNet5 and an MFCC CNN."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mce_data import AVMNIST
from mce_data.synthetic_avmnist import write_synthetic_avmnist
from mce_losses import classification_score
from mce_recon import CompletionTransformer
from mce_train.benchmark_base import Benchmark, Splits, cross_entropy, in_memory
from mce_train.caching import write_once
from mce_train.metrics import ClassificationMetric
from mce_train.models import avmnist
from mce_train.network import MultiModalNet
from mce_train.trainer import Schedule


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
        root = write_once(cache / "synthetic-avmnist", lambda folder: write_synthetic_avmnist(folder, seed=0))
        source = f"SYNTHETIC AudiovisionMNIST files in {root} (no FSDD/MNIST under {data})"
    limit = 256 if size == "quick" else None
    kw: dict[str, Any] = {"cache_dir": cache / "mfcc", "limit": limit}
    train, val, test = (in_memory(AVMNIST(root, split, **kw)) for split in ("train", "val", "test"))
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
