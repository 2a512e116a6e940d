"""Synthetic IEMOCAP features written in MMIN's exact layout, so synthetic runs use the real loader.

Two signals (``signal=``), each frame plus unit Gaussian noise (and, for the acoustic features, an affine
distortion that the fold normalisation undoes); ``informativeness[m] = 0`` makes modality ``m`` pure noise:

* ``"temporal"`` (the default): the acoustic and visual classes differ only in the *order* of their frames.
  Each modality has two random directions ``a`` and ``b``; an utterance is four equal quarters along
  ``+a, -a, +b, -b`` (class 0), ``+b, -b, +a, -a`` (1), ``+a, +b, -a, -b`` (2) or ``+b, +a, -b, -a`` (3), times
  ``informativeness[m]``. Every class has the same per-frame mean (zero) and the same second moment, so mean
  (or variance) pooling recovers nothing and an encoder must model time, as on real IEMOCAP features. The
  lexical frames keep the class centroid (BERT token features carry the words' meaning frame by frame).
* ``"offset"`` (mce-data 0.1's generator): every frame of class ``c`` is ``informativeness[m] * centroid[m, c]``
  in every modality, which mean pooling recovers.

 Utterance ids follow IEMOCAP's ``Ses0<s><F|M>_<impro|script>..._<F|M><nnn>`` pattern; the
ten folds hold out a different tenth of the utterances as ``tst`` and the next tenth as ``val``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from mce_data._informativeness import check_informativeness
from mce_data._optional import require
from mce_data.iemocap_io import FOLDERS, MODALITIES, N_CLASSES

SMALL_DIMS: Mapping[str, int] = {"acoustic": 8, "visual": 6, "lexical": 12}
REAL_DIMS: Mapping[str, int] = {"acoustic": 130, "visual": 342, "lexical": 1024}
_STEMS = {"acoustic": "comparE", "visual": "denseface", "lexical": "bert_large"}
_LENGTHS = {"acoustic": (8, 40), "visual": (4, 20), "lexical": (3, 22)}
SIGNALS = ("temporal", "offset")
_ORDERS = ((0, 1, 2, 3), (2, 3, 0, 1), (0, 2, 1, 3), (2, 0, 3, 1))
"""Per class, the directions of the four quarters: 0 = +a, 1 = -a, 2 = +b, 3 = -b (module doc)."""


def _quarters(directions: np.ndarray, label: int, length: int) -> np.ndarray:
    """``Float[length, dims]``: the temporal signal of class ``label`` from ``directions: Float[2, dims]`` (a, b)."""
    signed = np.stack([directions[0], -directions[0], directions[1], -directions[1]])
    quarter = np.minimum(np.arange(length) * 4 // length, 3)
    rows: np.ndarray = signed[np.asarray(_ORDERS[label])[quarter]]
    return rows


def write_synthetic_iemocap(
    root: str | os.PathLike[str],
    n_utterances: int = 60,
    informativeness: Mapping[str, float] | None = None,
    seed: int = 0,
    *,
    real_dims: bool = False,
    missing: Mapping[str, float] | None = None,
    signal: str = "temporal",
) -> Path:
    """Write MMIN's IEMOCAP layout (``A/``, ``V/``, ``L/``, ``target/1..10``) with synthetic features.

    Args:
        root: output folder.
        n_utterances: number of utterances (>= 10, so each fold has a non-empty ``tst``).
        informativeness: per modality, in ``[0, 1]``, how strongly its features depend on the label
            (0 = pure noise); missing keys are 1.
        seed: the ``numpy`` random seed.
        real_dims: feature sizes 130 / 342 / 1024 as in MMIN instead of the small 8 / 6 / 12.
        missing: per modality, the fraction of utterances left out of its feature file.
        signal: ``"temporal"`` (class in the frame order of acoustic and visual) or ``"offset"`` (module doc).

    Returns:
        ``root`` as a :class:`~pathlib.Path`.

    >>> import tempfile
    >>> root = write_synthetic_iemocap(tempfile.mkdtemp(), n_utterances=10)
    >>> sorted(str(p.relative_to(root)) for p in root.glob("[AVL]/*.h5"))
    ['A/comparE.h5', 'A/comparE_mean_std.h5', 'L/bert_large.h5', 'V/denseface.h5']
    """
    h5py = require("h5py")
    if isinstance(n_utterances, bool) or not isinstance(n_utterances, int) or n_utterances < 10:
        raise ValueError(f"n_utterances must be an int >= 10 (ten folds); got {n_utterances!r}")
    if signal not in SIGNALS:
        raise ValueError(f"signal must be one of {SIGNALS}, got {signal!r}")
    weights = check_informativeness(informativeness, MODALITIES, dict.fromkeys(MODALITIES, 1.0))
    dims = REAL_DIMS if real_dims else SMALL_DIMS
    rng = np.random.default_rng(seed)
    out = Path(root)
    labels = rng.integers(0, N_CLASSES, n_utterances)
    names = [
        f"Ses0{i % 5 + 1}{'FM'[i % 2]}_{('impro', 'script')[i // 5 % 2]}{i // 10 % 9 + 1:02d}_{'FM'[i // 2 % 2]}{i:03d}"
        for i in range(n_utterances)
    ]
    acoustic: dict[str, np.ndarray] = {}
    for m in MODALITIES:
        (out / FOLDERS[m]).mkdir(parents=True, exist_ok=True)
        centroids = rng.standard_normal((N_CLASSES, dims[m]))
        temporal = signal == "temporal" and m != "lexical"
        dropped = set(rng.permutation(n_utterances)[: round((missing or {}).get(m, 0.0) * n_utterances)].tolist())
        with h5py.File(out / FOLDERS[m] / f"{_STEMS[m]}.h5", "w") as file:
            for i, (name, label) in enumerate(zip(names, labels, strict=False)):
                length = int(rng.integers(*_LENGTHS[m]))
                clean = _quarters(centroids[:2], int(label), length) if temporal else centroids[label]
                frames = weights[m] * clean + rng.standard_normal((length, dims[m]))
                if m == "acoustic":
                    frames = 3.0 * frames + 5.0
                    acoustic[name] = frames.astype(np.float32)
                if i not in dropped:
                    file.create_dataset(name, data=frames.astype(np.float32))
    order = rng.permutation(n_utterances)
    tenths = np.array_split(order, 10)
    with h5py.File(out / "A" / "comparE_mean_std.h5", "w") as stats:
        for cv in range(1, 11):
            tst, val = tenths[cv - 1], tenths[cv % 10]
            trn = np.setdiff1d(order, np.concatenate([tst, val]))
            folder = out / "target" / str(cv)
            folder.mkdir(parents=True, exist_ok=True)
            for split, indices in (("trn", trn), ("val", val), ("tst", tst)):
                indices = np.sort(indices)
                np.save(folder / f"{split}_label.npy", np.eye(N_CLASSES, dtype=np.float32)[labels[indices]])
                np.save(folder / f"{split}_int2name.npy", np.array([[names[i].encode()] for i in indices]))
            frames = np.concatenate([acoustic[names[i]] for i in trn])
            group = stats.create_group(str(cv))
            group.create_dataset("mean", data=frames.mean(axis=0))
            group.create_dataset("std", data=frames.std(axis=0))
    return out
