"""Argument checks and id helpers behind :class:`~mce_data.masks.MissingMask`: sample ids, modality names,
seeds and availability matrices validated, plus the digests that tie a mask file to the ids and availability it
was drawn for.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence

import numpy as np
from torch import Tensor

from mce_data.mask_draw import BoolArray

AvailableLike = Tensor | np.ndarray

STYLES = ("counts", "bernoulli", "combinations")
"""The styles :meth:`~mce_data.masks.MissingMask.generate` draws (:mod:`mce_data.mask_modes`)."""
ALL_MISSING = ("exclude", "swap", "redraw")
"""What a drawn mask does with a sample left with no modality (:mod:`mce_data.mask_modes`); ``"exclude"`` is
the paper's rule (Sec. 3.1: such samples are excluded from training) and every default."""
OTHER_STYLES = ("per-class", "passion-csv", "mce-nuscenes-csv", "full", "subset", "custom")
"""Masks not drawn from rates: :func:`~mce_data.mask_per_class.per_class_mask`, the official files
(:mod:`mce_data.mask_official`), :meth:`~mce_data.masks.MissingMask.full`,
:meth:`~mce_data.masks.MissingMask.subset` and any hand-made ``MissingMask(ids, modalities, present)``."""


def check_all_missing(all_missing: object) -> str:
    """One of :data:`ALL_MISSING`; anything else is a ``ValueError`` listing them."""
    if not isinstance(all_missing, str) or all_missing not in ALL_MISSING:
        raise ValueError(f"all_missing must be one of {ALL_MISSING}, got {all_missing!r}")
    return all_missing


def ids_digest(sample_ids: Sequence[str]) -> str:
    """sha256 of the ids joined by newlines: identifies the id list a mask was drawn for."""
    return hashlib.sha256("\n".join(sample_ids).encode()).hexdigest()


def check_ids(sample_ids: Sequence[str]) -> list[str]:
    """Validate sample ids: a non-empty sequence of unique, non-empty strings without commas or newlines."""
    if isinstance(sample_ids, (str, bytes)):
        raise TypeError(f"sample_ids must be a sequence of strings, got a single {type(sample_ids).__name__}")
    ids = list(sample_ids)
    if not ids:
        raise ValueError("sample_ids is empty; a mask needs at least one sample")
    for sid in ids:
        if not isinstance(sid, str) or not sid or any(ch in sid for ch in ",\n\r"):
            raise ValueError(f"sample ids must be non-empty strings without ',' or newlines, got {sid!r}")
    if len(set(ids)) != len(ids):
        dup = next(sid for sid, n in Counter(ids).items() if n > 1)
        raise ValueError(f"sample ids must be unique; {dup!r} appears more than once")
    return ids


def check_seed(seed: object) -> int:
    """A non-negative int seed (``TypeError`` for other types, ``ValueError`` for negative values)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be a non-negative int, got {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return int(seed)


def check_available(available: AvailableLike, n_samples: int, n_modalities: int) -> BoolArray:
    """``available`` as a numpy ``Bool[N, M]`` (from a bool tensor or array of that shape)."""
    array = available.detach().cpu().numpy() if isinstance(available, Tensor) else np.asarray(available)
    if array.dtype != np.bool_ or array.shape != (n_samples, n_modalities):
        raise ValueError(
            f"available must be Bool[{n_samples}, {n_modalities}] (samples x modalities), got {array.dtype} "
            f"{tuple(array.shape)}"
        )
    return np.array(array, dtype=bool)


def available_digest(available: BoolArray | None) -> str | None:
    """sha256 of an availability matrix (shape and cells), ``None`` for ``None``."""
    if available is None:
        return None
    packed = np.ascontiguousarray(available, dtype=np.uint8)
    return hashlib.sha256(f"{packed.shape}".encode() + packed.tobytes()).hexdigest()


def name_ids(ids: Sequence[str], limit: int = 5) -> str:
    """``"3 id(s), e.g. ['a', 'b', 'c']"``: a short listing for error messages."""
    return f"{len(ids)} id(s), e.g. {list(ids[:limit])}"


def check_modalities(modalities: Sequence[str]) -> tuple[str, ...]:
    """Validate modality names: non-empty, unique identifiers-like strings."""
    if isinstance(modalities, (str, bytes)):
        raise TypeError(f"modalities must be a sequence of names, got the single string {modalities!r}")
    mods = tuple(modalities)
    if not mods or len(set(mods)) != len(mods) or not all(isinstance(m, str) and m and "," not in m for m in mods):
        raise ValueError(f"modalities must be unique non-empty names without ',', got {list(mods)}")
    return mods
