"""mce_shapley against captum, shap, shapiq and a naive loop, on one late-fusion game.

The game: M modalities of 32 features each, a two-layer head over their concatenation,
absent modalities zeroed; a sample's value for a coalition is its target-class logit.

    pip install "./packages/mce-shapley[bench]"      # captum, shap, shapiq
    python packages/mce-shapley/perf/bench_shapley.py [--device cuda] [--repeats 5]

Every ratio is measured side by side in one run; times are medians over ``--repeats``.
Libraries that explain one sample per call (shap, shapiq, the naive loop) are timed on
``--loop-samples`` samples and scaled to N; the table says so. Targets (issue #2):
>= 20x faster than shap and shapiq at N=2048, M=4; >= 100x faster than captum at M=6;
within 1.2x of the bare game cost; >= 5x saving from availability at M=8 (p = 0.5);
>= 2x lower error than captum's sampling at M=12 for equal evaluations (permutation and kernel).
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor

import mce_shapley

T = TypeVar("T")
WIDTH = 32
HIDDEN = 64
CLASSES = 10


@dataclass
class LateFusion:
    """The benchmark game on ``N`` samples of ``M`` modalities (``features: [N, M, WIDTH]``)."""

    features: Tensor
    target: Tensor
    head: torch.nn.Sequential

    @classmethod
    def make(cls, n_samples: int, n_modalities: int, seed: int, device: torch.device) -> LateFusion:
        generator = torch.Generator().manual_seed(seed)
        features = torch.randn(n_samples, n_modalities, WIDTH, generator=generator)
        target = torch.randint(0, CLASSES, (n_samples,), generator=generator)
        torch.manual_seed(seed)
        head = torch.nn.Sequential(
            torch.nn.Linear(n_modalities * WIDTH, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, CLASSES)
        )
        return cls(features.to(device), target.to(device), head.to(device).eval())

    @property
    def n_modalities(self) -> int:
        return self.features.shape[1]

    @torch.no_grad()
    def logits(self, inputs: Tensor) -> Tensor:
        """``[B, CLASSES]`` from ``inputs: [B, M, WIDTH]`` (the captum forward function)."""
        return self.head(inputs.flatten(1))  # type: ignore[no-any-return]

    @torch.no_grad()
    def dense(self, coalitions: Tensor) -> Tensor:
        """``Bool[K, M] -> [K, N]``: every sample's target logit under every coalition."""
        masked = self.features * coalitions[:, None, :, None].to(self.features.dtype)  # [coalition, sample, ...]
        logits: Tensor = self.head(masked.flatten(2))  # [coalition, sample, class]
        index = self.target.expand(coalitions.shape[0], -1)[..., None]
        return logits.gather(-1, index).squeeze(-1)

    @torch.no_grad()
    def rows(self, samples: Tensor, coalitions: Tensor) -> Tensor:
        """``Long[R], Bool[R, M] -> [R]``: one (sample, coalition) per row."""
        masked = self.features[samples] * coalitions[..., None].to(self.features.dtype)
        return self.head(masked.flatten(1)).gather(-1, self.target[samples, None]).squeeze(-1)  # type: ignore[no-any-return]

    def single(self, sample: int) -> Callable[[np.ndarray[Any, Any]], np.ndarray[Any, Any]]:
        """Sample ``i``'s game on numpy 0/1 coalition rows ``[B, M]`` (shap and shapiq's form)."""

        def game(coalitions: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
            members = torch.as_tensor(np.asarray(coalitions) > 0.5, device=self.features.device)
            samples = torch.full((members.shape[0],), sample, device=self.features.device)
            return self.rows(samples, members).cpu().numpy()

        return game


def timed(function: Callable[[], T], repeats: int, device: torch.device) -> tuple[float, T]:
    """Median wall time of ``function`` over ``repeats`` runs (after one warm-up), and its last result."""
    result = function()
    times = []
    for _ in range(repeats):
        start = _clock(device)
        result = function()
        times.append(_clock(device) - start)
    return statistics.median(times), result


def paired(first: Callable[[], object], second: Callable[[], object], repeats: int, device: torch.device) -> float:
    """Median of ``time(first) / time(second)`` over interleaved pairs: robust to a drifting machine."""
    first(), second()
    ratios = []
    for _ in range(repeats):
        start = _clock(device)
        first()
        middle = _clock(device)
        second()
        ratios.append((middle - start) / (_clock(device) - middle))
    return statistics.median(ratios)


def _clock(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def naive_loop(game: LateFusion, samples: range) -> Tensor:
    """What one writes by hand: per sample, per player, per coalition, the textbook formula."""
    m = game.n_modalities
    out = torch.zeros(len(samples), m, dtype=torch.float64)
    for row, i in enumerate(samples):
        value = game.single(i)
        for j in range(m):
            others = [k for k in range(m) if k != j]
            for size in range(m):
                weight = math.factorial(size) * math.factorial(m - size - 1) / math.factorial(m)
                for subset in itertools.combinations(others, size):
                    without = np.zeros((1, m))
                    without[0, list(subset)] = 1
                    with_j = without.copy()
                    with_j[0, j] = 1
                    out[row, j] += weight * float(value(with_j)[0] - value(without)[0])
    return out


def shap_exact(game: LateFusion, samples: range) -> Tensor:
    import shap

    m = game.n_modalities
    masker = shap.maskers.Independent(np.zeros((1, m)))
    rows = []
    for i in samples:
        explanation = shap.explainers.Exact(game.single(i), masker)(np.ones((1, m)))
        rows.append(torch.as_tensor(explanation.values[0], dtype=torch.float64))
    return torch.stack(rows)


def shapiq_exact(game: LateFusion, samples: range) -> Tensor:
    import shapiq

    rows = []
    for i in samples:
        values = shapiq.ExactComputer(game.single(i), n_players=game.n_modalities)(index="SV", order=1)
        rows.append(torch.as_tensor(values.get_n_order_values(1), dtype=torch.float64))
    return torch.stack(rows)


def captum_mask(game: LateFusion) -> Tensor:
    """``[1, M, WIDTH]``: feature group ``m`` is modality ``m``."""
    m = game.n_modalities
    return torch.arange(m, device=game.features.device)[None, :, None].expand(1, m, WIDTH).contiguous()


def captum_exact(game: LateFusion) -> Tensor:
    from captum.attr import ShapleyValues

    attributions = ShapleyValues(game.logits).attribute(
        game.features,
        baselines=0.0,
        target=game.target,
        feature_mask=captum_mask(game),
        perturbations_per_eval=game.n_modalities,
    )
    return attributions[:, :, 0].double().cpu()  # type: ignore[no-any-return]


def captum_sampling(game: LateFusion, n_permutations: int) -> Tensor:
    from captum.attr import ShapleyValueSampling

    attributions = ShapleyValueSampling(game.logits).attribute(
        game.features,
        baselines=0.0,
        target=game.target,
        feature_mask=captum_mask(game),
        n_samples=n_permutations,
        perturbations_per_eval=game.n_modalities,
    )
    return attributions[:, :, 0].double().cpu()  # type: ignore[no-any-return]


def have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


EXACT_CASES = ((2048, 4), (256, 6), (256, 8))


def exact_section(args: argparse.Namespace, device: torch.device) -> None:
    print("\n## Exact values: median time per call, speed-up of mce_shapley.exact, max |difference|\n")
    print(
        "| N | M | mce_shapley.exact | bare game (all coalitions, one call) | exact / bare, `available` given | "
        "exact / bare, no `available` | naive loop | shap Exact | shapiq ExactComputer | captum ShapleyValues |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    # mce_shapley and the bare game first, for every case: the other libraries leave thread pools behind
    # (numba's among them) that slow torch down for the rest of the process.
    ours = {}
    for n_samples, m in EXACT_CASES:
        game = LateFusion.make(n_samples, m, seed=m, device=device)
        everyone = torch.ones(n_samples, m, dtype=torch.bool, device=device)
        bare = partial(game.dense, torch.tensor(list(itertools.product([False, True], repeat=m)), device=device))
        with_available = partial(mce_shapley.exact, game.dense, m, available=everyone)
        seconds, result = timed(with_available, args.repeats, device)
        ours[n_samples, m] = (
            game,
            seconds,
            result.values.cpu(),
            f"{seconds * 1e3:.3g} ms | {timed(bare, args.repeats, device)[0] * 1e3:.3g} ms | "
            f"{paired(with_available, bare, args.pairs, device):.2f} | "
            f"{paired(partial(mce_shapley.exact, game.dense, m), bare, args.pairs, device):.2f}",
        )
    for (n_samples, m), (game, ours_time, values, ours_cells) in ours.items():
        loop = range(min(args.loop_samples, n_samples))
        runners: list[tuple[str, bool, Callable[[], Tensor]]] = [
            ("naive", True, partial(naive_loop, game, loop)),
            ("shap", have("shap"), partial(shap_exact, game, loop)),
            ("shapiq", have("shapiq"), partial(shapiq_exact, game, loop)),
        ]
        cells = []
        for name, installed, run in runners:
            if not installed:
                cells.append(f"{name} not installed")
                continue
            seconds, theirs = timed(run, 1, device)
            scaled = seconds * n_samples / len(loop)
            error = float((theirs - values[: len(loop)]).abs().max())
            cells.append(f"{scaled:.3g} s ({scaled / ours_time:,.0f}x; diff {error:.0e})")
        if not have("captum"):
            cells.append("captum not installed")
        elif math.factorial(m) * m > args.captum_max_evals:
            cells.append(f"not run: {math.factorial(m) * m:,} forward passes")
        else:
            seconds, theirs = timed(partial(captum_exact, game), 1, device)
            error = float((theirs - values).abs().max())
            cells.append(f"{seconds:.3g} s ({seconds / ours_time:,.0f}x; diff {error:.0e})")
        print(f"| {n_samples} | {m} | {ours_cells} | " + " | ".join(cells) + " |")
    print(
        f"\nPer-sample loops (naive, shap, shapiq) are timed on {args.loop_samples} samples and scaled to N; captum "
        "explains the whole batch in one call. exact / bare is the median of interleaved pairs; without `available` "
        "a dense game costs one extra call on the empty coalition, to learn N."
    )


def availability_section(args: argparse.Namespace, device: torch.device) -> None:
    print("\n## Availability saving at M=8 (each modality present with probability 0.5), row-wise game\n")
    n_samples, m = 2048, 8
    game = LateFusion.make(n_samples, m, seed=1, device=device)
    generator = torch.Generator().manual_seed(2)
    available = torch.rand(n_samples, m, generator=generator) < 0.5
    available[~available.any(1), 0] = True
    available = available.to(device)
    row_game = mce_shapley.RowGame(game.rows)
    full_time, full = timed(
        lambda: mce_shapley.exact(row_game, m, available=torch.ones_like(available)), args.repeats, device
    )
    part_time, part = timed(lambda: mce_shapley.exact(row_game, m, available=available), args.repeats, device)
    print("| | evaluations | time | saving |")
    print("| --- | --- | --- | --- |")
    print(f"| all 8 players | {full.n_evals:,} | {full_time * 1e3:.3g} ms | |")
    print(
        f"| own players only | {part.n_evals:,} | {part_time * 1e3:.3g} ms | "
        f"{full.n_evals / part.n_evals:.1f}x evaluations, {full_time / part_time:.1f}x time |"
    )


def within_budget(game: LateFusion, available: Tensor, budget: int, seed: int) -> mce_shapley.ShapleyResult:
    """The estimate with the most antithetic permutations whose evaluations stay within ``budget``.

    Without cache hits a permutation costs ``M - 1`` new evaluations (plus the shared empty and
    full coalitions), which bounds the count from below; the cache makes repeats free, so the
    search goes up from there.
    """
    per_sample = budget // game.features.shape[0]
    best = None
    for n_permutations in itertools.count(max(4, 2 * ((per_sample - 2) // (game.n_modalities - 1) // 2)), 2):
        result = mce_shapley.permutation(
            mce_shapley.RowGame(game.rows),
            game.n_modalities,
            available=available,
            n_permutations=n_permutations,
            permutations_per_round=n_permutations,
            generator=torch.Generator().manual_seed(seed),
        )
        if result.n_evals > budget or (best is not None and result.n_evals == best.n_evals):
            break  # over budget, or saturated: every sample has seen all its coalitions or is exact
        best = result
    assert best is not None, f"even 4 permutations exceed {budget} evaluations"
    return best


def kernel_within_budget(game: LateFusion, available: Tensor, budget: int, seed: int) -> mce_shapley.ShapleyResult:
    """The paired KernelSHAP estimate with the most pairs whose distinct evaluations stay within ``budget``.

    ``n_pairs`` pairs cost at most ``2 * n_pairs + 2`` evaluations per sample, so the search starts
    there and steps up by half the evaluations left, while repeats among the sampled pairs leave room.
    """
    n_samples = game.features.shape[0]
    n_pairs = max(game.n_modalities + 2, (budget // n_samples - 2) // 2)
    best = None
    while True:
        result = mce_shapley.kernel(
            mce_shapley.RowGame(game.rows),
            game.n_modalities,
            available=available,
            n_pairs=n_pairs,
            generator=torch.Generator().manual_seed(seed),
        )
        if result.n_evals > budget or (best is not None and result.n_evals == best.n_evals):
            break
        best = result
        n_pairs += max(1, (budget - result.n_evals) // n_samples // 2)
    assert best is not None, f"even {n_pairs} pairs exceed {budget} evaluations"
    return best


def monte_carlo_section(args: argparse.Namespace, device: torch.device) -> None:
    print("\n## Monte Carlo error at M=12 for at most equal evaluations (RMSE against exact values; medians)\n")
    if not have("captum"):
        print("captum not installed: section skipped")
        return
    n_samples, m = 128, 12
    print(
        "| modalities present | captum permutations | captum evals/sample | captum RMSE "
        "| mce permutation: permutations | evals/sample | RMSE | captum / permutation "
        "| mce kernel: pairs | evals/sample | RMSE | captum / kernel |"
    )
    print("|" + " --- |" * 12)
    for p_present, captum_permutations in ((1.0, 10), (1.0, 50), (0.5, 10)):
        captum_evals = captum_permutations * m + 1  # counted: one baseline pass, then one per group and permutation
        errors: dict[str, list[float]] = {"captum": [], "permutation": [], "kernel": []}
        evals: dict[str, list[float]] = {"permutation": [], "kernel": []}
        draws: dict[str, list[int]] = {"permutation": [], "kernel": []}
        for trial in range(args.trials):
            game = LateFusion.make(n_samples, m, seed=100 + trial, device=device)
            generator = torch.Generator().manual_seed(trial)
            available = torch.rand(n_samples, m, generator=generator) < p_present
            available[~available.any(1), 0] = True
            available = available.to(device)
            game.features = game.features * available[..., None]  # absent modalities are zeros for captum too
            truth = mce_shapley.exact(mce_shapley.RowGame(game.rows), m, available=available).values.cpu()
            torch.manual_seed(trial)
            errors["captum"].append(float((captum_sampling(game, captum_permutations) - truth).pow(2).mean().sqrt()))
            for name, search in (("permutation", within_budget), ("kernel", kernel_within_budget)):
                ours = search(game, available, captum_evals * n_samples, trial)
                errors[name].append(float((ours.values.cpu() - truth).pow(2).mean().sqrt()))
                evals[name].append(ours.n_evals / n_samples)
                draws[name].append(int(ours.n_permutations.max()))
        error = {name: statistics.median(values) for name, values in errors.items()}
        present = "all 12" if p_present == 1.0 else f"each with p = {p_present}"
        cells = [present, str(captum_permutations), str(captum_evals), f"{error['captum']:.4f}"]
        for name in ("permutation", "kernel"):
            ratio = f"{error['captum'] / error[name]:.2f}x" if error[name] > 0 else "inf (mce exact)"
            cells += [
                f"{statistics.median(draws[name]):.0f}",
                f"{statistics.median(evals[name]):.0f}",
                f"{error[name]:.4f}",
                ratio,
            ]
        print("| " + " | ".join(cells) + " |")
    print(
        "\nmce permutation: antithetic permutations with the coalition cache; mce kernel: paired KernelSHAP "
        "(n_pairs coalition pairs). Each gets as many draws as captum's evaluations allow in total (found by "
        "trying); samples whose 2**|A_i| coalitions fit the budget are solved exactly. captum: "
        "ShapleyValueSampling; absent modalities are zero, its baseline."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=11, help="timed runs per measurement (median reported)")
    parser.add_argument("--pairs", type=int, default=41, help="interleaved pairs for the exact / bare ratio")
    parser.add_argument("--loop-samples", type=int, default=32, help="samples timed for per-sample loop libraries")
    parser.add_argument("--captum-max-evals", type=int, default=10_000, help="skip captum exact above M! * M passes")
    parser.add_argument("--trials", type=int, default=5, help="independent games per Monte Carlo setting")
    args = parser.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"# mce_shapley {mce_shapley.__version__} benchmark on {name}, torch {torch.__version__}")
    availability_section(args, device)  # timings of mce_shapley alone come before any other library runs
    exact_section(args, device)
    monte_carlo_section(args, device)


if __name__ == "__main__":
    main()
