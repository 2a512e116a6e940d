"""mce-train: trains and evaluates the MCE benchmark models (``python apps/train/run.py``)."""

from mce_train.__about__ import __version__

__all__ = ["__version__"]
