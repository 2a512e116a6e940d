"""Where the benchmarks look for real data: ``--root``, else ``$MCE_DATA_DIR``, else ``../shared/data``."""

from __future__ import annotations

import os
from pathlib import Path


def data_root_candidates(arg: str | None) -> list[Path]:
    """The candidate data roots in order of preference (the ones that are set)."""
    default = Path(__file__).resolve().parents[4] / "shared" / "data"  # beside the checkout
    return [Path(c) for c in (arg, os.environ.get("MCE_DATA_DIR"), str(default)) if c]
