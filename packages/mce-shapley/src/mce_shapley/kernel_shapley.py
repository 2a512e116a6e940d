"""Paired KernelSHAP: Shapley values as a constrained weighted least-squares fit (Covert & Lee, 2021).

For sample ``i`` with ``n = |A_i|`` players, the Shapley values solve
``min_phi E_z[(v_i(z) - v_i(empty) - z . phi)^2]`` subject to ``1 . phi = v_i(A_i) - v_i(empty)``,
``z`` a coalition of ``A_i`` drawn from the Shapley kernel: size ``s`` with probability
``p(s) = q(s) / sum_t q(t)``, ``q(s) = (n - 1) / (s (n - s))`` for ``s = 1 .. n - 1``, then uniform
among the ``C(n, s)`` coalitions of that size. With ``A = E[z z^T]``, ``b = E[z (v(z) - v(empty))]``
and ``c = v(A_i) - v(empty)``:

    phi = A^-1 b - A^-1 1 (1^T A^-1 b - c) / (1^T A^-1 1)

so efficiency holds exactly (to float64 rounding) for any estimates ``A_hat``, ``b_hat``.

Estimates (each coalition ``z`` enters ``A_hat`` as ``w_z z z^T`` and ``b_hat`` as ``w_z z y_z``):

* enumerated strata: sizes ``s`` and ``n - s`` are evaluated in full, in order ``s = 1, 2, ..``,
  while a stratum's coalitions are no more than its expected share of the sampling budget
  (the rule of shap's KernelExplainer); sizes ``1`` and ``n - 1`` always are (which makes
  ``A_hat`` positive definite). Each such coalition gets ``w_z = p(|z|) / C(n, |z|)``;
* sampled: ``K`` pairs ``(z, A_i \\ z)`` drawn independently, sizes from ``p`` restricted to the
  other strata; each of the ``2K`` coalitions gets ``w_z = P_R / (2K)``, ``P_R`` the kernel mass
  of the strata not enumerated.

``A_hat`` is the sampled one, not the exact ``A``: its errors correlate with those of ``b_hat``
and largely cancel (the exact ``A`` measured about 5x worse on the benchmark game).

Standard errors (Covert & Lee's delta method, in sandwich form): linearising the solution in
the sampled means gives ``phi_hat - phi ~= P_R C (g_bar - E g)`` with
``C = A^-1 - A^-1 1 1^T A^-1 / (1^T A^-1 1)`` and, per pair ``k``,
``g_k = (z_k r(z_k) + z'_k r(z'_k)) / 2`` (``z'_k`` the complement, ``r(z) = y_z - z . phi``),
so ``Cov(phi_hat) ~= P_R^2 C Cov(g) C / K``, with ``C`` from the fitted ``A_hat``, residuals at
the fitted ``phi_hat`` and ``Cov(g)`` the sample covariance of the ``K`` pairs. It assumes ``K``
large enough for the linearisation and the central limit theorem, and ignores the estimator's
``O(1/K)`` bias; with ``K`` below a few times ``n`` it is too small (README).

Solving: sizes 1 and ``n - 1`` being enumerated makes ``A_hat`` positive definite (their part
alone is ``p(1) / n * (2 I + (n - 2) 1 1^T)``), so a plain float64
``torch.linalg.solve`` per chunk of same-``n`` samples suffices: no ridge or pseudo-inverse
fallback is needed, which is why ``n_pairs >= n + 2`` is required.

Budget: ``n_pairs`` (complementary pairs, enumerated or sampled) rather than a cap on distinct
evaluations: a fixed number of i.i.d. pairs keeps the estimator and its standard error the
textbook ones; repeats among the sampled pairs are evaluated once, so ``n_evals`` is at most
``2 * n_pairs + 2`` per sample and usually less.

Randomness: pair ``k`` of a sample draws Philox keys from (run seed, sample key, ``k``) for the
coalition (one per rank among the sample's own players) and for the size, so a sample's draws do
not depend on the batch, the chunking, or which of the ``M`` players it has, only on ``|A_i|``.
"""

from __future__ import annotations

import itertools
import math
from functools import cache

import torch
from torch import Tensor

from mce_shapley._checks import check_int, check_n_players
from mce_shapley._philox import random_keys
from mce_shapley._sampling import CoalitionCache, Estimates, Run, draw_seed, solve_exactly
from mce_shapley.availability import Availability
from mce_shapley.coalitions import available_first
from mce_shapley.exact_shapley import DEFAULT_MAX_BATCH
from mce_shapley.games import Game, RowEvaluator
from mce_shapley.result import ShapleyResult

_WORK_ELEMENTS = 2**24
"""Bound on the (sample, coalition, player) entries one chunk holds."""


def kernel(
    game: Game,
    n_players: int,
    *,
    available: Tensor | None = None,
    n_pairs: int = 256,
    generator: torch.Generator | None = None,
    exact_when_cheaper: bool = True,
    sample_keys: Tensor | None = None,
    max_batch: int = DEFAULT_MAX_BATCH,
) -> ShapleyResult:
    """Monte Carlo per-sample Shapley values by paired KernelSHAP (constrained least squares).

    Args:
        game: a dense game or a :class:`~mce_shapley.RowGame` (the row-wise form evaluates
            only the coalitions each sample draws).
        n_players: ``M``.
        available: ``Bool[N, M]``, the players each sample has (default: all).
        n_pairs: complementary coalition pairs per sample, enumerated and sampled together,
            so at most ``2 * n_pairs + 2`` evaluations per sample (with the empty and full
            coalitions); repeats among the sampled pairs are evaluated once. A sample that
            is not solved exactly needs ``n_pairs >= |A_i| + 2``: ``|A_i|`` pairs enumerate
            the coalitions of one player and of all but one, 2 or more are sampled.
        generator: the source of the run's seed (default: torch's global generator).
        exact_when_cheaper: solve a sample exactly when ``2**|A_i| <= 2 * n_pairs + 2``.
        sample_keys: ``Long[N]``, a stable id per sample (default ``arange(N)``); with the
            same keys and seed a sample draws the same coalitions in any batch.
        max_batch: at most this many evaluations per game call (see :func:`~mce_shapley.exact`).

    Returns:
        :class:`~mce_shapley.ShapleyResult`: ``values`` and ``std`` (delta-method standard
        errors) ``Float[N, M]`` in the game's dtype (fitted in float64), exactly 0 for players a
        sample lacks; ``n_evals`` the
        distinct evaluations made; ``n_permutations`` the pairs per sample (0 where exact).

    Host synchronisation: a few reads to plan the work, then one per chunk of samples with
    the same ``|A_i|`` (sizing its new coalitions, and the NaN check).

    >>> weights = torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]])       # additive: phi = weights
    >>> result = kernel(lambda c: c.float() @ weights.T, 6, n_pairs=8, exact_when_cheaper=False,
    ...                 generator=torch.Generator().manual_seed(0))
    >>> result.values.round(decimals=6).tolist(), bool(result.std.max() < 1e-9), result.n_evals
    ([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]], True, 18)
    """
    n_players = check_n_players(n_players)
    check_int("n_pairs", n_pairs, minimum=1, maximum=2**30)
    check_int("max_batch", max_batch, minimum=1)
    seed = draw_seed(generator)
    run = Run.start(game, n_players, available, sample_keys, max_batch)
    players, keys, evaluate = run.players, run.keys, run.evaluate
    counts = players.counts
    budget = 2 * n_pairs + 2
    cheap = (torch.ones_like(counts) << counts.clamp(max=62)) <= budget if exact_when_cheaper else counts == 1
    estimates = run.estimates()
    exact_samples = cheap.nonzero().flatten()
    if exact_samples.numel():
        solve_exactly(evaluate, players, exact_samples, estimates, max_batch)
    sampled = (~cheap).nonzero().flatten()
    sizes: list[int] = torch.unique(counts[sampled]).tolist()
    if sizes and n_pairs < sizes[-1] + 2:
        raise ValueError(
            f"n_pairs must be >= |A_i| + 2 = {sizes[-1] + 2} for samples with {sizes[-1]} available players "
            f"(|A_i| pairs enumerate the coalitions of 1 and of |A_i| - 1 players, which makes the regression "
            f"well posed, and at least 2 sampled pairs estimate its standard error); got {n_pairs}"
        )
    for n in sizes:
        group = sampled[counts[sampled] == n]
        strata = _strata(n, n_pairs)
        chunk = max(1, min(2 ** (62 - n_players), _WORK_ELEMENTS // ((2 * n_pairs + 2) * (n_players + 1))))
        for start in range(0, group.numel(), chunk):
            _kernel_chunk(evaluate, players, keys, group[start : start + chunk], n, strata, seed, estimates)
        estimates.n_permutations = estimates.n_permutations.index_fill(0, group, n_pairs)
    return run.result(estimates)


@cache
def _strata(
    n: int, n_pairs: int
) -> tuple[tuple[tuple[int, ...], ...], tuple[float, ...], tuple[float, ...], float, int]:
    """The sampling plan for samples of ``n`` players.

    Returns:
        ``(enumerated, weights, cdf, remaining, K)``: the enumerated coalitions (as tuples
        of local player indices) and their weights ``p(s) / C(n, s)``; the cumulative size
        distribution of the other strata over sizes ``1 .. n - 1``; their kernel mass ``P_R``;
        the sampled pairs ``K`` (0 when every stratum is enumerated).
    """
    q = [0.0] + [(n - 1) / (s * (n - s)) for s in range(1, n)]
    p = [value / sum(q) for value in q]
    enumerated: list[tuple[int, ...]] = []
    weights: list[float] = []
    pairs_left, mass_left, done = n_pairs, 1.0, set()
    for s in range(1, n // 2 + 1):
        sizes = {s, n - s}
        mass = sum(p[t] for t in sizes)
        pairs = math.comb(n, s) // (2 if s == n - s else 1)
        last = s == n // 2
        share = pairs_left * mass / mass_left
        if pairs > pairs_left or not (s == 1 or share >= pairs) or (pairs_left - pairs < 2 and not last):
            break
        for t in sorted(sizes):
            combos = list(itertools.combinations(range(n), t))
            enumerated += combos
            weights += [p[t] / len(combos)] * len(combos)
        pairs_left, mass_left = pairs_left - pairs, mass_left - mass
        done |= sizes
    if len(done) == n - 1:
        return tuple(enumerated), tuple(weights), (), 0.0, 0
    rest = [0.0 if s in done else p[s] for s in range(1, n)]
    cumulative = list(itertools.accumulate(rest))
    last_positive = max(i for i, value in enumerate(rest) if value > 0)
    cdf = [min(value / cumulative[-1], 1.0) if i < last_positive else 1.0 for i, value in enumerate(cumulative)]
    return tuple(enumerated), tuple(weights), tuple(cdf), 1.0 - sum(p[s] for s in done), pairs_left


def _kernel_chunk(
    evaluate: RowEvaluator,
    players: Availability,
    keys: Tensor,
    samples: Tensor,
    n: int,
    strata: tuple[tuple[tuple[int, ...], ...], tuple[float, ...], tuple[float, ...], float, int],
    seed: int,
    out: Estimates,
) -> None:
    """Paired KernelSHAP for ``samples`` (``Long[A]``, each with ``n`` players), into ``out``."""
    enumerated, enum_weights, cdf, remaining, n_sampled = strata
    m, device = players.n_players, players.device
    order = available_first(players.mask[samples])[:, :n]  # Long[A, n]: local player -> player
    count = samples.numel()
    local = torch.arange(count, device=device)
    patterns = torch.zeros(len(enumerated), n, dtype=torch.bool, device=device)
    for row, chosen_players in enumerate(enumerated):
        patterns[row, list(chosen_players)] = True
    coalitions = [
        torch.zeros(count, 1, n, dtype=torch.bool, device=device),
        torch.ones(count, 1, n, dtype=torch.bool, device=device),
    ]
    coalitions.append(patterns.expand(count, -1, -1))
    weights = torch.tensor(enum_weights, dtype=torch.float64, device=device)
    if n_sampled:
        ids = torch.arange(n_sampled, device=device)
        sample_ids = keys[samples]
        player_keys = random_keys(seed, sample_ids, ids, n)  # [A, K, n], by rank among the sample's players
        uniform = (random_keys(seed, sample_ids, ids + 2**31, 1)[..., 0] >> 9).double() * 2.0**-53
        size = torch.searchsorted(torch.tensor(cdf, dtype=torch.float64, device=device), uniform, right=True) + 1
        rank = player_keys.argsort(dim=-1, stable=True).argsort(dim=-1)
        chosen = rank < size[..., None]  # Bool[A, K, n]: a uniform coalition of the drawn size
        coalitions += [chosen, ~chosen]
        weights = torch.cat(
            [weights, torch.full((2 * n_sampled,), remaining / (2 * n_sampled), device=device, dtype=torch.float64)]
        )
    members = torch.cat(coalitions, dim=1)  # Bool[A, 2 + T, n]
    bits = (members.long() << order[:, None, :]).sum(-1)
    values = CoalitionCache(evaluate, samples, m, players.n_samples)((local[:, None] << m) | bits)  # [A, 2 + T]
    base, grand = values[:, 0], values[:, 1]
    z = members[:, 2:].double()  # [A, T, n]
    y = values[:, 2:] - base[:, None]
    weighted = z * weights[:, None]
    # sums over coalitions column by column, not a batched matmul, whose rounding may depend on the batch
    a_hat = torch.stack([(weighted * z[..., j : j + 1]).sum(dim=1) for j in range(n)], dim=-1)  # [A, n, n]
    b_hat = (weighted * y[..., None]).sum(dim=1)  # [A, n]
    eye = torch.eye(n, dtype=torch.float64, device=device).expand(count, -1, -1)
    solved = torch.linalg.solve(a_hat, torch.cat([b_hat[..., None], torch.ones_like(b_hat)[..., None], eye], dim=-1))
    a_inv_b, a_inv_1, a_inv = solved[..., 0], solved[..., 1], solved[..., 2:]
    ones_a_inv_1 = a_inv_1.sum(dim=-1, keepdim=True)
    multiplier = (a_inv_b.sum(dim=-1, keepdim=True) - (grand - base)[:, None]) / ones_a_inv_1
    phi = a_inv_b - a_inv_1 * multiplier  # [A, n]
    std = torch.zeros_like(phi)
    if n_sampled:
        sampled_z = z[:, -2 * n_sampled :]
        residual = y[:, -2 * n_sampled :] - (sampled_z * phi[:, None, :]).sum(dim=-1)
        terms = sampled_z * residual[..., None]
        pair_terms = (terms[:, :n_sampled] + terms[:, n_sampled:]) / 2  # [A, K, n]
        centred = pair_terms - pair_terms.mean(dim=1, keepdim=True)
        projector = a_inv - a_inv_1[..., :, None] * a_inv_1[..., None, :] / ones_a_inv_1[..., None]
        spread = torch.stack([(centred * projector[:, None, :, j]).sum(dim=-1) for j in range(n)], dim=-1)
        std = (remaining**2 * spread.pow(2).sum(dim=1) / (n_sampled * (n_sampled - 1))).sqrt()
    zeros = torch.zeros(count, m, dtype=torch.float64, device=device)
    out.put(
        samples, zeros.scatter(-1, order, phi), zeros.scatter(-1, order, std), base, grand, torch.zeros_like(samples)
    )
