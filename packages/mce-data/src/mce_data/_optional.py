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


def install_hint(module: str) -> str:
    """The pip command that provides ``module``.

    >>> install_hint("nuscenes.nuscenes")
    "pip install --no-deps nuscenes-devkit==1.2.0 && pip install 'mce-data[nuscenes]'"
    >>> install_hint("soundfile")
    "pip install 'mce-data[audio]'"
    """
    root = module.split(".")[0]
    if root == "nuscenes":  # the devkit pins numpy<2 but runs with numpy 2: install it without its deps
        return "pip install --no-deps nuscenes-devkit==1.2.0 && pip install 'mce-data[nuscenes]'"
    extra = _EXTRAS.get(root)
    return f"pip install 'mce-data[{extra}]'" if extra else f"pip install {root}"


def require(module: str) -> ModuleType:
    """Import ``module`` or raise an ``ImportError`` naming the pip command that provides it.

    >>> require("json").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        hint = install_hint(module)
        raise ImportError(f"{module} is needed here but is not installed; install it with: {hint}") from error
