"""Permutation-sampling Monte Carlo Shapley values with per-sample availability.

For sample ``i`` a random order of its available players ``A_i`` yields, for each player,
its marginal contribution ``v_i(before + j) - v_i(before)``; averaging over uniformly random
orders gives an unbiased estimate of ``phi_j``, and every order's contributions add up to
``v_i(A_i) - v_i(empty set)`` exactly, so the estimate is efficient by construction.

What makes it cheap and dependable:

* antithetic pairs: each order is paired with its reverse (negatively correlated marginals);
  the pair mean is one draw, so standard errors stay honest;
* a per-sample coalition cache: no (sample, coalition) is evaluated twice, however many
  orders pass through it;
* exact values where the budget covers them: a sample whose ``2**|A_i|`` coalitions fit in
  the evaluations its permutations could use is solved exactly (``std`` 0);
* a running variance (Chan's parallel form of Welford's update) per value and an optional
  tolerance that retires each sample once its confidence half-width is small enough;
* counter-based randomness (Philox4x32-10 keyed by the generator's seed and the sample's
  key): a sample's orders do not depend on which batch or chunk it is in.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import torch
from torch import Tensor

from mce_shapley._checks import check_int, check_n_players
from mce_shapley._philox import random_keys
from mce_shapley._sampling import CoalitionCache, Estimates, Run, draw_seed, solve_exactly
from mce_shapley.coalitions import bits_from_members
from mce_shapley.exact_shapley import DEFAULT_MAX_BATCH
from mce_shapley.games import Game, RowEvaluator
from mce_shapley.result import ShapleyResult

_KEY_LIMIT = 2**62
_WORK_ELEMENTS = 2**24
"""Bound on the (sample, permutation, position) entries one round of one chunk holds."""


@dataclass(frozen=True)
class _Plan:
    n_players: int
    n_permutations: int
    antithetic: bool
    per_round: int
    min_permutations: int
    tolerance: float | None
    z: float
    seed: int


def permutation(
    game: Game,
    n_players: int,
    *,
    available: Tensor | None = None,
    n_permutations: int = 256,
    antithetic: bool = True,
    generator: torch.Generator | None = None,
    tolerance: float | None = None,
    confidence: float = 0.95,
    min_permutations: int = 32,
    permutations_per_round: int = 64,
    exact_when_cheaper: bool = True,
    sample_keys: Tensor | None = None,
    max_batch: int = DEFAULT_MAX_BATCH,
) -> ShapleyResult:
    """Monte Carlo per-sample Shapley values from random permutations of each sample's players.

    Args:
        game: a dense game or a :class:`~mce_shapley.RowGame`. The row-wise form is the
            efficient one here: a dense game is evaluated for all ``N`` samples on every
            coalition any sample needs.
        n_players: ``M``.
        available: ``Bool[N, M]``, the players each sample has (default: all).
        n_permutations: permutations per sample at most (even when ``antithetic``).
        antithetic: pair every permutation with its reverse.
        generator: the source of the run's seed (default: torch's global generator). The
            same generator state gives the same values.
        tolerance: if set, a sample stops once ``z * std <= tolerance`` for all its players
            (after ``min_permutations``), ``z`` the normal quantile of ``confidence``.
        confidence: two-sided confidence level of that half-width.
        min_permutations: permutations before a sample may stop early.
        permutations_per_round: permutations drawn per sample between stopping checks.
        exact_when_cheaper: solve a sample exactly when ``2**|A_i|`` is at most the
            ``n_permutations * (|A_i| - 1) + 2`` distinct coalitions its permutations could
            visit.
        sample_keys: ``Long[N]``, a stable id per sample (default ``arange(N)``); with the
            same keys and seed a sample gets the same permutations in any batch.
        max_batch: at most this many evaluations per game call: ``max_batch`` rows for a
            row-wise game, ``max(1, max_batch // N)`` coalitions (``N`` evaluations each) for a
            dense one.

    Returns:
        :class:`~mce_shapley.ShapleyResult` in the game's dtype (running means and variances
        are kept in float64); ``std`` is the standard error of each value,
        ``n_permutations`` the permutations each sample used (0 where solved exactly).

    Host synchronisation: a few reads to plan the work, then a few per round (sizing the
    round's new coalitions, the NaN check, and the samples that finished); the round, not
    the game call, is the unit. Without ``available``, a dense game's first call (on the
    empty coalition, to learn ``N``) receives its coalitions on the CPU: pass ``available``
    on the game's device for a CUDA game.

    >>> weights = torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0]])            # additive: phi = weights
    >>> result = permutation(lambda c: c.float() @ weights.T, 5, n_permutations=8,
    ...                      exact_when_cheaper=False, generator=torch.Generator().manual_seed(0))
    >>> result.values.round(decimals=6).tolist(), bool(result.std.max() < 1e-9)
    ([[1.0, 2.0, 3.0, 4.0, 5.0]], True)
    """
    n_players = check_n_players(n_players)
    plan = _plan(
        n_players,
        n_permutations,
        antithetic,
        generator,
        tolerance,
        confidence,
        min_permutations,
        permutations_per_round,
    )
    check_int("max_batch", max_batch, minimum=1)
    run = Run.start(game, n_players, available, sample_keys, max_batch)
    players, keys, evaluate = run.players, run.keys, run.evaluate
    available = players.mask
    n_available = players.counts
    budget = n_permutations * (n_available - 1) + 2
    cheap = (torch.ones_like(n_available) << n_available) <= budget if exact_when_cheaper else n_available < 0
    estimates = run.estimates()
    exact_samples = cheap.nonzero().flatten()
    if exact_samples.numel():
        solve_exactly(evaluate, players, exact_samples, estimates, max_batch)
    sampled = (~cheap).nonzero().flatten()
    chunk = max(1, min(2 ** (62 - n_players), _WORK_ELEMENTS // (plan.per_round * (n_players + 1))))
    for start in range(0, sampled.numel(), chunk):
        _sample_chunk(evaluate, available, keys, sampled[start : start + chunk], plan, estimates)
    return run.result(estimates)


def _plan(
    n_players: int,
    n_permutations: int,
    antithetic: bool,
    generator: torch.Generator | None,
    tolerance: float | None,
    confidence: float,
    min_permutations: int,
    per_round: int,
) -> _Plan:
    step = 2 if antithetic else 1
    check_int("n_permutations", n_permutations, minimum=2 * step)
    check_int("permutations_per_round", per_round, minimum=step)
    check_int("min_permutations", min_permutations, minimum=2 * step)
    for name, value in (("n_permutations", n_permutations), ("permutations_per_round", per_round)):
        if value % step:
            raise ValueError(
                f"{name} must be even with antithetic=True (each permutation comes with its reverse); got {value}"
            )
    if tolerance is not None and not tolerance > 0:
        raise ValueError(f"tolerance must be a positive number or None; got {tolerance}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1; got {confidence}")
    seed = draw_seed(generator)
    z = statistics.NormalDist().inv_cdf((1 + confidence) / 2)
    return _Plan(n_players, n_permutations, antithetic, per_round, min_permutations, tolerance, z, seed)


@dataclass
class _Moments:
    """Running count, mean and sum of squared deviations per (sample, player).

    Batches merge with Chan et al.'s parallel form of Welford's update.
    """

    count: Tensor  # Long[A]
    mean: Tensor  # Float64[A, M]
    m2: Tensor  # Float64[A, M]

    def add(self, rows: Tensor, draws: Tensor) -> None:
        """Merge ``draws: Float64[R, D, M]`` (``D`` draws each) into ``rows: Long[R]``."""
        batch_count = draws.shape[1]
        batch_mean = draws.mean(dim=1)
        batch_m2 = ((draws - batch_mean[:, None]) ** 2).sum(dim=1)
        prior = self.count[rows, None].double()
        delta = batch_mean - self.mean[rows]
        total = prior + batch_count
        self.mean = self.mean.index_copy(0, rows, self.mean[rows] + delta * batch_count / total)
        self.m2 = self.m2.index_copy(0, rows, self.m2[rows] + batch_m2 + delta**2 * prior * batch_count / total)
        self.count = self.count.index_copy(0, rows, self.count[rows] + batch_count)

    def standard_error(self, rows: Tensor | slice = slice(None)) -> Tensor:
        """``Float64[R, M]``: ``sqrt(sample variance / count)``, for ``count >= 2`` draws."""
        count = self.count[rows, None].double()
        return (self.m2[rows] / (count * (count - 1))).sqrt()


def _sample_chunk(
    evaluate: RowEvaluator, available: Tensor, keys: Tensor, samples: Tensor, plan: _Plan, out: Estimates
) -> None:
    """Monte Carlo estimates for ``samples`` (``Long[A]``), written into ``out``."""
    m = plan.n_players
    device = available.device
    local_available = available[samples]
    local = torch.arange(samples.numel(), device=device)
    cache = CoalitionCache(evaluate, samples, m, available.shape[0])
    base, grand = cache(torch.stack([local << m, (local << m) | bits_from_members(local_available)]))
    moments = _Moments(
        torch.zeros_like(local),
        torch.zeros_like(local_available, dtype=torch.float64),
        torch.zeros_like(local_available, dtype=torch.float64),
    )
    active, drawn = local, 0
    while active.numel():
        size = min(plan.per_round, plan.n_permutations - drawn)
        orders = _orders(plan, keys[samples[active]], local_available[active], drawn, size)
        present = local_available[active, None, :].expand_as(orders).gather(-1, orders)
        prefix = torch.cat([torch.zeros_like(orders[..., :1]), ((1 << orders) * present).cumsum(-1)], dim=-1)
        prefix_values = cache((active[:, None, None] << m) | prefix)  # [sample, permutation, size 0..M]
        marginals = prefix_values[..., 1:] - prefix_values[..., :-1]  # [sample, permutation, position]
        draws = torch.zeros_like(marginals).scatter(-1, orders, marginals)  # [sample, permutation, player]
        if plan.antithetic:
            draws = (draws[:, : size // 2] + draws[:, size // 2 :]) / 2
        moments.add(active, draws)
        drawn += size
        if drawn >= plan.n_permutations:
            break
        if plan.tolerance is not None and drawn >= plan.min_permutations:
            half_width = plan.z * moments.standard_error(active)
            active = active[half_width.amax(dim=-1) > plan.tolerance]
    permutations = moments.count * (2 if plan.antithetic else 1)
    out.put(samples, moments.mean, moments.standard_error(), base, grand, permutations)


def _orders(plan: _Plan, keys: Tensor, available: Tensor, first: int, size: int) -> Tensor:
    """``Long[A, size, M]``: random orders of each sample's players, available ones first.

    Permutation ``p`` of sample ``a`` sorts Philox keys drawn for (sample key, ``p``,
    player); with ``antithetic`` the second half reverses the first half's orders.
    """
    step = 2 if plan.antithetic else 1
    ids = torch.arange(first // step, (first + size) // step, device=keys.device)
    sort_keys = random_keys(plan.seed, keys, ids, plan.n_players)
    mask = available[:, None, :]
    orders = torch.argsort(torch.where(mask, sort_keys, _KEY_LIMIT), dim=-1, stable=True)
    if not plan.antithetic:
        return orders
    reverse = torch.argsort(torch.where(mask, _KEY_LIMIT - 1 - sort_keys, _KEY_LIMIT), dim=-1, stable=True)
    return torch.cat([orders, reverse], dim=1)
