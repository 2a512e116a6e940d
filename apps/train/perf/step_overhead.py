"""Time one training step of the IEMOCAP-sized model: baseline, MCE with exact Shapley, MCE with MC.

The paper's Table 8 reports MCE's step at 12.7x the baseline with exact Shapley values and 2.8x
with Monte Carlo (200 permutations). Here exact Shapley values come from the pair batch that
L_sub and L_aux already need, so the target is full MCE within 1.3x of the baseline step.

Batch 128, M = 3 (acoustic [T=60, 130], visual [T=50, 342], lexical [T=22, 1024], MMIN's feature
sizes), missing rates (0.2, 0.8, 0.5), the paper's model (LSTM / TextCNN encoders, 128-d, the
completion transformer, FC decoder with batch norm). Steps are interleaved (baseline, exact, MC,
baseline, ...) so machine noise hits all three alike; medians and their ratios are printed.

    python apps/train/perf/step_overhead.py [--device cuda] [--steps 30]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import torch

from mce_data import Batch, MissingMask
from mce_losses import MCEObjective, factor_a
from mce_recon import CompletionTransformer
from mce_train.benchmarks import cross_entropy
from mce_train.benchmarks.iemocap import models as iemocap
from mce_train.methods import MCE, Baseline, Method
from mce_train.network import MultiModalNet

LENGTHS = {"acoustic": 60, "visual": 50, "lexical": 22}
RATES = (0.2, 0.8, 0.5)
PAPER = {"baseline": 1.0, "mce (exact Shapley)": 12.7, "mce (MC, 200 permutations)": 2.8}


def _batch(n: int, device: torch.device, generator: torch.Generator) -> Batch:
    ids = [f"u{i:04d}" for i in range(n)]
    mask = MissingMask.generate(ids, iemocap.MODALITIES, RATES, seed=0)
    inputs = {
        name: torch.randn(n, LENGTHS[name], iemocap.FEATURE_DIMS[name], generator=generator)
        for name in iemocap.MODALITIES
    }
    lengths = {name: torch.randint(LENGTHS[name] // 2, LENGTHS[name] + 1, (n,), generator=generator) for name in inputs}
    target = torch.randint(0, iemocap.N_CLASSES, (n,), generator=generator)
    return Batch(ids, inputs, lengths, mask.present, target, {}).to(device)


def _model(device: torch.device) -> MultiModalNet:
    torch.manual_seed(0)
    net = MultiModalNet(
        iemocap.MODALITIES,
        iemocap.encoders(128),
        iemocap.head(128, 128),
        iemocap.unimodal_heads(128, 128),
        CompletionTransformer(3, 128, depth=1, heads=4),
    )
    return net.to(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per method")
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args()
    device = torch.device(args.device)
    batch = _batch(args.batch, device, torch.Generator().manual_seed(0))
    upper = torch.rand(args.batch, 3, generator=torch.Generator().manual_seed(1)).round().to(device)
    a = factor_a(batch.present)

    def mce(shapley: str) -> MCE:
        return MCE(
            MCEObjective(a),
            upper,
            batch.ids,
            task_loss=cross_entropy,
            score=lambda p, t: (p.argmax(1) == t).double(),
            shapley=shapley,
            permutations=200,
            exact_when_cheaper=False,
        )

    methods: dict[str, Method] = {
        "baseline": Baseline(cross_entropy),
        "mce (exact Shapley)": mce("exact"),
        "mce (MC, 200 permutations)": mce("permutation"),
    }
    models = {name: _model(device) for name in methods}
    optimizers = {name: torch.optim.Adam(models[name].parameters(), lr=2e-4) for name in methods}

    def step(name: str) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        loss, _ = methods[name].loss(models[name], batch)
        optimizers[name].zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizers[name].step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    for name in methods:  # warm-up
        for _ in range(3):
            step(name)
    times: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(args.steps):
        for name in methods:
            times[name].append(step(name))
    base = statistics.median(times["baseline"])
    threads = torch.get_num_threads()
    print(f"# Step time, IEMOCAP-sized model, batch {args.batch}, M=3, on {device} ({threads} threads)\n")
    print("| method | median step | ratio to baseline | paper (Table 8) |")
    print("| --- | --- | --- | --- |")
    rows: dict[str, Any] = {}
    for name in methods:
        median = statistics.median(times[name])
        rows[name] = median / base
        print(f"| {name} | {median * 1000:.1f} ms | {median / base:.2f}x | {PAPER[name]:.1f}x |")
    verdict = "met" if rows["mce (exact Shapley)"] <= 1.3 else "NOT met"
    print(f"\nTarget: full MCE (exact Shapley) <= 1.3x the baseline step: {verdict}.")


if __name__ == "__main__":
    main()
