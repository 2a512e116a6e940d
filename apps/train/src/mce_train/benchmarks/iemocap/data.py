"""IEMOCAP's splits: MMIN's feature layout (fold 1) when present, else synthetic features in that layout."""

from __future__ import annotations

from pathlib import Path

from mce_data import IEMOCAP, write_synthetic_iemocap
from mce_train.benchmarks.base import Splits
from mce_train.benchmarks.iemocap import models as iemocap
from mce_train.caching import write_once

IEMOCAP_INFORMATIVENESS = {
    "quick": {"acoustic": 0.6, "visual": 0.3, "lexical": 1.0},
    "paper": {"acoustic": 0.08, "visual": 0.05, "lexical": 0.02},
}
"""The synthetic stand-in's per-modality informativeness at each size: lexical strongest, visual weakest
(as on IEMOCAP). The stand-in uses mce-data's ``"temporal"`` signal: acoustic and visual classes differ
only in the order of their frames, so the LSTM encoders must model time (frame-averaged features carry
nothing); lexical keeps a per-frame class offset. At the real feature sizes (130 / 342 / 1024 per frame)
small values already carry the signal; the paper-size values are set so one modality alone stays far from
the ceiling (measured in docs/RESULTS.md), so that methods can differ."""
SIGNAL = "temporal"


def iemocap_splits(data: Path, cache: Path, seed: int, size: str) -> Splits:
    """MMIN's feature layout under ``data/iemocap`` (fold 1) when present, else synthetic files in that layout."""
    del seed
    root, source = data / "iemocap", f"real IEMOCAP features in {data / 'iemocap'}"
    if not (root / "target").is_dir():
        knob = IEMOCAP_INFORMATIVENESS[size]
        tag = "-".join(f"{knob[m]:g}" for m in iemocap.MODALITIES)
        root = write_once(  # new values, new files
            cache / f"synthetic-iemocap-{SIGNAL}-{size}-{tag}",
            lambda folder: write_synthetic_iemocap(
                folder,
                n_utterances=400 if size == "quick" else 3000,
                informativeness=knob,
                seed=0,
                real_dims=size != "quick",
                signal=SIGNAL,
            ),
        )
        source = f"SYNTHETIC IEMOCAP features in MMIN's layout in {root} (no {data / 'iemocap' / 'target'})"
    train, val, test = (IEMOCAP(root, 1, split, preload=True) for split in ("trn", "val", "tst"))
    return Splits(train, val, test, source)
