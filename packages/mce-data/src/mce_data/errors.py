"""The one exception type for a data or mask file that cannot be read as what it should be.

Every reader of mce-data (FSDD wav, MNIST idx / csv, IEMOCAP h5 / npy, BraTS NIfTI / npy, the nuScenes
HDF5 cache, mask CSVs and the official mask files) raises :class:`DataFileError` for a corrupt,
truncated or malformed file, ``from`` the error of the library that failed, so callers catch one type.
It subclasses :class:`ValueError` (a file with the wrong content is a bad value, and code written for
the earlier ``ValueError`` keeps working). A file that does not exist stays a :class:`FileNotFoundError`.

>>> error = DataFileError("data/7_theo_3.wav", "corrupt wav file (file does not start with RIFF id)")
>>> str(error)
'data/7_theo_3.wav: corrupt wav file (file does not start with RIFF id)'
>>> str(DataFileError("masks.csv", "expected 0 or 1,\\ngot 2", line=4))
'masks.csv, line 4: expected 0 or 1, got 2'
"""

from __future__ import annotations

import os
from pathlib import Path


class DataFileError(ValueError):
    """A file that cannot be read: ``str(error)`` is one line, ``"<path>[, line <n>]: <problem>"``.

    Attributes:
        path: the file.
        problem: what is wrong with it (one line).
        line: the 1-based line of a text file the problem is on, if any.
    """

    def __init__(self, path: str | os.PathLike[str], problem: str, *, line: int | None = None) -> None:
        self.path = Path(path)
        self.problem = " ".join(str(problem).split())  # one line, whatever the wrapped library printed
        self.line = line
        where = f"{path}" if line is None else f"{path}, line {line}"
        super().__init__(f"{where}: {self.problem}")

    def __reduce__(self) -> tuple[object, ...]:  # picklable across DataLoader workers
        return (_rebuild, (str(self.path), self.problem, self.line))


def _rebuild(path: str, problem: str, line: int | None) -> DataFileError:
    return DataFileError(path, problem, line=line)
