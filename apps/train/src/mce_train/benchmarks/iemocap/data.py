"""IEMOCAP's splits: MMIN's feature layout (fold 1) when present, else synthetic features in that layout."""

from __future__ import annotations

from pathlib import Path

from mce_data import IEMOCAP, write_synthetic_iemocap
from mce_train.benchmarks.base import Splits
from mce_train.benchmarks.iemocap import models as iemocap
from mce_train.caching import write_once

IEMOCAP_INFORMATIVENESS = {
    "quick": {"acoustic": 0.6, "visual": 0.3, "lexical": 1.0},
    "paper": {"acoustic": 0.025, "visual": 0.015, "lexical": 0.02},
}
"""The synthetic stand-in's per-modality informativeness at each size: lexical strongest, visual weakest
(as on IEMOCAP). At the real feature sizes (130 / 342 / 1024 per frame) the signal adds up over many
features and frames, so small values already carry it: a logistic regression on frame-averaged features
reaches about 60% (acoustic), 42% (visual) and 67% (lexical) 4-class accuracy on one modality alone,
far from the ceiling, so that methods can differ."""


def iemocap_splits(data: Path, cache: Path, seed: int, size: str) -> Splits:
    """MMIN's feature layout under ``data/iemocap`` (fold 1) when present, else synthetic files in that layout."""
    del seed
    root, source = data / "iemocap", f"real IEMOCAP features in {data / 'iemocap'}"
    if not (root / "target").is_dir():
        knob = IEMOCAP_INFORMATIVENESS[size]
        tag = "-".join(f"{knob[m]:g}" for m in iemocap.MODALITIES)
        root = write_once(  # new values, new files
            cache / f"synthetic-iemocap-{size}-{tag}",
            lambda folder: write_synthetic_iemocap(
                folder,
                n_utterances=400 if size == "quick" else 3000,
                informativeness=knob,
                seed=0,
                real_dims=size != "quick",
            ),
        )
        source = f"SYNTHETIC IEMOCAP features in MMIN's layout in {root} (no {data / 'iemocap' / 'target'})"
    train, val, test = (IEMOCAP(root, 1, split, preload=True) for split in ("trn", "val", "tst"))
    return Splits(train, val, test, source)
