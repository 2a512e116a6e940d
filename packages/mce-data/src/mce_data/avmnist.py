"""AudiovisionMNIST: MNIST digits paired with Free Spoken Digit recordings of the same digit.

Layout read under ``root`` (as the datasets ship; :func:`mce_data.write_synthetic_avmnist` writes the same)::

    root/mnist/t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz          test image pool
    root/mnist/train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz        train pool, if present, else
    root/mnist/mnist_5k_train_subset.csv.gz                                  train pool (785 columns, label last)
    root/fsdd/recordings/{digit}_{speaker}_{take}.wav                        PCM 16-bit mono 8 kHz

Protocol (SMIL, the default): speakers jackson, nicolas and theo; takes 0-14 are test, takes 15-49 train:
1,050 train-pool and 450 test clips (``speakers="all"``: all six speakers, 2,100 / 900). The validation
split is carved from the train pool: ``round(val_fraction * n)`` clips (default 10 %: 105) chosen by a
permutation seeded with ``(seed, 2)``; ``split="train"`` is the rest (945), so model selection never
touches test. Ids are ``"{pool}-{k:05d}"`` with ``k`` the clip's position in the pool sorted by
(speaker, digit, take), so they do not depend on ``val_fraction`` or ``limit``.

Pairing: clips are the unit; for each digit, the pool's clips of that digit (in id order) receive
distinct MNIST images of that digit drawn without replacement by ``numpy.random.default_rng((seed,
0 for train / 1 for test))`` from the image pool's indices of that label. Different image pools (5k
csv subset vs full train idx) give different pairings for the same ids.

Each sample: ``image: Float[1, 28, 28]`` in ``[0, 1]`` (pixels / 255), ``audio: Float[1, 20, 20]`` MFCC
(see :mod:`mce_data.mfcc`; normalised per clip to zero mean / unit variance over its real frames when
``normalise_audio``), ``target: Long[]`` the digit. Both modalities are always available.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from torch.utils.data import Dataset

from mce_data.fsdd_io import SPEAKERS, FsddClip, list_recordings
from mce_data.mask_per_class import per_class_mask, per_speaker_count
from mce_data.masks import MissingMask
from mce_data.mfcc import MfccCache, normalise
from mce_data.mnist_io import read_idx_pair, read_mnist_csv
from mce_data.sample import Sample

SMIL_SPEAKERS = ("jackson", "nicolas", "theo")
TEST_TAKES = 15
SPLITS = ("train", "val", "test")


def speaker_list(speakers: str | Sequence[str]) -> tuple[str, ...]:
    """``"smil"`` -> jackson, nicolas, theo; ``"all"`` -> the six FSDD speakers; or an explicit list."""
    if speakers == "smil":
        return SMIL_SPEAKERS
    if speakers == "all":
        return SPEAKERS
    if isinstance(speakers, str) or not speakers or not all(isinstance(s, str) for s in speakers):
        raise ValueError(f"speakers must be 'smil', 'all' or a non-empty list of speaker names, got {speakers!r}")
    return tuple(speakers)


def load_image_pool(mnist_dir: Path, pool: str) -> tuple[NDArray[np.uint8], NDArray[np.int64], str]:
    """The MNIST images and labels a pool draws from, and the file they came from."""
    if pool == "test":
        images = mnist_dir / "t10k-images-idx3-ubyte.gz"
        labels = mnist_dir / "t10k-labels-idx1-ubyte.gz"
        return (*read_idx_pair(images, labels), images.name)
    images = mnist_dir / "train-images-idx3-ubyte.gz"
    if images.is_file():
        return (*read_idx_pair(images, mnist_dir / "train-labels-idx1-ubyte.gz"), images.name)
    subset = mnist_dir / "mnist_5k_train_subset.csv.gz"
    if subset.is_file():
        return (*read_mnist_csv(subset), subset.name)
    raise FileNotFoundError(
        f"no MNIST training images in {mnist_dir}: expected train-images-idx3-ubyte.gz (+ train-labels-idx1-ubyte.gz) "
        f"or mnist_5k_train_subset.csv.gz; fetch them with: python -m mce_data download mnist --dest {mnist_dir.parent}"
    )


def _by_stratum(clips: Sequence[tuple[Path, FsddClip]]) -> dict[tuple[int, str], list[FsddClip]]:
    """The clips of each (digit, speaker), in take order."""
    groups: dict[tuple[int, str], list[FsddClip]] = {}
    for _, clip in sorted(clips, key=lambda item: item[1].take):
        groups.setdefault((clip.digit, clip.speaker), []).append(clip)
    return groups


def pair_images(
    digits: NDArray[np.int64], labels: NDArray[np.int64], seed: tuple[int, int], source: str
) -> NDArray[np.int64]:
    """For clip ``i`` of digit ``digits[i]``, a distinct image index with that label (module doc)."""
    rng = np.random.default_rng(seed)
    chosen = np.empty(len(digits), dtype=np.int64)
    for digit in range(10):
        clips = np.flatnonzero(digits == digit)
        pool = np.flatnonzero(labels == digit)
        if len(pool) < len(clips):
            raise ValueError(f"{source}: {len(pool)} images of digit {digit}, but {len(clips)} clips need a partner")
        chosen[clips] = rng.choice(pool, size=len(clips), replace=False)
    return chosen


class AVMNIST(Dataset[Sample]):
    """AudiovisionMNIST as a :class:`~mce_data.sample.MultiModalDataset` (protocol in the module doc).

    Args:
        root: folder holding ``mnist/`` and ``fsdd/recordings/``.
        split: ``"train"``, ``"val"`` (carved from train) or ``"test"``.
        speakers: ``"smil"``, ``"all"`` or a list of FSDD speaker names.
        cache_dir: where MFCCs are cached (``None``: computed on every access).
        val_fraction: share of the train pool held out as ``"val"``, in ``[0, 1)``.
        seed: seeds the image pairing and the validation carve-out.
        normalise_audio: standardise each clip's MFCC (see :func:`mce_data.mfcc.normalise`).
        limit: keep only the first ``limit`` samples of the split (quick runs); ids are unchanged.

    >>> import tempfile, pathlib
    >>> from mce_data.synthetic_avmnist import write_synthetic_avmnist
    >>> root = write_synthetic_avmnist(pathlib.Path(tempfile.mkdtemp()), n_per_digit=16, speakers=("theo",))
    >>> test = AVMNIST(root, "test", speakers=["theo"])
    >>> len(test), test.sample_ids()[0], tuple(test[0].inputs["audio"].shape)
    (150, 'test-00000', (1, 20, 20))
    """

    modalities: tuple[str, ...] = ("image", "audio")

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        speakers: str | Sequence[str] = "smil",
        cache_dir: str | Path | None = None,
        val_fraction: float = 0.1,
        seed: int = 0,
        normalise_audio: bool = True,
        limit: int | None = None,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be a positive int or None, got {limit!r}")
        self.root = Path(root)
        self.split = split
        self.speakers = speaker_list(speakers)
        pool = "test" if split == "test" else "train"
        recordings = self.root / "fsdd" / "recordings"
        clips = [(p, c) for p, c in list_recordings(recordings) if c.speaker in self.speakers]
        absent = sorted(set(self.speakers) - {c.speaker for _, c in clips})
        if absent:
            raise FileNotFoundError(f"{recordings}: no recordings of speaker(s) {absent}")
        clips = [(p, c) for p, c in clips if (c.take < TEST_TAKES) == (pool == "test")]
        if not clips:
            raise ValueError(f"{recordings}: no {pool} clips (takes {'0-14' if pool == 'test' else '>= 15'})")
        digits = np.array([c.digit for _, c in clips], dtype=np.int64)
        images, labels, source = load_image_pool(self.root / "mnist", pool)
        partner = pair_images(digits, labels, (seed, 1 if pool == "test" else 0), source)
        keep = np.arange(len(clips))
        if pool == "train":
            n_val = math.floor(val_fraction * len(clips) + 0.5)
            held = np.zeros(len(clips), dtype=bool)
            held[np.random.default_rng((seed, 2)).permutation(len(clips))[:n_val]] = True
            keep = np.flatnonzero(held if split == "val" else ~held)
            if keep.size == 0:
                raise ValueError(f"split {split!r} is empty with val_fraction={val_fraction} of {len(clips)} clips")
        if limit is not None:
            keep = keep[:limit]
        self.image_source = source
        self.clips: list[tuple[Path, FsddClip]] = [clips[k] for k in keep]
        self._pool_per_class = np.bincount(digits, minlength=10)
        # Rank of each clip among the pool's clips of its (digit, speaker), in take order (the official file order).
        rank = {clip: r for group in _by_stratum(clips).values() for r, clip in enumerate(group)}
        self._pool_ranks = [rank[clips[k][1]] for k in keep]
        self._ids = [f"{pool}-{k:05d}" for k in keep]
        self.image_indices = partner[keep]
        self._images = np.ascontiguousarray(images[self.image_indices])
        self.image_labels = labels[self.image_indices]
        self.normalise_audio = normalise_audio
        self.mfcc = MfccCache(None if cache_dir is None else Path(cache_dir))

    def __len__(self) -> int:
        return len(self._ids)

    def sample_ids(self) -> list[str]:
        """The ids in index order (no file is read)."""
        return list(self._ids)

    def available_matrix(self) -> torch.Tensor:
        """``Bool[N, 2]``, all ``True``: every AVMNIST pair has its image and its clip."""
        return torch.ones(len(self._ids), len(self.modalities), dtype=torch.bool)

    def audio(self, index: int) -> torch.Tensor:
        """``Float[1, 20, 20]``: the MFCC of sample ``index``'s clip."""
        mfcc, real = self.mfcc.get(self.clips[index][0])
        if self.normalise_audio:
            mfcc = normalise(mfcc, real)
        return torch.from_numpy(mfcc).unsqueeze(0)

    def fig7_mask(self, audio_present: float) -> MissingMask:
        """The Fig. 7 training mask (:mod:`mce_data.mask_per_class`): every image; audio for the first
        ``per_speaker_count(audio_present, clips per class, speakers)`` takes of each (digit, speaker) of the
        train pool, so ``audio_present = 0.1`` keeps 12 of 105 per class as the official code does. Clips held
        out for validation keep their place in that order (validation is evaluated complete)."""
        counts = set(self._pool_per_class[self._pool_per_class > 0].tolist())
        if len(counts) != 1:
            raise ValueError(f"the Fig. 7 protocol needs as many clips of every digit; the pool has {sorted(counts)}")
        keep = per_speaker_count(audio_present, counts.pop(), len(self.speakers))
        strata = [(c.digit, c.speaker) for _, c in self.clips]
        return per_class_mask(self._ids, self.modalities, "audio", strata=strata, ranks=self._pool_ranks, keep=keep)

    def __getitem__(self, index: int) -> Sample:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        index %= len(self)
        image = torch.from_numpy(self._images[index].astype(np.float32) / 255.0).unsqueeze(0)
        target = torch.tensor(self.clips[index][1].digit, dtype=torch.long)
        return Sample(self._ids[index], {"image": image, "audio": self.audio(index)}, (True, True), target)

    def precompute(self) -> int:
        """Compute (and cache, given ``cache_dir``) every clip's MFCC; returns how many were computed."""
        before = self.mfcc.computed
        for path, _ in self.clips:
            self.mfcc.get(path)
        return self.mfcc.computed - before
