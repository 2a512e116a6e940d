"""HDF5 handles opened lazily once per process: h5py handles must not cross a fork (DataLoader workers)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any


class PerProcessFiles:
    """Open files on first use in each process and keep them; pickles (to workers) without the handles.

    >>> files = PerProcessFiles()
    >>> files.get("a", lambda: {"opened": True}) is files.get("a", lambda: {"again": True})
    True
    """

    def __init__(self) -> None:
        self._files: dict[str, Any] = {}
        self._pid = -1

    def get(self, key: str, opener: Callable[[], Any]) -> Any:
        """The handle for ``key`` in this process, opened with ``opener()`` on first use."""
        if self._pid != os.getpid():
            self._files, self._pid = {}, os.getpid()  # a forked child must not reuse its parent's handles
        if key not in self._files:
            self._files[key] = opener()
        return self._files[key]

    def close(self) -> None:
        """Close every handle of this process (they reopen on the next :meth:`get`)."""
        if self._pid == os.getpid():
            for handle in self._files.values():
                close = getattr(handle, "close", None)
                if close is not None:
                    close()
        self._files, self._pid = {}, -1

    def __getstate__(self) -> dict[str, Any]:
        return {"_files": {}, "_pid": -1}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._files, self._pid = {}, -1
