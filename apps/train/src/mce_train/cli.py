"""Command line of ``python apps/train/run.py``.

Until the trainer lands (issue #5) the default run states what it will train, where it
looks for data, and exits 0 without training.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from mce_train import __version__
from mce_train.paths import DATA_ENV, data_dir

DEFAULT_PLAN = {
    "benchmark": "AudiovisionMNIST",
    "methods": ("MCE", "baseline"),
    "missing rates": {"image": 0.2, "audio": 0.8},
    "evaluation": "every non-empty modality subset (image, audio, both) and their mean",
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python apps/train/run.py",
        description="Train and evaluate the MCE benchmark models (issue #5 fills in training).",
    )
    parser.add_argument("--version", action="version", version=f"mce-train {__version__}")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    parse_args(argv)
    root = data_dir()
    found = {name: (root / name).is_dir() for name in ("mnist", "fsdd")}
    print(f"mce-train {__version__}: the default run will train")
    for key, value in DEFAULT_PLAN.items():
        shown = ", ".join(f"{k} {v}" for k, v in value.items()) if isinstance(value, dict) else value
        shown = " and ".join(shown) if isinstance(shown, tuple) else shown
        print(f"  {key:13}: {shown}")
    status = ", ".join(f"{name} {'found' if ok else 'MISSING'}" for name, ok in found.items())
    print(f"  data         : {root} (${DATA_ENV} or ../shared/data): {status}")
    print("Training is not implemented yet: the trainer arrives with issue #5. Nothing was trained.")
    return 0
