"""The package version: the single source read by hatchling and by ``mce_losses.__version__``."""

__version__ = "0.2.0"
