"""Helpers shared by the sampling estimators (:func:`~mce_shapley.permutation`, :func:`~mce_shapley.kernel`,
:func:`~mce_shapley.regression`, :func:`~mce_shapley.banzhaf`): their seed, their set-up (players, keys, evaluator)
and result, the per-sample output buffers they fill in, the check of their ``sample_keys``, exact solving of the
samples whose coalitions fit the budget, and the per-chunk coalition-value cache that evaluates each (sample,
coalition) once.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from mce_shapley._checks import raise_if_nonfinite
from mce_shapley.availability import Availability
from mce_shapley.coalitions import SubsetRows
from mce_shapley.exact_shapley import ShapleySums, accumulate_rows
from mce_shapley.games import Game, RowEvaluator, infer_available
from mce_shapley.result import ShapleyResult
from mce_shapley.sorted_table import SortedTable


def draw_seed(generator: torch.Generator | None) -> int:
    """The run's Philox seed: one draw from ``generator`` (on its device), else from torch's global generator."""
    if generator is None:
        return int(torch.randint(0, 2**63 - 1, ()))
    return int(torch.randint(0, 2**63 - 1, (), generator=generator, device=generator.device))


@dataclass
class Estimates:
    """Per-sample outputs, filled in by the exact and the Monte Carlo parts."""

    values: Tensor
    std: Tensor
    base: Tensor
    grand: Tensor
    n_permutations: Tensor

    def put(self, samples: Tensor, values: Tensor, std: Tensor, base: Tensor, grand: Tensor, drawn: Tensor) -> None:
        self.values = self.values.index_copy(0, samples, values)
        self.std = self.std.index_copy(0, samples, std)
        self.base = self.base.index_copy(0, samples, base)
        self.grand = self.grand.index_copy(0, samples, grand)
        self.n_permutations = self.n_permutations.index_copy(0, samples, drawn)


@dataclass
class Run:
    """What every sampling estimator sets up before it samples: the players, the sample keys and the evaluator
    (with the availability probe's values remembered when ``available`` was inferred from the game)."""

    players: Availability
    keys: Tensor
    evaluate: RowEvaluator
    probe: Tensor | None

    @classmethod
    def start(
        cls, game: Game, n_players: int, available: Tensor | None, sample_keys: Tensor | None, max_batch: int
    ) -> Run:
        probe = None
        if available is None:
            players, probe = infer_available(game, n_players)
        else:
            players = Availability.check(available, n_players)
        keys = check_sample_keys(sample_keys, players.mask)
        evaluate = RowEvaluator(game, players, max_batch)
        if probe is not None:
            evaluate.remember(torch.zeros(1, dtype=torch.long, device=players.device), probe)
        return cls(players, keys, evaluate, probe)

    def estimates(self) -> Estimates:
        """Zeroed per-sample outputs (float64, as they accumulate)."""
        shape, n, device = self.players.mask.shape, self.players.n_samples, self.players.device
        return Estimates(
            values=torch.zeros(shape, dtype=torch.float64, device=device),
            std=torch.zeros(shape, dtype=torch.float64, device=device),
            base=torch.zeros(n, dtype=torch.float64, device=device),
            grand=torch.zeros(n, dtype=torch.float64, device=device),
            n_permutations=torch.zeros(n, dtype=torch.long, device=device),
        )

    def result(self, estimates: Estimates) -> ShapleyResult:
        """``estimates`` in the game's dtype, with the evaluations and calls counted (the probe's included)."""
        dtype = self.evaluate.result_dtype
        return ShapleyResult(
            values=estimates.values.to(dtype),
            std=estimates.std.to(dtype),
            base=estimates.base.to(dtype),
            grand=estimates.grand.to(dtype),
            n_evals=self.evaluate.n_evals + (0 if self.probe is None else self.probe.numel()),
            n_calls=self.evaluate.n_calls + (self.probe is not None),
            n_permutations=estimates.n_permutations,
        )


def check_sample_keys(sample_keys: Tensor | None, available: Tensor) -> Tensor:
    """``Long[N]``: ``sample_keys`` checked against ``available`` (shape, dtype, device), or ``arange(N)`` if None."""
    n_samples = available.shape[0]
    if sample_keys is None:
        return torch.arange(n_samples, device=available.device)
    if not isinstance(sample_keys, Tensor) or sample_keys.dtype != torch.long or sample_keys.shape != (n_samples,):
        got = (
            f"{sample_keys.dtype} tensor of shape {list(sample_keys.shape)}"
            if isinstance(sample_keys, Tensor)
            else type(sample_keys).__name__
        )
        raise ValueError(f"sample_keys must be an int64 tensor of shape [{n_samples}] (one id per sample); got {got}")
    if sample_keys.device != available.device:
        raise ValueError(
            f"sample_keys is on {sample_keys.device}; expected {available.device}, the device of `available`"
        )
    return sample_keys


def solve_exactly(
    evaluate: RowEvaluator,
    players: Availability,
    samples: Tensor,
    out: Estimates,
    max_batch: int,
    weights: tuple[Tensor, Tensor] | None = None,
) -> None:
    """Exact values for ``samples`` (``Long[E]``), through the row evaluator, written into ``out``.

    ``weights``: the coefficient tables of :class:`~mce_shapley.exact_shapley.ShapleySums` (default Shapley's).
    """
    sub = Availability.check(players.mask[samples], players.n_players)
    sums = ShapleySums(sub, weights)
    accumulate_rows(lambda local, bits: evaluate(samples[local], bits), SubsetRows(sub.mask), sums, max_batch)
    raise_if_nonfinite(per_sample(players.n_samples, samples, sums.bad))
    out.put(samples, sums.values, torch.zeros_like(sums.values), sums.base, sums.grand, torch.zeros_like(samples))


class CoalitionCache:
    """The coalition values a chunk of samples has paid for, evaluated on first use.

    Keys pack ``(local sample << M) | coalition bits`` into one int64.
    """

    def __init__(self, evaluate: RowEvaluator, samples: Tensor, n_players: int, n_total: int) -> None:
        self.evaluate = evaluate
        self.samples = samples
        self.n_players = n_players
        self.n_total = n_total
        self.table = SortedTable((), samples.device)

    def __call__(self, keys: Tensor) -> Tensor:
        """``Float64[...]``: the values of ``keys`` (``Long[...]``), evaluating unseen ones once."""
        unique, where = torch.unique(keys, return_inverse=True)
        new = self.table.missing(unique)
        if new.numel():
            samples = self.samples[new >> self.n_players]
            values = self.evaluate(samples, new & ((1 << self.n_players) - 1))
            raise_if_nonfinite(per_sample(self.n_total, samples, ~torch.isfinite(values)))
            self.table.add(new, values)
        return self.table.values[self.table.index(unique)][where]


def per_sample(n_samples: int, samples: Tensor, counts: Tensor) -> Tensor:
    """``Long[n_samples]``: ``counts`` (``Long[R]`` or ``Bool[R]``) added up by sample index."""
    return torch.zeros(n_samples, dtype=torch.long, device=samples.device).index_add(0, samples, counts.long())
