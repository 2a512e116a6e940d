"""Time one optimiser step on each benchmark's paper-size network: torch's default kernels against fused ones.

What :func:`mce_train.schedule.make_optimizer` gains by ``fused=True`` (one kernel per step instead of a few per
parameter tensor). The two optimisers step the same parameters and gradients, interleaved, so machine noise hits
both alike; medians of ``--repeats`` rounds of ``--steps`` steps, and their ratio, are printed.

    python apps/train/perf/optimizer_step.py [--benchmarks avmnist,iemocap] [--threads 1] [--device cuda]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from mce_train import benchmarks
from mce_train.paths import benchmark_data
from mce_train.schedule import Schedule, fused_supported


def _optimizer(params: list[torch.Tensor], schedule: Schedule, fused: bool) -> torch.optim.Optimizer:
    lr, decay = schedule.lr, schedule.weight_decay
    if schedule.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=lr, momentum=schedule.betas[0], nesterov=True, weight_decay=decay, fused=fused
        )
    cls = torch.optim.AdamW if schedule.optimizer == "adamw" else torch.optim.Adam
    return cls(params, lr=lr, betas=schedule.betas, weight_decay=decay, fused=fused)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--benchmarks", default="avmnist,iemocap,brats,nuscenes", help="comma-separated benchmark names"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cache", default="runs/cache", help="where synthetic stand-ins are written")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"# optimiser step, paper-size networks, on {device} ({args.threads} threads), ms per step")
    print("| benchmark | optimiser | parameters | default | fused | ratio |\n| --- | --- | --- | --- | --- | --- |")
    for name in args.benchmarks.split(","):
        bench = benchmarks.get(name)
        splits = bench.splits(benchmark_data(), Path(args.cache), 0, "paper")  # the feature sizes, the crop
        recipe = bench.recipe("paper", len(splits.train))
        schedule = Schedule(**recipe.section("schedule"))
        generator = torch.Generator().manual_seed(0)
        params = [p.detach().to(device) for p in bench.build(recipe.section("model"), splits).parameters()]
        for p in params:
            p.grad = torch.randn(p.shape, generator=generator).to(device)
        if not fused_supported(params):
            raise SystemExit(f"this torch ({torch.__version__}) has no fused optimiser for {device}")
        optimizers = {fused: _optimizer(params, schedule, fused) for fused in (False, True)}
        times: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.repeats):
            for fused, optimizer in optimizers.items():
                optimizer.step()  # state allocated outside the timing
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                start = time.perf_counter()
                for _ in range(args.steps):
                    optimizer.step()
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                times[fused].append((time.perf_counter() - start) / args.steps * 1e3)
        default, fused_ms = statistics.median(times[False]), statistics.median(times[True])
        n = sum(p.numel() for p in params)
        print(f"| {name} | {schedule.optimizer} | {n:,} | {default:.2f} | {fused_ms:.2f} | {default / fused_ms:.2f}x |")


if __name__ == "__main__":
    main()
