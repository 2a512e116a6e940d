"""The package version: the single source read by hatchling and by ``mce_shapley.__version__``."""

__version__ = "0.3.1"
