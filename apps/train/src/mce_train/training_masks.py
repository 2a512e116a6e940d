"""The training masks of one seed: drawn once from the missing rates, made by a benchmark's own protocol, or read
from a file (ours, PASSION's BraTS split CSVs, MCE's nuScenes mask CSVs), and saved beside the results.

Every method of a run sees the same mask: it is keyed by sample id and written as CSV under ``out/masks``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mce_data import MissingMask, read_nuscenes_csv, read_passion_csv
from mce_data.mask_official import official_layout
from mce_data.sample import available_matrix
from mce_train.benchmarks.base import Benchmark, Splits
from mce_train.distributed import Distributed
from mce_train.errors import ConfigurationError

if TYPE_CHECKING:
    from mce_train.experiment import Settings


def training_mask(
    bench: Benchmark, settings: Settings, splits: Splits, seed: int, out: Path, distributed: Distributed
) -> tuple[MissingMask, Path]:
    """The seed's training mask and the file it lives in.

    ``settings.masks`` if given (any layout :func:`read_mask_file` knows, checked against the dataset); else the
    benchmark's ``settings.protocol`` (AVMNIST ``fig7``: every image, audio per class); else drawn once from the
    rates in ``settings.mask_style`` with ``settings.all_missing`` and saved under ``out/masks`` (rank 0 draws, the
    others read), among the modalities each sample's source has (a BraTS case without T1 never counts as present).
    """
    ids = list(splits.train.sample_ids())
    if settings.masks is not None:
        mask = read_mask_file(settings.masks, ids, bench.modalities)
        if mask.style not in ("passion-csv", "mce-nuscenes-csv"):
            return mask, settings.masks
        # An official file: the rows used, in our format beside the results (what analysis and resume read).
        copy = out / "masks" / f"{bench.name}-{settings.masks.stem}.csv"
        if distributed.main:
            mask.save_csv(copy)
        distributed.barrier()
        return mask, copy
    if settings.protocol != "rates":
        make = splits.protocols.get(settings.protocol)
        if make is None:
            raise ConfigurationError(
                f"{bench.name} has no --protocol {settings.protocol}; it has {sorted(splits.protocols)}"
            )
        assert settings.audio_present is not None  # the command line requires it with a protocol
        mask_file = out / "masks" / f"{bench.name}-{settings.protocol}-present{settings.audio_present:g}.csv"
        mask = make(settings.audio_present)
        if distributed.main:
            mask.save_csv(mask_file)
        distributed.barrier()
        return mask, mask_file
    rates_tag = "-".join(f"{r:g}" for r in settings.rates)
    mask_file = (
        out / "masks" / f"{bench.name}-rates{rates_tag}-{settings.mask_style}-{settings.all_missing}-seed{seed}.csv"
    )
    available = available_matrix(splits.train)

    def draw() -> MissingMask:
        return MissingMask.load_or_generate(
            mask_file,
            ids,
            bench.modalities,
            settings.rates,
            seed=seed,
            style=settings.mask_style,
            available=available,
            all_missing=settings.all_missing,
        )

    try:
        if distributed.main:
            draw()
        distributed.barrier()
        return draw(), mask_file
    except ValueError as error:  # rates the mode cannot meet, a stale mask file
        raise ConfigurationError(str(error)) from None


def read_mask_file(path: Path, sample_ids: list[str], modalities: tuple[str, ...]) -> MissingMask:
    """A training mask from ``path``: our own mask CSV, a PASSION BraTS split CSV or an MCE nuScenes mask CSV
    (told apart by their first line; :mod:`mce_data.mask_official`). A mismatch is a :class:`ConfigurationError`;
    a malformed file stays a :class:`~mce_data.DataFileError` (the command line reports both in one line)."""
    layout = official_layout(path)
    try:
        if layout == "passion-csv":
            return read_passion_csv(path, sample_ids, modalities)
        if layout == "mce-nuscenes-csv":
            return read_nuscenes_csv(path, sample_ids, modalities)
        return MissingMask.load_csv(path, expected_ids=sample_ids, modalities=modalities)
    except FileNotFoundError as error:
        raise ConfigurationError(f"--masks {path}: {error}") from None
    except ValueError as error:
        if type(error) is not ValueError:
            raise
        raise ConfigurationError(f"--masks {path}: {error}") from None


def mask_record(mask: MissingMask) -> dict[str, Any]:
    """What a seed's record says about its mask: the realised per-modality missing rates (modality order, over the
    training samples kept) and how many samples were left out."""
    return {
        "mask_style": mask.style,
        "all_missing": mask.all_missing,
        "realised_missing_rates": [round(rate, 6) for rate in mask.realised_missing_rates()],
        "n_excluded": mask.n_excluded,
        "n_train": len(mask),
    }
