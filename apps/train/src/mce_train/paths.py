"""Where the app finds benchmark data."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "MCE_DATA_DIR"
REPO_ROOT = Path(__file__).resolve().parents[4]


def data_dir() -> Path:
    """The benchmark data folder: ``$MCE_DATA_DIR``, else ``../shared/data`` beside the checkout."""
    configured = os.environ.get(DATA_ENV)
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "data"
