"""mce-data: imbalanced missing-rate masks, incomplete-data wrappers and loaders.

Benchmarks: AudiovisionMNIST, IEMOCAP, BraTS2020 and nuScenes.

This release is the installable, versioned skeleton; the content arrives with issue #4.

>>> import mce_data
>>> isinstance(mce_data.__version__, str)
True
"""

from mce_data.__about__ import __version__

__all__ = ["__version__"]
