"""A batch from an in-memory dataset: ``collate_incomplete`` over per-sample reads against one batched fetch.

    python packages/mce-data/perf/bench_batched_fetch.py [--samples 945] [--batch 128] [--repeats 15]

An in-memory :class:`TensorMultiModalDataset` of AVMNIST's shapes (image ``[1, 28, 28]``, audio MFCCs
``[1, 20, 20]``, random values), masked at (0.2, 0.8) missing. Each round times one batch both ways, interleaved,
so machine noise hits both alike; medians and their ratio are printed, and the two batches are checked equal.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from mce_data import IncompleteDataset, MissingMask, TensorMultiModalDataset, collate_incomplete


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=945)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    generator = torch.Generator().manual_seed(0)
    n = args.samples
    inputs = {
        "image": torch.rand(n, 1, 28, 28, generator=generator),
        "audio": torch.rand(n, 1, 20, 20, generator=generator),
    }
    base = TensorMultiModalDataset([f"s{i:05d}" for i in range(n)], inputs, torch.arange(n) % 10)
    data = IncompleteDataset(base, MissingMask.generate(base.sample_ids(), base.modalities, (0.2, 0.8), seed=0))
    times: dict[str, list[float]] = {"per sample": [], "batched": []}
    for _ in range(args.repeats):
        indices = torch.randperm(len(data), generator=generator)[: args.batch].tolist()
        start = time.perf_counter()
        by_sample = collate_incomplete([data[i] for i in indices])
        times["per sample"].append(time.perf_counter() - start)
        start = time.perf_counter()
        batched = data.__getitems__(indices)
        times["batched"].append(time.perf_counter() - start)
        assert all(torch.equal(by_sample.inputs[k], batched.inputs[k]) for k in inputs)
    slow, fast = (statistics.median(times[k]) * 1e3 for k in ("per sample", "batched"))
    print(
        f"batch of {args.batch} from {len(data)} samples: per sample {slow:.2f} ms, batched {fast:.2f} ms, "
        f"{slow / fast:.1f}x"
    )


if __name__ == "__main__":
    main()
