"""The package version: the single source read by hatchling and by ``mce_recon.__version__``."""

__version__ = "0.1.1"
