"""Missing-modality masks keyed by sample id: drawn once from per-modality rates, saved beside the experiment.

A :class:`MissingMask` belongs to samples, not to batch positions: look rows up by id
(:meth:`MissingMask.lookup`), so a sample keeps its mask across epochs, shuffles, workers and ranks.
How rows are drawn (styles ``"counts"``, ``"bernoulli"``, ``"combinations"``; all-missing modes ``"exclude"``,
``"swap"``, ``"redraw"``) is described in :mod:`mce_data.mask_modes`.

>>> mask = MissingMask.generate(["a", "b", "c", "d"], ("image", "audio"), (0.5, 0.25), seed=0)
>>> mask.present.shape, mask.missing_counts(), mask.n_excluded
(torch.Size([4, 2]), [2, 1], 0)
>>> mask.lookup(["d", "a"]).shape
torch.Size([2, 2])
>>> mask.realised_missing_rates()
[0.5, 0.25]
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from mce_data.mask_checks import ALL_MISSING as ALL_MISSING
from mce_data.mask_checks import OTHER_STYLES as OTHER_STYLES
from mce_data.mask_checks import STYLES as STYLES
from mce_data.mask_checks import AvailableLike as AvailableLike
from mce_data.mask_checks import available_digest as available_digest
from mce_data.mask_checks import check_all_missing as check_all_missing
from mce_data.mask_checks import check_available as check_available
from mce_data.mask_checks import check_ids as check_ids
from mce_data.mask_checks import check_modalities as check_modalities
from mce_data.mask_checks import check_seed as check_seed
from mce_data.mask_checks import ids_digest as ids_digest
from mce_data.mask_checks import name_ids as name_ids
from mce_data.mask_draw import BoolArray, RatesLike, check_rates
from mce_data.mask_modes import draw_presence


@dataclass(frozen=True, eq=False)
class MissingMask:
    """Which modality each sample has: ``present: Bool[N, M]``, row ``i`` for ``sample_ids[i]``.

    Attributes:
        sample_ids: the ids, row order of ``present`` (an ``"exclude"`` mask lacks the excluded ids).
        modalities: column order of ``present``.
        present: ``Bool[N, M]``; no row is all ``False``.
        rates: the per-modality missing rates it was drawn from (``None`` when not drawn from rates).
        seed: the seed it was drawn with (``None`` when not drawn, or drawn without randomness).
        style: how it was made: a drawn style of :data:`STYLES` (``"counts"``, ``"bernoulli"``,
            ``"combinations"``) or one of :data:`OTHER_STYLES` (``"per-class"``, ``"passion-csv"``,
            ``"mce-nuscenes-csv"``, ``"full"``, ``"subset"``, ``"custom"`` for a hand-made mask).
        all_missing: ``"exclude"``, ``"swap"`` or ``"redraw"`` (:mod:`mce_data.mask_modes`) for a drawn or loaded
            mask; ``None`` for one that no such rule made (full, subset, per-class, hand-made: every id kept).
        source_digest: :func:`ids_digest` of the ids it was drawn for, before any exclusion.
        n_source: how many ids it was drawn for, before any exclusion (:attr:`n_excluded` left out).
        available_digest: :func:`available_digest` of the source availability it was drawn within
            (``None`` when drawn without one).
    """

    sample_ids: list[str]
    modalities: tuple[str, ...]
    present: Tensor
    rates: tuple[float, ...] | None = None
    seed: int | None = None
    style: str = "custom"
    all_missing: str | None = None
    source_digest: str = field(default="")
    n_source: int = 0
    available_digest: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "sample_ids", check_ids(self.sample_ids))
        object.__setattr__(self, "modalities", check_modalities(self.modalities))
        present = self.present
        n, m = len(self.sample_ids), len(self.modalities)
        if not isinstance(present, Tensor) or present.dtype != torch.bool or tuple(present.shape) != (n, m):
            got = f"{present.dtype} {tuple(present.shape)}" if isinstance(present, Tensor) else type(present).__name__
            raise ValueError(f"present must be a Bool[{n}, {m}] tensor (ids x modalities), got {got}")
        dead = (~present.any(dim=1)).nonzero().flatten()
        if dead.numel():
            first = self.sample_ids[int(dead[0])]
            raise ValueError(f"sample {first!r} has every modality missing ({dead.numel()} such rows)")
        if self.style not in (*STYLES, *OTHER_STYLES):
            raise ValueError(f"style must be one of {(*STYLES, *OTHER_STYLES)}, got {self.style!r}")
        if self.all_missing is not None:
            check_all_missing(self.all_missing)
        if not self.source_digest:
            object.__setattr__(self, "source_digest", ids_digest(self.sample_ids))
            object.__setattr__(self, "n_source", n)
        if self.n_source < n:
            raise ValueError(f"n_source ({self.n_source}) cannot be below the number of rows ({n})")

    # -- constructors ------------------------------------------------------------------------------
    @classmethod
    def generate(
        cls,
        sample_ids: Sequence[str],
        modalities: Sequence[str],
        rates: RatesLike,
        *,
        seed: int,
        style: str = "counts",
        all_missing: str = "exclude",
        available: AvailableLike | None = None,
    ) -> MissingMask:
        """Draw a mask from per-modality missing rates, reproducibly from ``seed`` (:mod:`mce_data.mask_modes`).

        Args:
            sample_ids: ``N`` unique ids (``dataset.sample_ids()``); the row order of the result.
            modalities: ``M`` modality names (``dataset.modalities``).
            rates: ``M`` missing rates, each in ``[0, 1)`` (a sequence, numpy array or tensor).
            seed: a non-negative int; the same arguments and seed give the same mask.
            style: ``"counts"`` (exact per-modality counts), ``"bernoulli"`` (independent cells) or
                ``"combinations"`` (exact per-pattern counts).
            all_missing: what a sample drawn with no modality becomes: ``"exclude"`` (left out, the paper's rule;
                :attr:`n_excluded` counts them), ``"swap"`` (takes a present cell from another sample, counts
                exact) or ``"redraw"`` (its row drawn again until not empty, PASSION's practice).
            available: optional ``Bool[N, M]``, which modalities the source itself has
                (:func:`mce_data.sample.available_matrix`). Cells the source lacks stay missing and the
                draw happens among the available cells: in ``"counts"`` style ``k_m = round(r_m * N)`` available
                cells of ``m`` are dropped (with ``"swap"`` never a sample's last available one), so
                ``missing_counts()[m] = k_m + (N - A_m)`` over all ``N`` with ``A_m`` samples having ``m``.
                With ``"swap"`` or ``"redraw"``, samples that have no modality at all are a ``ValueError``
                naming them; ``"exclude"`` drops them.

        >>> a = MissingMask.generate([f"s{i}" for i in range(50)], ("x", "y", "z"), (0.2, 0.5, 0.8), seed=3)
        >>> b = MissingMask.generate([f"s{i}" for i in range(50)], ("x", "y", "z"), (0.2, 0.5, 0.8), seed=3)
        >>> bool((a.present == b.present).all()), a.missing_counts(), a.n_excluded  # 4 drawn with nothing, left out
        (True, [6, 21, 36], 4)
        >>> swapped = MissingMask.generate([f"s{i}" for i in range(50)], ("x", "y", "z"), (0.2, 0.5, 0.8), seed=3,
        ...                                all_missing="swap")
        >>> swapped.missing_counts(), swapped.n_excluded
        ([10, 25, 40], 0)
        """
        ids = check_ids(sample_ids)
        mods = check_modalities(modalities)
        checked = check_rates(rates, len(mods))
        seed = check_seed(seed)
        if style not in STYLES:
            raise ValueError(f"style must be one of {STYLES}, got {style!r}")
        check_all_missing(all_missing)
        avail = None if available is None else check_available(available, len(ids), len(mods))
        if avail is not None and all_missing != "exclude" and not avail.any(axis=1).all():
            has_any: BoolArray = np.asarray(avail.any(axis=1), dtype=bool)
            empty = [sid for sid, ok in zip(ids, has_any.tolist(), strict=True) if not ok]
            raise ValueError(
                f"{name_ids(empty)} have no modality available in the source, so no mask can keep them; drop them "
                f"from the dataset or use all_missing='exclude'"
            )
        rows = draw_presence(style, all_missing, len(ids), checked, np.random.default_rng(seed), avail)
        alive: BoolArray = np.asarray(rows.any(axis=1), dtype=bool)
        keep = [bool(k) for k in alive]
        return cls(
            sample_ids=[sid for sid, k in zip(ids, keep, strict=False) if k],
            modalities=mods,
            present=torch.from_numpy(rows[alive].copy()),
            rates=checked,
            seed=int(seed),
            style=style,
            all_missing=all_missing,
            source_digest=ids_digest(ids),
            n_source=len(ids),
            available_digest=available_digest(avail),
        )

    @classmethod
    def full(cls, sample_ids: Sequence[str], modalities: Sequence[str]) -> MissingMask:
        """Every modality present for every sample (test sets, complete-data training).

        >>> MissingMask.full(["a", "b"], ("x", "y")).present.all().item()
        True
        """
        mods = check_modalities(modalities)
        ids = check_ids(sample_ids)
        return cls(ids, mods, torch.ones(len(ids), len(mods), dtype=torch.bool), style="full", all_missing=None)

    @classmethod
    def subset(cls, sample_ids: Sequence[str], modalities: Sequence[str], keep: Sequence[str]) -> MissingMask:
        """Exactly the modalities in ``keep`` present for every sample (evaluation of one modality subset).

        >>> MissingMask.subset(["a", "b"], ("x", "y"), ["y"]).present.tolist()
        [[False, True], [False, True]]
        """
        mods = check_modalities(modalities)
        unknown = [k for k in keep if k not in mods]
        if isinstance(keep, str) or not keep or unknown:
            raise ValueError(f"keep must be a non-empty list of modalities from {list(mods)}, got {keep!r}")
        ids = check_ids(sample_ids)
        row = torch.tensor([m in keep for m in mods], dtype=torch.bool)
        return cls(ids, mods, row.expand(len(ids), -1).clone(), style="subset", all_missing=None)

    # -- queries -----------------------------------------------------------------------------------
    @cached_property
    def _row_of(self) -> dict[str, int]:
        return {sid: row for row, sid in enumerate(self.sample_ids)}

    def __len__(self) -> int:
        return len(self.sample_ids)

    def __contains__(self, sample_id: object) -> bool:
        return sample_id in self._row_of

    def lookup(self, sample_ids: Sequence[str]) -> Tensor:
        """``Bool[K, M]``: the rows of ``sample_ids`` (any order, any subset); a ``KeyError`` names unknown ids."""
        if isinstance(sample_ids, str):
            raise TypeError(f"lookup takes a sequence of ids, got the single string {sample_ids!r}; wrap it in a list")
        row_of = self._row_of
        unknown = [sid for sid in sample_ids if sid not in row_of]
        if unknown:
            raise KeyError(f"{len(unknown)} id(s) not in this mask of {len(self)} samples, e.g. {unknown[:3]}")
        return self.present[[row_of[sid] for sid in sample_ids]].reshape(len(sample_ids), len(self.modalities))

    def missing_counts(self) -> list[int]:
        """Per modality, how many rows miss it."""
        return [int(v) for v in (~self.present).sum(dim=0)]

    def realised_missing_rates(self) -> list[float]:
        """Per modality (column order), the fraction of the kept rows that miss it: what training sees.

        Over the rows of this mask, so after any exclusion (``"exclude"``: :attr:`n_excluded` ids left out) and
        after a redraw (``"redraw"`` lowers the rates); the same for a mask read back from a file.
        """
        return [k / len(self) for k in self.missing_counts()]

    @property
    def n_excluded(self) -> int:
        """How many of the ids it was drawn for were left out (drawn with no modality under ``"exclude"``)."""
        return self.n_source - len(self)

    def pattern_counts(self) -> dict[tuple[str, ...], int]:
        """How many rows have each presence pattern (named by its present modalities), all non-empty patterns."""
        counts: dict[tuple[str, ...], int] = {}
        for size in range(1, len(self.modalities) + 1):
            for combo in itertools.combinations(range(len(self.modalities)), size):
                row = torch.zeros(len(self.modalities), dtype=torch.bool)
                row[list(combo)] = True
                counts[tuple(self.modalities[c] for c in combo)] = int((self.present == row).all(dim=1).sum())
        return counts

    # -- files -------------------------------------------------------------------------------------
    def save_csv(self, path: str | Path) -> Path:
        """Write the mask as CSV (``id`` + one 0/1 column per modality) under a JSON metadata comment line."""
        from mce_data.mask_csv import write_mask_csv

        return write_mask_csv(self, Path(path))

    @classmethod
    def load_csv(
        cls,
        path: str | Path,
        *,
        expected_ids: Sequence[str] | None = None,
        modalities: Sequence[str] | None = None,
    ) -> MissingMask:
        """Read a mask written by :meth:`save_csv`; a ``ValueError`` names the file when it does not match.

        Args:
            path: the CSV file.
            expected_ids: the dataset's ids; the file must have been drawn for exactly these (same order).
            modalities: the dataset's modalities; the file's columns must be exactly these.
        """
        from mce_data.mask_csv import read_mask_csv

        return read_mask_csv(Path(path), expected_ids=expected_ids, modalities=modalities)

    @classmethod
    def load_or_generate(
        cls,
        path: str | Path,
        sample_ids: Sequence[str],
        modalities: Sequence[str],
        rates: RatesLike,
        *,
        seed: int,
        style: str = "counts",
        all_missing: str = "exclude",
        available: AvailableLike | None = None,
    ) -> MissingMask:
        """Load ``path`` if it exists (checking ids, modalities, rates, seed, style and availability), else generate
        and save it.

        ``available`` (``Bool[N, M]``, e.g. :func:`mce_data.sample.available_matrix` of the dataset) is passed
        to :meth:`generate`; a file drawn with another availability (or without one) is a ``ValueError``.
        """
        from mce_data.mask_csv import check_settings

        path = Path(path)
        if not path.exists():
            mask = cls.generate(
                sample_ids, modalities, rates, seed=seed, style=style, all_missing=all_missing, available=available
            )
            mask.save_csv(path)
            return mask
        mask = cls.load_csv(path, expected_ids=sample_ids, modalities=modalities)
        avail = None if available is None else check_available(available, len(sample_ids), len(mask.modalities))
        check_settings(
            mask, path, check_rates(rates, len(mask.modalities)), seed, style, all_missing, available_digest(avail)
        )
        return mask
