"""What runs share in a cache folder, made safe for runs side by side (``scripts/evidence.sh`` runs two).

Synthetic data folders and the unimodal upper-bound models are written once and then read by every
later run. Two runs that start together must neither write the same files at once nor read a folder
that the other is half way through: :func:`exclusive` lets one process at a time through, and
:func:`write_once` writes a folder beside its final name and renames it into place.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def exclusive(lock: Path) -> Iterator[None]:
    """Hold an advisory lock on the file ``lock`` (created if absent) for the block: one process at a time.

    POSIX ``flock``; the lock goes with the process, so a killed run never leaves it held. Where
    ``fcntl`` does not exist (Windows) the block runs unlocked.
    """
    lock.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_once(root: Path, write: Callable[[Path], object]) -> Path:
    """``root``, first written by ``write(folder)`` into a temporary folder that is then renamed to ``root``.

    Under :func:`exclusive`, so of several runs that need ``root`` at once one writes it and the
    others wait and then read it; an interrupted write leaves no ``root`` behind, only a temporary
    folder that the next writer clears.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp()) / "data"
    >>> write_once(root, lambda folder: (folder.mkdir(), (folder / "a.txt").write_text("1"))).name
    'data'
    >>> write_once(root, lambda folder: 1 / 0).joinpath("a.txt").read_text()  # written: not called again
    '1'
    """
    with exclusive(root.with_name(root.name + ".lock")):
        if not root.exists():
            partial = root.with_name(f"{root.name}.partial-{os.getpid()}")
            shutil.rmtree(partial, ignore_errors=True)
            write(partial)
            os.replace(partial, root)
    return root
