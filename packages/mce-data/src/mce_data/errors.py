"""The one exception type for a data or mask file that cannot be read as what it should be.

Every reader of mce-data (FSDD wav, MNIST idx / csv, IEMOCAP h5 / npy, BraTS NIfTI / npy, the nuScenes
HDF5 cache, mask CSVs and the official mask files) raises :class:`DataFileError` for a corrupt,
truncated or malformed file, ``from`` the error of the library that failed, so callers catch one type.
It subclasses :class:`ValueError` (a file with the wrong content is a bad value, and code written for
the earlier ``ValueError`` keeps working). A file that does not exist stays a :class:`FileNotFoundError`.
Raised in a DataLoader worker, it reaches the main process still a :class:`DataFileError` with the same
one-line message (torch rebuilds it from the worker's traceback text, whose last line is the message).

>>> error = DataFileError("data/7_theo_3.wav", "corrupt wav file (file does not start with RIFF id)")
>>> str(error)
'data/7_theo_3.wav: corrupt wav file (file does not start with RIFF id)'
>>> str(DataFileError("masks.csv", "expected 0 or 1,\\ngot 2", line=4))
'masks.csv, line 4: expected 0 or 1, got 2'
>>> worker = "Caught DataFileError in DataLoader worker 0.\\nTraceback...\\nmce_data.errors.DataFileError: a.wav: bad"
>>> str(DataFileError(worker)), DataFileError(worker).problem
('a.wav: bad', 'bad')
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_MESSAGE = re.compile(r"^(?P<path>.*?)(?:, line (?P<line>\d+))?: (?P<problem>.*)$")


class DataFileError(ValueError):
    """A file that cannot be read: ``str(error)`` is one line, ``"<path>[, line <n>]: <problem>"``.

    Attributes:
        path: the file.
        problem: what is wrong with it (one line).
        line: the 1-based line of a text file the problem is on, if any.
    """

    def __init__(self, path: str | os.PathLike[str], problem: str | None = None, *, line: int | None = None) -> None:
        if problem is None:  # one argument: a message, e.g. the traceback text torch re-raises from a worker
            last = [text for text in str(path).splitlines() if text.strip()][-1:] or [""]
            message = last[0].split("DataFileError: ", 1)[-1]
            match = _MESSAGE.match(message)
            path, problem = (match["path"], match["problem"]) if match else ("<unknown file>", message)
            line = int(match["line"]) if match and match["line"] else None
        self.path = Path(path)
        self.problem = " ".join(str(problem).split())  # one line, whatever the wrapped library printed
        self.line = line
        where = f"{path}" if line is None else f"{path}, line {line}"
        super().__init__(f"{where}: {self.problem}")

    def __reduce__(self) -> tuple[object, ...]:  # picklable across DataLoader workers
        return (_rebuild, (str(self.path), self.problem, self.line))


def _rebuild(path: str, problem: str, line: int | None) -> DataFileError:
    return DataFileError(path, problem, line=line)
