"""The app version: the single source read by hatchling and by ``mce_train.__version__``."""

__version__ = "0.3.3"
