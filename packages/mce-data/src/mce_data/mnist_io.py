"""Read and write MNIST files: IDX (``*-idx3-ubyte.gz`` / ``*-idx1-ubyte.gz``) and the 785-column csv.gz.

Every problem (bad magic, truncated data, wrong shape, labels outside 0-9, pixels outside 0-255) is a
:class:`~mce_data.errors.DataFileError` (a ``ValueError``) naming the file.

>>> import tempfile, pathlib, numpy as np
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
>>> _ = write_idx(folder / "x-images-idx3-ubyte.gz", images)
>>> bool((read_idx(folder / "x-images-idx3-ubyte.gz") == images).all())
True
"""

from __future__ import annotations

import gzip
import io
import struct
import zlib
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from mce_data.errors import DataFileError

IMAGE_MAGIC = 2051
LABEL_MAGIC = 2049
_UBYTE = 0x08


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise FileNotFoundError(f"MNIST file {path} does not exist")
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as stream:
                return stream.read()
        return path.read_bytes()
    except (EOFError, OSError, zlib.error) as error:
        raise DataFileError(path, f"corrupt or truncated gzip data ({error})") from error


def read_idx(path: Path) -> NDArray[np.uint8]:
    """Read an IDX file of unsigned bytes (gzip-compressed if it ends in ``.gz``): ``uint8[n, *dims]``."""
    data = _read_bytes(path)
    if len(data) < 4:
        raise DataFileError(path, f"{len(data)} bytes is too short for an IDX header")
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != _UBYTE or ndim not in (1, 3):
        raise DataFileError(path, f"not an unsigned-byte IDX file (header bytes {data[:4].hex()})")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataFileError(path, f"truncated IDX header ({len(data)} bytes, need {header})")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(dims))
    got = len(data) - header
    if got != expected:
        problem = "truncated" if got < expected else "has trailing bytes"
        raise DataFileError(path, f"{problem}: header says {dims} = {expected} bytes of data, found {got}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def read_idx_pair(images_path: Path, labels_path: Path) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """Read ``uint8[n, 28, 28]`` images and ``int64[n]`` labels, checking shapes, counts and label values."""
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataFileError(images_path, f"expected images of shape [n, 28, 28], got {list(images.shape)}")
    if labels.ndim != 1:
        raise DataFileError(labels_path, f"expected a 1-d label file, got shape {list(labels.shape)}")
    if len(labels) != len(images):
        raise DataFileError(labels_path, f"{len(labels)} labels for the {len(images)} images of {images_path}")
    return images, _check_labels(labels.astype(np.int64), labels_path)


def _check_labels(labels: NDArray[np.int64], path: Path) -> NDArray[np.int64]:
    bad = np.flatnonzero((labels < 0) | (labels > 9))
    if bad.size:
        raise DataFileError(path, f"label {int(labels[bad[0]])} at row {int(bad[0])} is outside 0-9")
    return labels


def read_mnist_csv(path: Path) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """Read the 785-column MNIST csv(.gz) (784 pixels row-major, then the label): images and labels."""
    data = _read_bytes(path)
    if not data.strip():
        raise DataFileError(path, "no rows")
    try:
        values = np.loadtxt(io.BytesIO(data), delimiter=",", dtype=np.int64, ndmin=2)
    except ValueError as error:
        raise DataFileError(path, f"expected rows of 785 comma-separated integers ({error})") from error
    if values.ndim != 2 or values.shape[1] != 785:
        raise DataFileError(path, f"expected 785 columns (784 pixels + label), got {values.shape[1]}")
    pixels = values[:, :784]
    if pixels.min() < 0 or pixels.max() > 255:
        raise DataFileError(path, f"pixel values must be in 0-255, found {pixels.min()}..{pixels.max()}")
    return pixels.astype(np.uint8).reshape(-1, 28, 28), _check_labels(values[:, 784], path)


def write_idx(path: Path, array: NDArray[np.uint8]) -> Path:
    """Write ``uint8`` data as an IDX file (gzip-compressed when ``path`` ends in ``.gz``)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, _UBYTE, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        with gzip.GzipFile(path, "wb", mtime=0) as stream:
            stream.write(payload)
    else:
        path.write_bytes(payload)
    return path


def write_mnist_csv(path: Path, images: NDArray[np.uint8], labels: NDArray[np.int64]) -> Path:
    """Write the 785-column csv.gz layout (784 pixels, then the label)."""
    rows = np.concatenate([images.reshape(len(images), -1).astype(np.int64), labels.reshape(-1, 1)], axis=1)
    text = "".join(",".join(map(str, row)) + "\n" for row in rows.tolist())
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(path, "wb", mtime=0) as stream:
        stream.write(text.encode("ascii"))
    return path
