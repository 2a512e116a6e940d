"""Deterministic per-class masks: the protocol of the MCE paper's only AVMNIST result (Fig. 7).

The official code (byzhaoAI/MCE ``digit_recog/train_mce.py``, ``main``, with SMIL's
``partial_training_dataset.MetaTrSouMNIST``) keeps every training image and pairs audio with the first ``k``
images of each class, ``k = int(10.5 * rate)`` for ``rate = 1 ... 10`` rounded up to a multiple of 3, taking
the first ``k / 3`` sorted recordings of each of the three speakers: ``k`` = 12, 21, 33, 42, 54, 63, 75, 84, 96,
105 of 105 per class. No randomness: which clips keep their audio is fixed by file order.

:func:`per_speaker_count` is that rule for any fraction (``floor(n_class * fraction)`` rounded up to a multiple
of the number of speakers, split evenly); :func:`per_class_mask` applies a count per stratum (class and speaker)
to samples ranked within their stratum. :meth:`mce_data.AVMNIST.fig7_mask` puts the two together.

>>> [per_speaker_count(p / 10, 105, 3) * 3 for p in range(1, 11)]
[12, 21, 33, 42, 54, 63, 75, 84, 96, 105]
>>> mask = per_class_mask(["a", "b", "c", "d"], ("image", "audio"), "audio", strata=[0, 0, 1, 1],
...                       ranks=[0, 1, 1, 0], keep=1)
>>> mask.present.int().tolist(), mask.style
([[1, 1], [1, 0], [1, 0], [1, 1]], 'per-class')
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import torch

from mce_data.mask_checks import check_ids, check_modalities
from mce_data.masks import MissingMask


def per_speaker_count(fraction: float, n_class: int, n_speakers: int) -> int:
    """How many recordings per speaker keep their audio: ``floor(n_class * fraction)`` rounded up to a multiple
    of ``n_speakers``, divided by ``n_speakers`` (module doc); ``fraction`` in ``(0, 1]``."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"the fraction of samples with audio must be in (0, 1], got {fraction!r}")
    if n_class < 1 or n_speakers < 1:
        raise ValueError(f"need at least one sample per class and one speaker, got {n_class} and {n_speakers}")
    k = math.floor(n_class * fraction + 1e-9)  # 10.5 * 6 is 63 in the official code; 105 * 0.6 is 62.99...
    return min(math.ceil(k / n_speakers), math.ceil(n_class / n_speakers))


def per_class_mask(
    sample_ids: Sequence[str],
    modalities: Sequence[str],
    modality: str,
    *,
    strata: Sequence[Hashable],
    ranks: Sequence[int],
    keep: int,
) -> MissingMask:
    """Every modality present, ``modality`` only for samples ranked below ``keep`` within their stratum.

    Args:
        sample_ids: ``N`` ids.
        modalities: the dataset's modalities; ``modality`` is one of them.
        strata: ``N`` stratum keys (AVMNIST: ``(digit, speaker)``).
        ranks: ``N`` ranks of each sample within its stratum's full pool (0 first; the order the official code
            sorts files in), so a sample held out for validation does not move the others.
        keep: how many of each stratum keep ``modality``.
    """
    ids = check_ids(sample_ids)
    mods = check_modalities(modalities)
    if modality not in mods:
        raise ValueError(f"modality must be one of {list(mods)}, got {modality!r}")
    if len(strata) != len(ids) or len(ranks) != len(ids):
        raise ValueError(f"expected {len(ids)} strata and ranks (one per sample), got {len(strata)} and {len(ranks)}")
    if keep < 0:
        raise ValueError(f"keep must be a non-negative count, got {keep}")
    present = torch.ones(len(ids), len(mods), dtype=torch.bool)
    present[:, mods.index(modality)] = torch.tensor([rank < keep for rank in ranks], dtype=torch.bool)
    if len(mods) == 1 and not bool(present.all()):
        raise ValueError(f"{modality!r} is the only modality: samples without it would have none")
    return MissingMask(ids, mods, present, style="per-class")
