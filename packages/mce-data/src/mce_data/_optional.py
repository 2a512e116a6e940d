"""Lazy imports of the optional I/O dependencies, with an error that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

_EXTRAS = {
    "librosa": "audio",
    "soundfile": "audio",
    "nibabel": "nifti",
    "h5py": "h5",
    "nuscenes": "nuscenes",
    "PIL": "nuscenes",
    "pyquaternion": "nuscenes",
}


def require(module: str) -> ModuleType:
    """Import ``module`` or raise an ``ImportError`` naming the pip command that provides it.

    >>> require("json").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        extra = _EXTRAS.get(module.split(".")[0])
        hint = f"pip install 'mce-data[{extra}]'" if extra else f"pip install {module.split('.')[0]}"
        raise ImportError(f"{module} is needed here but is not installed; install it with: {hint}") from error
