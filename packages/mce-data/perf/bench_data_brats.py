"""BraTS loader throughput (samples/s): NIfTI decoded on access vs the memory-mapped .npy cache.

    python packages/mce-data/perf/bench_data_brats.py [--root DATA] [--crop 80] [--repeats 3]

Uses the real stand-in cases under ``--root`` (default ``$MCE_DATA_DIR``, else ``../shared/data``:
``brats/brainles_tcga_lgg``, 240×240×155, all four modalities) when present, otherwise synthetic
cases of ``--shape``. Rows: whole volumes and random ``--crop``³ crops, from the NIfTI tree
(:class:`mce_data.brats.BraTS`) and from its ``.npy`` conversion (:class:`mce_data.brats_npy.BraTSNpy`),
plus the one-off conversion time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _data_root import data_root_candidates

from mce_data.brats import TCGA_BRAINLES, BraTS
from mce_data.brats_npy import BraTSNpy, write_brats_npy
from mce_data.synthetic_brats import write_synthetic_brats


def _rate(label: str, count: int, seconds: float) -> None:
    print(f"  {label:<34} {count / seconds:8.2f} samples/s  ({count} in {seconds:.2f} s)")


def _time(data: BraTS | BraTSNpy, repeats: int) -> tuple[int, float]:
    start = time.perf_counter()
    for epoch in range(repeats):
        data.set_epoch(epoch)
        for index in range(len(data)):
            data[index]
    return repeats * len(data), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--root")
    parser.add_argument("--crop", type=int, default=80)
    parser.add_argument("--shape", type=int, default=128, help="synthetic cube size when no real data is found")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    real = next(
        (c / "brats" / "brainles_tcga_lgg" for c in data_root_candidates(args.root) if (c / "brats").is_dir()), None
    )
    with tempfile.TemporaryDirectory() as scratch:
        if real is not None:
            nifti, kind = BraTS(real, TCGA_BRAINLES, brain_crop=False), f"real TCGA-LGG cases at {real}"
        else:
            root = write_synthetic_brats(scratch, n_cases=2, shape=(args.shape,) * 3, seed=0)
            nifti, kind = BraTS(root, brain_crop=False), f"synthetic {args.shape}³ cases"
        print(f"BraTS throughput on {len(nifti)} {kind}")
        start = time.perf_counter()
        npy_root = write_brats_npy(nifti, Path(scratch) / "npy")
        print(f"  {'convert NIfTI -> .npy (one-off)':<34} {time.perf_counter() - start:8.2f} s")
        crop = (args.crop,) * 3
        rows: list[tuple[str, BraTS | BraTSNpy]] = [
            ("NIfTI, whole volume", nifti),
            (f"NIfTI, {args.crop}³ crop", BraTS(nifti.root, nifti.layout, cases=nifti.cases, crop_size=crop)),
            (".npy cache, whole volume", BraTSNpy(npy_root)),
            (f".npy cache, {args.crop}³ crop", BraTSNpy(npy_root, crop_size=crop)),
        ]
        for label, data in rows:
            _rate(label, *_time(data, args.repeats))


if __name__ == "__main__":
    main()
