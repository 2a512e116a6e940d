"""Where the benchmark data lives: the ``MCE_DATA_DIR`` environment variable, nothing else."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "MCE_DATA_DIR"


def data_dir(*, required: bool = False) -> Path | None:
    """The data root named by ``$MCE_DATA_DIR`` (holding ``mnist/``, ``fsdd/``, ``brats/`` ...).

    Args:
        required: raise instead of returning ``None`` when the variable is unset or names no folder.

    Returns:
        The folder, or ``None`` when ``MCE_DATA_DIR`` is unset (the caller decides on a fallback,
        e.g. synthetic data written by :func:`mce_data.write_synthetic_avmnist`).

    Raises:
        FileNotFoundError: ``required`` and the variable is unset, or it names a missing folder
            (this last case raises even when not ``required``: a typo should not pass silently).

    >>> import os
    >>> saved = os.environ.pop("MCE_DATA_DIR", None)
    >>> data_dir() is None
    True
    >>> if saved is not None:
    ...     os.environ["MCE_DATA_DIR"] = saved
    """
    value = os.environ.get(ENV_VAR, "").strip()
    if not value:
        if required:
            raise FileNotFoundError(
                f"{ENV_VAR} is not set; point it at the folder holding mnist/ and fsdd/ "
                f"(e.g. export {ENV_VAR}=/path/to/data), or fetch them with: "
                "python -m mce_data download mnist --dest DIR"
            )
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"{ENV_VAR}={value!r} is not a folder")
    return path
