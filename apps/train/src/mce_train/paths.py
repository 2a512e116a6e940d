"""Where the app finds benchmark data and puts results, in a checkout or installed from a wheel."""

from __future__ import annotations

from pathlib import Path

import mce_data
from mce_data.paths import ENV_VAR as DATA_ENV

__all__ = ["DATA_ENV", "benchmark_data", "checkout_root", "default_out"]


def checkout_root() -> Path | None:
    """The monorepo checkout this package runs from (an editable install), or ``None`` (installed from a wheel)."""
    candidate = Path(__file__).resolve().parents[4]
    return candidate if (candidate / "apps" / "train" / "run.py").is_file() else None


def benchmark_data() -> Path:
    """The benchmark data folder: ``$MCE_DATA_DIR``; else ``../shared/data`` beside a checkout; else ``./data``.

    Raises:
        FileNotFoundError: ``$MCE_DATA_DIR`` is set to a folder that does not exist.
    """
    configured = mce_data.data_dir()
    if configured is not None:
        return configured
    root = checkout_root()
    return root.parent / "shared" / "data" if root is not None else Path("data")


def default_out() -> Path:
    """``runs/default`` in the checkout (or in the working directory when installed from a wheel)."""
    return (checkout_root() or Path.cwd()) / "runs" / "default"
