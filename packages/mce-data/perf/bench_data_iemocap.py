"""IEMOCAP loader throughput (samples/s): lazy HDF5 reads vs the preloaded in-memory cache.

    python packages/mce-data/perf/bench_data_iemocap.py [--root FEATURES] [--utterances 500]

Uses MMIN's feature layout under ``--root`` when given, otherwise synthetic features with the real
sizes (ComParE 130, DenseFace 342, BERT-large 1024) written to a temporary folder. Rows: construction,
``dataset[i]`` read lazily from the open HDF5 files, construction with ``preload=True`` and
``dataset[i]`` from memory, each over fold 1's training split.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from mce_data.iemocap import IEMOCAP
from mce_data.synthetic_iemocap import write_synthetic_iemocap


def _rate(label: str, count: int, seconds: float) -> None:
    print(f"  {label:<34} {count / seconds:10.1f} samples/s  ({count} in {seconds:.2f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--root")
    parser.add_argument("--utterances", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        if args.root:
            root, kind = Path(args.root), f"features at {args.root}"
        else:
            root = write_synthetic_iemocap(scratch, n_utterances=args.utterances, real_dims=True, seed=0)
            kind = f"{args.utterances} synthetic utterances (real feature sizes)"
        print(f"IEMOCAP throughput on {kind}")
        for preload in (False, True):
            start = time.perf_counter()
            data = IEMOCAP(root, cv=1, split="trn", preload=preload)
            built = time.perf_counter() - start
            name = "preloaded" if preload else "lazy HDF5"
            print(f"  {'construct (' + name + ')':<34} {built:10.2f} s")
            start = time.perf_counter()
            for _ in range(args.repeats):
                for index in range(len(data)):
                    data[index]
            _rate(f"dataset[i], {name}", args.repeats * len(data), time.perf_counter() - start)


if __name__ == "__main__":
    main()
