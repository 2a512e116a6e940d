"""AVMNIST loader throughput (samples/s): MFCC computed on access vs read from the cache.

    python packages/mce-data/perf/bench_avmnist.py [--root DATA] [--samples 300]

Uses ``--root`` (default ``$MCE_DATA_DIR``, else ``../shared/data`` beside the checkout); when no
real data is found it writes synthetic files (same layout) to a temporary folder and says so.
Rows: dataset construction (listing + MNIST pool + pairing), ``dataset[i]`` without cache,
``dataset[i]`` with a cold cache (computes and writes), with a warm cache, and a DataLoader with
``collate_incomplete`` over the warm cache.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _data_root import data_root_candidates
from torch.utils.data import DataLoader

from mce_data import AVMNIST, IncompleteDataset, MissingMask, collate_incomplete, write_synthetic_avmnist


def _root(arg: str | None, scratch: Path) -> tuple[Path, str]:
    for candidate in data_root_candidates(arg):
        if (candidate / "fsdd" / "recordings").is_dir():
            return candidate, "real"
    return write_synthetic_avmnist(scratch / "data", seed=0), "synthetic"


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:10.1f} samples/s  ({count} in {seconds:.2f} s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root")
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        root, kind = _root(args.root, scratch)
        print(f"AVMNIST throughput on {kind} data at {root}")
        start = time.perf_counter()
        data = AVMNIST(root, "train", limit=args.samples)
        print(f"  construct train split          {time.perf_counter() - start:.3f} s")
        data[0]  # librosa's first call compiles (numba); not counted
        n = len(data)
        start = time.perf_counter()
        for index in range(n):
            data[index]
        print(f"  no cache                      {_rate(n, time.perf_counter() - start)}")
        cached = AVMNIST(root, "train", limit=args.samples, cache_dir=scratch / "cache")
        start = time.perf_counter()
        for index in range(n):
            cached[index]
        print(f"  cold cache (compute + write)  {_rate(n, time.perf_counter() - start)}")
        warm = AVMNIST(root, "train", limit=args.samples, cache_dir=scratch / "cache")
        start = time.perf_counter()
        for index in range(n):
            warm[index]
        print(f"  warm cache                    {_rate(n, time.perf_counter() - start)}")
        mask = MissingMask.generate(warm.sample_ids(), warm.modalities, (0.5, 0.3), seed=0)
        loader = DataLoader(IncompleteDataset(warm, mask), batch_size=64, shuffle=True, collate_fn=collate_incomplete)
        start = time.perf_counter()
        total = sum(len(batch) for batch in loader)
        print(f"  warm cache, DataLoader + mask {_rate(total, time.perf_counter() - start)}")


if __name__ == "__main__":
    main()
