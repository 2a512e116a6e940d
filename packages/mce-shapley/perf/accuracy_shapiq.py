"""Accuracy at equal evaluation budgets: mce_shapley's estimators against every Shapley approximator shapiq ships.

    python packages/mce-shapley/perf/accuracy_shapiq.py [--players 12,16] [--games 3] [--seeds 2]

shapiq is a dependency of this script only (``pip install shapiq``); without it the script
says so and compares mce_shapley's own estimators. Games, all with exactly known Shapley values:

* ``soum``: sums of unanimity games on random coalitions of random sizes (1 .. M) with normal
  coefficients; ``phi_j = sum_{T containing j} c_T / |T|``;
* ``neural``: a late-fusion network, M modalities of 8 features, a 64-unit ReLU layer and one
  output, absent modalities zeroed; exact values from all ``2**M`` coalitions.

Budgets are ``2**M / 64``, ``/ 16`` and ``/ 4`` evaluations per game, empty and full coalitions
included; every approximator's evaluations are counted and must fit. The printed ratio is
``MSE(estimator) / MSE(best shapiq approximator)`` per game and seed, its median over games
and seeds; the best shapiq approximator is the one with the lowest median MSE in that setting.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

import mce_shapley

Table = tuple[Tensor, Tensor]  # (values of all 2**M coalitions by bitmask, exact Shapley values [M])


def soum(n: int, generator: torch.Generator) -> Table:
    """A sum of ``3 n`` unanimity games on random coalitions: values and exact Shapley values."""
    bits = torch.arange(2**n)
    table = torch.zeros(2**n, dtype=torch.float64)
    phi = torch.zeros(n, dtype=torch.float64)
    for _ in range(3 * n):
        size = int(torch.randint(1, n + 1, (), generator=generator))
        members = torch.randperm(n, generator=generator)[:size]
        coefficient = float(torch.randn((), generator=generator, dtype=torch.float64))
        mask = int((1 << members).sum())
        table += coefficient * ((bits & mask) == mask).double()
        phi[members] += coefficient / size
    return table, phi


def neural(n: int, generator: torch.Generator) -> Table:
    """A late-fusion ReLU network's output on all coalitions of ``n`` modalities, and its exact values."""
    features = torch.randn(n, 8, generator=generator, dtype=torch.float64)
    hidden = torch.randn(n * 8, 64, generator=generator, dtype=torch.float64) / math.sqrt(n * 8)
    bias = 0.5 * torch.randn(64, generator=generator, dtype=torch.float64)
    out = torch.randn(64, generator=generator, dtype=torch.float64) / 8.0
    members = ((torch.arange(2**n)[:, None] >> torch.arange(n)) & 1).double()
    table = (((members[:, :, None] * features).flatten(1) @ hidden + bias).relu()) @ out
    game = mce_shapley.RowGame(lambda _s, c: table[_bits(c)], n_samples=1)
    return table, mce_shapley.exact(game, n).values[0]


def _bits(coalitions: Tensor) -> Tensor:
    return (coalitions.long() << torch.arange(coalitions.shape[-1])).sum(-1)


def mce_estimators(n: int, budget: int, seed: int) -> dict[str, Callable[[Tensor], tuple[Tensor, int]]]:
    def run(estimator: str, table: Tensor) -> tuple[Tensor, int]:
        game = mce_shapley.RowGame(lambda _s, c: table[_bits(c)], n_samples=1)
        generator = torch.Generator().manual_seed(seed)
        if estimator == "regression":
            result = mce_shapley.regression(game, n, budget=budget, generator=generator)
        else:
            result = mce_shapley.kernel(game, n, n_pairs=(budget - 2) // 2, generator=generator)
        return result.values[0], result.n_evals

    def bind(name: str) -> Callable[[Tensor], tuple[Tensor, int]]:
        return lambda table: run(name, table)

    return {name: bind(name) for name in ("regression", "kernel")}


def shapiq_estimators(n: int, budget: int, seed: int) -> dict[str, Callable[[Tensor], tuple[Tensor, int]]]:
    import shapiq  # the caller checked that it is installed
    from shapiq.approximator.regression.kadd_shap import kADDSHAP

    makers: dict[str, Callable[[], Any]] = {
        "KernelSHAP": lambda: shapiq.KernelSHAP(n, random_state=seed),
        "KernelSHAP paired": lambda: shapiq.KernelSHAP(n, pairing_trick=True, random_state=seed),
        "UnbiasedKernelSHAP": lambda: shapiq.UnbiasedKernelSHAP(n, pairing_trick=True, random_state=seed),
        "SVARM": lambda: shapiq.SVARM(n, pairing_trick=True, random_state=seed),
        "StratifiedSamplingSV": lambda: shapiq.StratifiedSamplingSV(n, random_state=seed),
        "PermutationSamplingSV": lambda: shapiq.PermutationSamplingSV(n, random_state=seed),
        "OwenSamplingSV": lambda: shapiq.OwenSamplingSV(n, random_state=seed),
        "kADDSHAP": lambda: kADDSHAP(n, max_order=2, pairing_trick=True, random_state=seed),
    }

    def run(make: Callable[[], Any], table: Tensor) -> tuple[Tensor, int]:
        spent = [0]
        values = table.numpy()
        powers = 1 << np.arange(n)

        def game(coalitions: np.ndarray) -> np.ndarray:
            rows = np.atleast_2d(coalitions)  # some approximators pass one coalition as a vector
            spent[0] += rows.shape[0]
            return values[(rows.astype(np.int64) * powers).sum(-1)]  # type: ignore[no-any-return]

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = make().approximate(budget, game)
        phi = torch.tensor([float(found[(j,)]) for j in range(n)], dtype=torch.float64)
        return phi, spent[0]

    def bind(make: Callable[[], Any]) -> Callable[[Tensor], tuple[Tensor, int]]:
        return lambda table: run(make, table)

    return {name: bind(make) for name, make in makers.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--players", default="12,16")
    parser.add_argument("--games", type=int, default=3, help="games of each kind")
    parser.add_argument("--seeds", type=int, default=2, help="estimator seeds per game")
    parser.add_argument("--fractions", default="64,16,4", help="budgets 2**M / f")
    args = parser.parse_args()
    torch.set_num_threads(1)
    have_shapiq = importlib.util.find_spec("shapiq") is not None
    if not have_shapiq:
        print("shapiq is not installed (pip install shapiq): comparing mce_shapley's estimators only")
    print(
        f"torch {torch.__version__}, mce_shapley {mce_shapley.__version__}, games x seeds = {args.games}x{args.seeds}"
    )
    print("| M | game | budget | best shapiq (median MSE) | regression / best | kernel / best | regression / kernel |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for n in (int(value) for value in args.players.split(",")):
        for kind, make_game in (("soum", soum), ("neural", neural)):
            games = [make_game(n, torch.Generator().manual_seed(1000 * n + g)) for g in range(args.games)]
            for fraction in (int(value) for value in args.fractions.split(",")):
                budget = 2**n // fraction
                errors: dict[str, list[float]] = {}
                started = time.perf_counter()
                for seed in range(args.seeds):
                    estimators = mce_estimators(n, budget, seed)
                    if have_shapiq:
                        estimators |= shapiq_estimators(n, budget, seed)
                    for table, phi in games:
                        for name, estimate in estimators.items():
                            values, spent = estimate(table)
                            assert spent <= budget, f"{name} spent {spent} evaluations of a budget of {budget}"
                            errors.setdefault(name, []).append(float((values - phi).pow(2).mean()))
                ours = ("regression", "kernel")
                if have_shapiq:
                    best = min(
                        (name for name in errors if name not in ours), key=lambda k: statistics.median(errors[k])
                    )
                    label = f"{best} ({statistics.median(errors[best]):.2e})"
                else:
                    best, label = "kernel", "n/a (kernel instead)"
                ratio = {
                    name: statistics.median(a / b for a, b in zip(errors[name], errors[best], strict=True))
                    for name in ours
                }
                own = statistics.median(a / b for a, b in zip(errors["regression"], errors["kernel"], strict=True))
                print(
                    f"| {n} | {kind} | {budget} | {label} | {ratio['regression']:.2f} | {ratio['kernel']:.2f} | "
                    f"{own:.2f} |",
                    flush=True,
                )
                if have_shapiq:
                    others = ", ".join(f"{k} {statistics.median(v):.1e}" for k, v in sorted(errors.items()))
                    print(f"|   | medians: {others} ({time.perf_counter() - started:.0f} s) | | | | | |", flush=True)


if __name__ == "__main__":
    main()
