"""The training masks of one seed: drawn once from the missing rates (or read from a file), saved beside the results.

Every method of a run sees the same mask: it is keyed by sample id and written as CSV under ``out/masks``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mce_data import MissingMask
from mce_data.sample import available_matrix
from mce_train.benchmarks.base import Benchmark
from mce_train.distributed import Distributed
from mce_train.errors import ConfigurationError

if TYPE_CHECKING:
    from mce_train.experiment import Settings


def training_mask(
    bench: Benchmark, settings: Settings, train: Any, seed: int, out: Path, distributed: Distributed
) -> tuple[MissingMask, Path]:
    """The seed's training mask: ``settings.masks`` if given (checked against the dataset), else the
    mask drawn once from the rates and saved under ``out/masks`` (rank 0 draws, the others read),
    among the modalities each sample's source has (a BraTS case without T1 never counts as T1-present)."""
    ids = list(train.sample_ids())
    available = available_matrix(train)
    if settings.masks is not None:
        try:
            return MissingMask.load_csv(settings.masks, expected_ids=ids, modalities=bench.modalities), settings.masks
        except (ValueError, FileNotFoundError) as error:
            raise ConfigurationError(f"--masks {settings.masks}: {error}") from error
    rates_tag = "-".join(f"{r:g}" for r in settings.rates)
    excluded = "-exclude" if settings.all_missing == "exclude" else ""
    mask_file = out / "masks" / f"{bench.name}-rates{rates_tag}{excluded}-seed{seed}.csv"

    def draw() -> MissingMask:
        return MissingMask.load_or_generate(
            mask_file,
            ids,
            bench.modalities,
            settings.rates,
            seed=seed,
            available=available,
            all_missing=settings.all_missing,
        )

    if distributed.main:
        draw()
    distributed.barrier()
    mask = draw()
    return mask, mask_file
