"""Forward + backward timings of CompletionTransformer on vector features and spatial maps.

Run: ``python packages/mce-recon/perf/bench_recon.py [--repeats 20] [--compile]``.
Prints the median and the interquartile range of each case, in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import Tensor, nn

from mce_recon import CompletionTransformer

CASES: list[tuple[str, tuple[int, ...], int]] = [
    # name, features shape [B, M, D, *spatial], dim
    ("vector AV-MNIST-like  [128, 2, 320]", (128, 2, 320), 320),
    ("vector IEMOCAP-like   [256, 3, 128]", (256, 3, 128), 128),
    ("2-D BEV-like    [2, 3, 64, 50, 50]", (2, 3, 64, 50, 50), 64),
    ("3-D volume   [1, 4, 32, 16, 16, 16]", (1, 4, 32, 16, 16, 16), 32),
]


def _time(step: Callable[[], None], repeats: int) -> list[float]:
    step()  # warm-up (and compilation)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile(fullgraph=True)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    generator = torch.Generator().manual_seed(0)
    print(f"torch {torch.__version__} on {device}, {torch.get_num_threads()} threads, {args.repeats} repeats")
    for name, shape, dim in CASES:
        torch.manual_seed(0)
        model = CompletionTransformer(shape[1], dim, heads=4).to(device).train()
        features = torch.randn(*shape, generator=generator).to(device).requires_grad_()
        present = (torch.rand(shape[0], shape[1], generator=generator) < 0.7).to(device)
        variants: list[tuple[str, nn.Module | Callable[[Tensor, Tensor], Tensor]]] = [("eager", model)]
        if args.compile:
            variants.append(("compiled", torch.compile(model, fullgraph=True)))
        for label, module in variants:

            def step(
                module: Callable[[Tensor, Tensor], Tensor] = module,
                features: Tensor = features,
                present: Tensor = present,
            ) -> None:
                loss = module(features, present).square().mean()
                torch.autograd.backward(loss)
                if device.type == "cuda":
                    torch.cuda.synchronize()

            times = _time(step, args.repeats)
            q1, median, q3 = statistics.quantiles(times, n=4)
            print(f"{name}  {label:8s}  fwd+bwd median {median:8.2f} ms  (IQR {q1:.2f}-{q3:.2f})")


if __name__ == "__main__":
    main()
