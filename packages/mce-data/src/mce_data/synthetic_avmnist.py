"""Synthetic AudiovisionMNIST written in the real layouts (MNIST idx.gz / csv.gz, FSDD wav), read by :class:`AVMNIST`.

How informative each modality is, is a knob ``q`` in ``[0, 1]`` per modality: a sample's image (or
clip) is rendered from its own digit's template with probability ``q`` and from a uniformly random
digit's template otherwise, so the best possible accuracy from that modality alone is about
``q + (1 - q) / 10``. Image templates are three Gaussian blobs per digit; clip templates are two tones
per digit (``200 + 150 d`` Hz and 2.3 times that) under a Hann envelope, 0.3-0.6 s long, with noise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from mce_data._informativeness import check_informativeness
from mce_data.avmnist import SMIL_SPEAKERS, TEST_TAKES
from mce_data.fsdd_io import SAMPLE_RATE, write_wav
from mce_data.mnist_io import write_idx, write_mnist_csv

_SLACK = 5


def _rendered_class(digits: NDArray[np.int64], q: float, rng: np.random.Generator) -> NDArray[np.int64]:
    honest = rng.random(len(digits)) < q
    return np.where(honest, digits, rng.integers(0, 10, len(digits)))


def _image_templates(rng: np.random.Generator) -> NDArray[np.float64]:
    grid = np.stack(np.meshgrid(np.arange(28), np.arange(28), indexing="ij"), axis=-1).astype(np.float64)
    templates = np.zeros((10, 28, 28))
    for digit in range(10):
        for centre in rng.uniform(6, 22, size=(3, 2)):
            templates[digit] += np.exp(-((grid - centre) ** 2).sum(-1) / (2 * 3.0**2))
    scaled: NDArray[np.float64] = templates / templates.max(axis=(1, 2), keepdims=True)
    return scaled


def synthetic_images(
    digits: NDArray[np.int64], q: float, rng: np.random.Generator, templates: NDArray[np.float64]
) -> NDArray[np.uint8]:
    """``uint8[n, 28, 28]`` images of ``digits`` at informativeness ``q``."""
    shown = _rendered_class(digits, q, rng)
    pixels = 0.85 * templates[shown] + 0.25 * rng.random((len(digits), 28, 28))
    return np.clip(np.round(pixels * 255), 0, 255).astype(np.uint8)


def synthetic_clip(digit: int, speaker_index: int, rng: np.random.Generator) -> NDArray[np.float64]:
    """One clip of ``digit`` (already chosen by the knob): two tones under a Hann envelope, plus noise."""
    n = int(rng.uniform(0.3, 0.6) * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    base = (200.0 + 150.0 * digit) * (1.0 + 0.02 * speaker_index)
    tone = np.sin(2 * np.pi * base * t) + 0.5 * np.sin(2 * np.pi * 2.3 * base * t)
    return 0.4 * np.hanning(n) * tone + 0.02 * rng.standard_normal(n)


def write_synthetic_avmnist(
    root: str | Path,
    *,
    n_per_digit: int = 50,
    speakers: Sequence[str] = SMIL_SPEAKERS,
    informativeness: Mapping[str, float] | None = None,
    seed: int = 0,
    train_format: str = "csv",
) -> Path:
    """Write ``root/mnist/`` and ``root/fsdd/recordings/`` so that ``AVMNIST(root, ...)`` reads them unchanged.

    Args:
        root: the folder to fill (created if needed).
        n_per_digit: takes per digit and speaker (0 .. n-1; takes 0-14 are test, so > 15 gives train clips).
        speakers: FSDD speaker names to write.
        informativeness: ``{"image": q_image, "audio": q_audio}``, each in ``[0, 1]``; a key left out
            takes its default (image 0.9, audio 0.5).
        seed: seeds every random choice.
        train_format: ``"csv"`` (``mnist_5k_train_subset.csv.gz``) or ``"idx"`` (``train-*-idx*-ubyte.gz``).

    Returns:
        ``root``, as a ``Path``.

    >>> import tempfile, pathlib
    >>> root = write_synthetic_avmnist(pathlib.Path(tempfile.mkdtemp()), n_per_digit=16, speakers=("theo",))
    >>> len(list((root / "fsdd" / "recordings").glob("*.wav")))
    160
    """
    knob = check_informativeness(informativeness, ("image", "audio"), {"image": 0.9, "audio": 0.5})
    if n_per_digit < 1:
        raise ValueError(f"n_per_digit must be >= 1, got {n_per_digit!r}")
    if train_format not in ("csv", "idx"):
        raise ValueError(f"train_format must be 'csv' or 'idx', got {train_format!r}")
    root = Path(root)
    rng = np.random.default_rng(seed)
    templates = _image_templates(rng)
    n_test = len(speakers) * min(n_per_digit, TEST_TAKES) + _SLACK
    n_train = len(speakers) * max(n_per_digit - TEST_TAKES, 0) + _SLACK
    mnist = root / "mnist"
    test_labels = np.repeat(np.arange(10), n_test)
    write_idx(mnist / "t10k-images-idx3-ubyte.gz", synthetic_images(test_labels, knob["image"], rng, templates))
    write_idx(mnist / "t10k-labels-idx1-ubyte.gz", test_labels.astype(np.uint8))
    train_labels = np.repeat(np.arange(10), n_train)
    train_images = synthetic_images(train_labels, knob["image"], rng, templates)
    if train_format == "csv":
        write_mnist_csv(mnist / "mnist_5k_train_subset.csv.gz", train_images, train_labels)
    else:
        write_idx(mnist / "train-images-idx3-ubyte.gz", train_images)
        write_idx(mnist / "train-labels-idx1-ubyte.gz", train_labels.astype(np.uint8))
    recordings = root / "fsdd" / "recordings"
    for s_index, speaker in enumerate(speakers):
        for digit in range(10):
            shown = _rendered_class(np.full(n_per_digit, digit), knob["audio"], rng)
            for take in range(n_per_digit):
                clip = synthetic_clip(int(shown[take]), s_index, rng)
                write_wav(recordings / f"{digit}_{speaker}_{take}.wav", clip)
    (root / "SYNTHETIC.txt").write_text(
        f"Synthetic AudiovisionMNIST written by mce_data.write_synthetic_avmnist(seed={seed}, "
        f"n_per_digit={n_per_digit}, speakers={list(speakers)}, informativeness={knob}).\n"
    )
    return root
