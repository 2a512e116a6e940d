"""AVMNIST's splits: the real FSDD + MNIST files when present, else synthetic files in the same layout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mce_data import AVMNIST
from mce_data.synthetic_avmnist import write_synthetic_avmnist
from mce_train.benchmarks.base import Splits, in_memory
from mce_train.caching import write_once


def avmnist_splits(data: Path, cache: Path, seed: int, size: str) -> Splits:
    """Real FSDD + MNIST under ``data`` when present, else synthetic files written under ``cache``."""
    root, source = data, f"real data in {data}"
    if not ((data / "fsdd" / "recordings").is_dir() and (data / "mnist").is_dir()):
        root = write_once(cache / "synthetic-avmnist", lambda folder: write_synthetic_avmnist(folder, seed=0))
        source = f"SYNTHETIC AudiovisionMNIST files in {root} (no FSDD/MNIST under {data})"
    limit = 256 if size == "quick" else None
    kw: dict[str, Any] = {"cache_dir": cache / "mfcc", "limit": limit}
    raw = {split: AVMNIST(root, split, **kw) for split in ("train", "val", "test")}
    train, val, test = (in_memory(raw[split]) for split in ("train", "val", "test"))
    # Fig. 7 of the MCE paper: every image, audio for a fraction of each class (mce_data.mask_per_class).
    return Splits(train, val, test, source, protocols={"fig7": raw["train"].fig7_mask})
