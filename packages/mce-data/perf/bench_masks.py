"""Mask generation, CSV round trip and collate throughput.

python packages/mce-data/perf/bench_masks.py [--n 100000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from mce_data import IncompleteDataset, MissingMask, TensorMultiModalDataset, collate_incomplete


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    args = parser.parse_args()
    ids = [f"s{i:07d}" for i in range(args.n)]
    modalities = ("a", "b", "c")
    print(f"masks over N={args.n}, M=3, rates (0.8, 0.5, 0.2)")
    for style in ("counts", "combinations"):
        start = time.perf_counter()
        mask = MissingMask.generate(ids, modalities, (0.8, 0.5, 0.2), seed=0, style=style)
        print(f"  generate {style:<13} {time.perf_counter() - start:.3f} s")
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        path = mask.save_csv(Path(folder) / "mask.csv")
        MissingMask.load_csv(path, expected_ids=ids, modalities=modalities)
        print(f"  save + load CSV         {time.perf_counter() - start:.3f} s")
    start = time.perf_counter()
    rows = mask.lookup(ids[::-1])
    print(f"  lookup all ids          {time.perf_counter() - start:.3f} s  ({tuple(rows.shape)})")
    n = 4096
    base = TensorMultiModalDataset(
        ids[:n], {"a": torch.randn(n, 1, 28, 28), "b": torch.randn(n, 1, 20, 20), "c": torch.randn(n, 32)},
        torch.zeros(n, dtype=torch.long),
    )  # fmt: skip
    data = IncompleteDataset(base, MissingMask.generate(ids[:n], modalities, (0.8, 0.5, 0.2), seed=0))
    start = time.perf_counter()
    items = [data[i] for i in range(n)]
    mid = time.perf_counter()
    for offset in range(0, n, 64):
        collate_incomplete(items[offset : offset + 64])
    end = time.perf_counter()
    print(f"  IncompleteDataset[i]    {n / (mid - start):10.0f} samples/s")
    print(f"  collate_incomplete      {n / (end - mid):10.0f} samples/s (batches of 64)")


if __name__ == "__main__":
    main()
