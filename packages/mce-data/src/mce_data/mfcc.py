"""MFCC features of FSDD clips (librosa) and their on-disk cache.

Features follow SMIL's AudiovisionMNIST: ``librosa.feature.mfcc`` at 8 kHz with 20 coefficients and
librosa's defaults otherwise (``n_fft=2048``, ``hop_length=512``, centred frames, dB mel power),
zero-padded or truncated to 20 frames: ``Float[20, 20]`` (coefficients x frames). Normalisation is
applied after the cache (see :func:`normalise`), so the cache holds the raw coefficients.

The cache stores one ``.npy`` per clip under ``cache_dir/mfcc-v1-<params>/``, named by the clip's
file name, size and modification time, written atomically (temporary file, then rename), so
DataLoader workers and concurrent runs can share it; a changed file gets a new entry.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mce_data._optional import require
from mce_data.errors import DataFileError
from mce_data.fsdd_io import SAMPLE_RATE, read_wav

N_MFCC = 20
N_FRAMES = 20
CACHE_VERSION = 1


def librosa_mfcc(signal: NDArray[np.float32], n_mfcc: int) -> NDArray[np.float32]:
    """``librosa.feature.mfcc`` at 8 kHz: ``Float[n_mfcc, frames]`` (the one place librosa is called).

    soundfile is checked first: librosa needs it, and its absence should name the ``[audio]`` extra.
    """
    require("soundfile")
    librosa: Any = require("librosa")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="n_fft=.*too large", category=UserWarning)
        out = librosa.feature.mfcc(y=signal, sr=SAMPLE_RATE, n_mfcc=n_mfcc)
    return np.asarray(out, dtype=np.float32)


def fixed_frames(mfcc: NDArray[np.float32], n_frames: int = N_FRAMES) -> tuple[NDArray[np.float32], int]:
    """Zero-pad or truncate ``[C, T]`` to ``[C, n_frames]``; also return ``min(T, n_frames)`` (the real frames).

    >>> out, real = fixed_frames(np.ones((2, 3), dtype=np.float32), 5)
    >>> out.tolist(), real
    ([[1.0, 1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0, 0.0]], 3)
    """
    real = min(mfcc.shape[1], n_frames)
    out = np.zeros((mfcc.shape[0], n_frames), dtype=np.float32)
    out[:, :real] = mfcc[:, :real]
    return out, real


def normalise(mfcc: NDArray[np.float32], real_frames: int) -> NDArray[np.float32]:
    """Per clip: zero mean and unit variance over the real (unpadded) frames; padding stays zero.

    >>> x = np.array([[1.0, 3.0, 0.0]], dtype=np.float32)
    >>> np.round(normalise(x, 2), 3).tolist()
    [[-1.0, 1.0, 0.0]]
    """
    out = np.zeros_like(mfcc)
    real = mfcc[:, :real_frames]
    out[:, :real_frames] = (real - real.mean()) / (real.std() + 1e-6)
    return out


class MfccCache:
    """Compute ``Float[20, 20]`` MFCCs of wav files, caching them under ``cache_dir`` (``None``: no cache).

    >>> MfccCache(None).cache_dir is None
    True
    """

    def __init__(self, cache_dir: Path | None, *, n_mfcc: int = N_MFCC, n_frames: int = N_FRAMES) -> None:
        self.n_mfcc = n_mfcc
        self.n_frames = n_frames
        params = hashlib.sha256(f"v{CACHE_VERSION}-sr{SAMPLE_RATE}-c{n_mfcc}-t{n_frames}".encode()).hexdigest()[:10]
        self.cache_dir = None if cache_dir is None else Path(cache_dir) / f"mfcc-v{CACHE_VERSION}-{params}"
        self.computed = 0  # how many MFCCs this object computed (cache misses)

    def _entry(self, path: Path) -> Path | None:
        if self.cache_dir is None:
            return None
        stat = path.stat()
        return self.cache_dir / f"{path.stem}-{stat.st_size}-{stat.st_mtime_ns}.npy"

    def get(self, path: Path) -> tuple[NDArray[np.float32], int]:
        """``(Float[n_mfcc, n_frames] raw MFCC, real_frames)`` of the wav at ``path``."""
        if not path.is_file():
            raise FileNotFoundError(f"FSDD recording {path} does not exist")
        entry = self._entry(path)
        if entry is not None and entry.is_file():
            try:
                stored = np.load(entry)
                if stored.shape == (self.n_mfcc + 1, self.n_frames):
                    return stored[:-1].astype(np.float32), int(stored[-1, 0])
            except (OSError, ValueError):
                pass  # a damaged cache entry is recomputed and overwritten
        raw = librosa_mfcc(read_wav(path), self.n_mfcc)
        if not np.isfinite(raw).all():
            raise DataFileError(path, "MFCC has non-finite values (silent or damaged audio?)")
        mfcc, real = fixed_frames(raw, self.n_frames)
        self.computed += 1
        if entry is not None:
            stored = np.concatenate([mfcc, np.full((1, self.n_frames), real, dtype=np.float32)])
            _save_atomic(entry, stored)
        return mfcc, real


def _save_atomic(path: Path, array: NDArray[np.float32]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".npy")
    try:
        with os.fdopen(handle, "wb") as stream:
            np.save(stream, array)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
