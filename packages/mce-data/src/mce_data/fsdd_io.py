"""Free Spoken Digit Dataset files: ``{digit}_{speaker}_{take}.wav``, PCM 16-bit mono 8 kHz.

Read with the standard library's :mod:`wave` (no extra needed); corrupt, truncated, empty or
non-8 kHz/mono/16-bit files are a :class:`~mce_data.errors.DataFileError` naming the file.

>>> import tempfile, pathlib, numpy as np
>>> path = pathlib.Path(tempfile.mkdtemp()) / "3_theo_7.wav"
>>> _ = write_wav(path, np.zeros(800, dtype=np.float32))
>>> parse_name(path), read_wav(path).shape
(FsddClip(digit=3, speaker='theo', take=7), (800,))
"""

from __future__ import annotations

import re
import wave
from pathlib import Path
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from mce_data.errors import DataFileError

SAMPLE_RATE = 8000
SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
_NAME = re.compile(r"^(\d+)_([A-Za-z]+)_(\d+)\.wav$")


class FsddClip(NamedTuple):
    """What a recording's name says: ``{digit}_{speaker}_{take}.wav``."""

    digit: int
    speaker: str
    take: int


def parse_name(path: Path) -> FsddClip:
    """Parse ``{digit}_{speaker}_{take}.wav``; a ``ValueError`` names files that do not follow it."""
    match = _NAME.match(path.name)
    if match is None:
        raise ValueError(f"{path}: not an FSDD recording name (expected {{digit}}_{{speaker}}_{{take}}.wav)")
    digit = int(match.group(1))
    if not 0 <= digit <= 9:
        raise ValueError(f"{path}: digit label {digit} is outside 0-9")
    return FsddClip(digit, match.group(2), int(match.group(3)))


def list_recordings(folder: Path) -> list[tuple[Path, FsddClip]]:
    """All ``*.wav`` in ``folder`` with their parsed names, sorted by (speaker, digit, take)."""
    if not folder.is_dir():
        raise FileNotFoundError(f"FSDD recordings folder {folder} does not exist")
    found = [(path, parse_name(path)) for path in folder.glob("*.wav")]
    return sorted(found, key=lambda item: (item[1].speaker, item[1].digit, item[1].take))


def read_wav(path: Path) -> NDArray[np.float32]:
    """Read a PCM 16-bit mono 8 kHz wav as ``float32[samples]`` in ``[-1, 1)``."""
    if not path.is_file():
        raise FileNotFoundError(f"FSDD recording {path} does not exist")
    try:
        with wave.open(str(path), "rb") as stream:
            channels, width, rate, frames = (
                stream.getnchannels(), stream.getsampwidth(), stream.getframerate(), stream.getnframes()
            )  # fmt: skip
            data = stream.readframes(frames)
    except (wave.Error, EOFError, OSError) as error:
        raise DataFileError(path, f"corrupt wav file ({type(error).__name__}: {error})") from error
    if channels != 1 or width != 2 or rate != SAMPLE_RATE:
        raise DataFileError(
            path, f"expected PCM 16-bit mono at {SAMPLE_RATE} Hz, got {channels} channel(s), {8 * width}-bit, {rate} Hz"
        )
    if frames == 0:
        raise DataFileError(path, "the wav file holds no audio (0 frames)")
    if len(data) != frames * width * channels:
        raise DataFileError(path, f"truncated wav data: header says {frames} frames, found {len(data) // width}")
    return (np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0).astype(np.float32)


def write_wav(path: Path, signal: NDArray[np.floating], sample_rate: int = SAMPLE_RATE) -> Path:
    """Write ``signal`` (floats in ``[-1, 1]``) as PCM 16-bit mono, the FSDD format."""
    pcm = np.clip(np.round(np.asarray(signal, dtype=np.float64) * 32767.0), -32768, 32767).astype("<i2")
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as stream:
        stream.setnchannels(1)
        stream.setsampwidth(2)
        stream.setframerate(sample_rate)
        stream.writeframes(pcm.tobytes())
    return path
