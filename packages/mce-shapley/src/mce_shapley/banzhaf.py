"""Banzhaf values (exact and Monte Carlo) and the exact pairwise Shapley interaction index.

For sample ``i`` with players ``A_i`` (``n = |A_i|``):

* Banzhaf value ``beta_j = 2**-(n - 1) sum_{S within A_i minus j} [v(S + j) - v(S)]``: every
  coalition weighs the same. :func:`banzhaf_exact` sums it like :func:`~mce_shapley.exact`;
  :func:`banzhaf` estimates it from complementary pairs ``(S, A_i minus S)`` of uniform random
  coalitions (maximum sample reuse, Wang & Jia 2023, paired):
  ``beta_j ~= mean_k s_j(S_k) [v(S_k) - v(A_i minus S_k)]``, ``s_j = +1`` if ``j`` is in ``S_k``
  and ``-1`` otherwise; every pair informs every player, and it is unbiased.
* Shapley interaction index of order 2 (Grabisch & Roubens, 1999), for ``j != k`` in ``A_i``:
  ``I_jk = sum_{S within A_i minus {j, k}} |S|! (n - |S| - 2)! / (n - 1)! * D_jk(S)`` with the
  discrete derivative ``D_jk(S) = v(S + jk) - v(S + j) - v(S + k) + v(S)``.
  :func:`interactions` returns it as ``[N, M, M]``, symmetric, zero on the diagonal and for
  players a sample lacks.

Availability is the null-player identity, as everywhere in this package: a sample's game is
restricted to its own players, who alone get values.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from mce_shapley._checks import check_int, check_n_players, raise_if_nonfinite
from mce_shapley._philox import random_keys
from mce_shapley._sampling import CoalitionCache, Estimates, Run, draw_seed, per_sample, solve_exactly
from mce_shapley.availability import Availability
from mce_shapley.coalitions import MAX_PLAYERS, SubsetRows, available_first, banzhaf_weights, members_from_bits
from mce_shapley.exact_shapley import DEFAULT_MAX_BATCH, DEFAULT_MAX_PLAYERS, check_exact_size, exact_values
from mce_shapley.games import Game, RowEvaluator, infer_available
from mce_shapley.result import ShapleyResult

_WORK_ELEMENTS = 2**22
"""Bound on the (row, player, player) entries one interaction chunk holds."""


def banzhaf_exact(
    game: Game,
    n_players: int,
    *,
    available: Tensor | None = None,
    max_batch: int = DEFAULT_MAX_BATCH,
    max_players: int = DEFAULT_MAX_PLAYERS,
) -> ShapleyResult:
    """Exact per-sample Banzhaf values; arguments, cost and result as :func:`~mce_shapley.exact`.

    ``values`` holds the Banzhaf values (in the game's dtype); they are not efficient, so
    ``efficiency_gap`` is not zero in general.

    >>> weights = torch.tensor([[1.0, 2.0, 3.0]])                     # additive: beta = weights
    >>> game = lambda c: c.float() @ weights.T + 6.0 * c.all(-1, keepdim=True).float()
    >>> banzhaf_exact(game, 3).values.round(decimals=6).tolist()      # + 6 * 2**-(3-1) each
    [[2.5, 3.5, 4.5]]
    """
    return exact_values(game, n_players, available, max_batch, max_players, banzhaf_weights)


def banzhaf(
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
    """Monte Carlo per-sample Banzhaf values from complementary pairs of uniform coalitions.

    Args:
        game: a dense game or a :class:`~mce_shapley.RowGame`.
        n_players: ``M``.
        available: ``Bool[N, M]``, the players each sample has (default: all).
        n_pairs: pairs ``(S, A_i minus S)`` per sample (``>= 2``): at most ``2 * n_pairs``
            evaluations, repeats evaluated once.
        generator: the source of the run's seed (default: torch's global generator).
        exact_when_cheaper: solve a sample exactly when ``2**|A_i| <= 2 * n_pairs``.
        sample_keys: ``Long[N]``, a stable id per sample (default ``arange(N)``).
        max_batch: at most this many evaluations per game call.

    Returns:
        :class:`~mce_shapley.ShapleyResult` in the game's dtype: ``values`` the Banzhaf
        estimates (unbiased), ``std`` their standard errors, ``n_permutations`` the pairs
        per sample (0 where exact).

    >>> weights = torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]])    # additive: beta = weights
    >>> result = banzhaf(lambda c: c.float() @ weights.T, 6, n_pairs=4096, exact_when_cheaper=False,
    ...                  generator=torch.Generator().manual_seed(0))
    >>> bool(result.std.max() < 0.2), torch.allclose(result.values, weights, atol=4 * 0.2)
    (True, True)
    """
    n_players = check_n_players(n_players)
    check_int("n_pairs", n_pairs, minimum=2, maximum=2**30)
    check_int("max_batch", max_batch, minimum=1)
    seed = draw_seed(generator)
    run = Run.start(game, n_players, available, sample_keys, max_batch)
    players, keys, evaluate = run.players, run.keys, run.evaluate
    counts, device = players.counts, players.device
    cheap = (torch.ones_like(counts) << counts.clamp(max=62)) <= 2 * n_pairs if exact_when_cheaper else counts < 0
    estimates = run.estimates()
    exact_samples = cheap.nonzero().flatten()
    if exact_samples.numel():
        solve_exactly(evaluate, players, exact_samples, estimates, max_batch, banzhaf_weights(n_players, device))
    sampled = (~cheap).nonzero().flatten()
    chunk = max(1, min(2 ** (62 - n_players), (2**24) // ((2 * n_pairs + 2) * (n_players + 1))))
    for start in range(0, sampled.numel(), chunk):
        _banzhaf_chunk(evaluate, players, keys, sampled[start : start + chunk], n_pairs, seed, estimates)
    return run.result(estimates)


def _banzhaf_chunk(
    evaluate: RowEvaluator,
    players: Availability,
    keys: Tensor,
    samples: Tensor,
    n_pairs: int,
    seed: int,
    out: Estimates,
) -> None:
    """Paired maximum-sample-reuse estimates for ``samples`` (``Long[A]``), into ``out``."""
    m, device = players.n_players, players.device
    count = samples.numel()
    mask = players.mask[samples]  # Bool[A, M]
    order = available_first(mask)  # Long[A, M]: rank among the sample's players -> player
    ranked = mask.gather(-1, order)  # Bool[A, M]: the first |A_i| ranks are the sample's players
    draws = torch.arange(n_pairs, device=device)
    coin = (random_keys(seed, keys[samples], draws, m) >> 40) & 1  # [A, K, M], one coin per rank
    inside = (coin == 1) & ranked[:, None, :]
    outside = (coin == 0) & ranked[:, None, :]
    bits = (inside.long() << order[:, None, :]).sum(-1)  # [A, K]
    complement = (outside.long() << order[:, None, :]).sum(-1)
    local = torch.arange(count, device=device)
    ends = torch.stack([local << m, (local << m) | players.bits[samples]], dim=1)
    values = CoalitionCache(evaluate, samples, m, players.n_samples)(
        torch.cat([ends, (local[:, None] << m) | bits, (local[:, None] << m) | complement], dim=1)
    )
    base, grand = values[:, 0], values[:, 1]
    difference = values[:, 2 : 2 + n_pairs] - values[:, 2 + n_pairs :]  # [A, K]
    sign = torch.zeros(count, n_pairs, m, dtype=torch.float64, device=device)
    sign = sign.scatter(-1, order[:, None, :].expand(-1, n_pairs, -1), inside.double() - outside.double())
    terms = sign * difference[..., None]  # [A, K, M]
    mean = terms.mean(dim=1)
    std = (terms.var(dim=1) / n_pairs).sqrt() * mask
    out.put(samples, mean, std, base, grand, torch.full_like(samples, n_pairs))


@dataclass(frozen=True)
class InteractionResult:
    """Per-sample pairwise Shapley interaction indices and what they cost.

    Attributes:
        values: ``Float[N, M, M]`` in the game's dtype, ``values[i, j, k] = I_jk`` for sample
            ``i``: symmetric, 0 on the diagonal and wherever ``j`` or ``k`` is not available.
        base: ``Float[N]``, ``v_i(empty set)``.
        grand: ``Float[N]``, ``v_i(A_i)``.
        n_evals: game evaluations spent ((sample, coalition) pairs).
        n_calls: calls made to the game.
    """

    values: Tensor
    base: Tensor
    grand: Tensor
    n_evals: int
    n_calls: int


def _interaction_weights(n_players: int, device: torch.device) -> Tensor:
    """``Float64[M + 1, M + 3]``: ``[n, t + 2] = t! (n - t - 2)! / (n - 1)!`` for ``0 <= t <= n - 2``, else 0.

    The offset of 2 lets ``t = |T| - 2`` and ``|T| - 1`` index it without negative indices.
    """
    table = torch.zeros(n_players + 1, n_players + 3, dtype=torch.float64)
    for n in range(2, n_players + 1):
        for t in range(n - 1):
            table[n, t + 2] = math.factorial(t) * math.factorial(n - t - 2) / math.factorial(n - 1)
    return table.to(device)


class InteractionSums:
    """Running float64 sums of the exact interaction index over chunks of (sample, coalition) rows.

    Attributes:
        values: ``Float64[N, M, M]`` (the diagonal holds no meaning until zeroed).
        base: ``Float64[N]``; grand: ``Float64[N]``; bad: ``Long[N]``, NaN/inf values met.
    """

    def __init__(self, players: Availability) -> None:
        n_samples, m, device = players.n_samples, players.n_players, players.device
        self.players = players
        self.weights = _interaction_weights(m, device)
        self.values = torch.zeros(n_samples, m, m, dtype=torch.float64, device=device)
        self.base = torch.zeros(n_samples, dtype=torch.float64, device=device)
        self.grand = torch.zeros_like(self.base)
        self.bad = torch.zeros(n_samples, dtype=torch.long, device=device)

    def add_rows(self, samples: Tensor, bits: Tensor, found: Tensor) -> None:
        """Add ``v_{samples[r]}(bits[r]) = found[r]`` (``Long[R]``, ``Long[R]``, ``Float64[R]``)."""
        players = self.players
        self.bad = self.bad + per_sample(players.n_samples, samples, ~torch.isfinite(found))
        found = torch.where(torch.isfinite(found), found, 0.0)
        inside = members_from_bits(bits, players.n_players).double()  # [R, M]
        outside = players.mask[samples].double() - inside
        n, size = players.counts[samples], inside.sum(dim=-1).long()
        both = (found * self.weights[n, size])[:, None, None]  # t = |T| - 2 (the table's offset is 2)
        one = (found * self.weights[n, size + 1])[:, None, None]  # t = |T| - 1
        neither = (found * self.weights[n, size + 2])[:, None, None]  # t = |T|
        split = inside[:, :, None] * outside[:, None, :]
        contribution = (
            both * inside[:, :, None] * inside[:, None, :]
            - one * (split + split.transpose(1, 2))
            + neither * outside[:, :, None] * outside[:, None, :]
        )
        self.values = self.values.index_add(0, samples, contribution)
        self.base = self.base.index_add(0, samples, found * (bits == 0))
        self.grand = self.grand.index_add(0, samples, found * (bits == players.bits[samples]))


def accumulate_interactions(
    evaluate: Callable[[Tensor, Tensor], Tensor], rows: SubsetRows, sums: InteractionSums, step: int
) -> None:
    """Every (sample, subset) row, ``step`` at a time, into ``sums``; no host reads."""
    for start in range(0, rows.total, step):
        samples, bits = rows.take(start, min(start + step, rows.total))
        sums.add_rows(samples, bits, evaluate(samples, bits))


def interactions(
    game: Game,
    n_players: int,
    *,
    available: Tensor | None = None,
    max_batch: int = DEFAULT_MAX_BATCH,
    max_players: int = DEFAULT_MAX_PLAYERS,
) -> InteractionResult:
    """Exact per-sample pairwise Shapley interaction indices (order 2).

    Args:
        game: a dense game or a :class:`~mce_shapley.RowGame`.
        n_players: ``M``.
        available: ``Bool[N, M]``, the players each sample has (default: all).
        max_batch: at most this many evaluations per game call.
        max_players: refuse samples with more available players than this.

    Returns:
        :class:`InteractionResult`, values ``Float[N, M, M]`` in the game's dtype (summed in float64).

    Cost: ``sum_i 2**|A_i|`` evaluations for a row-wise game; a dense game is asked about each
    coalition any sample needs, once, for all ``N`` samples.

    >>> game = lambda c: (c[:, 0] & c[:, 1]).float()[:, None] + c[:, 2].float()[:, None]
    >>> interactions(game, 3).values[0].round(decimals=6).tolist()   # x0 * x1 + x2
    [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    """
    n_players = check_n_players(n_players)
    check_int("max_batch", max_batch, minimum=1)
    check_int("max_players", max_players, minimum=1, maximum=MAX_PLAYERS)
    probe = None
    if available is None:
        players, probe = infer_available(game, n_players)
    else:
        players = Availability.check(available, n_players)
    check_exact_size(players, max_players)
    evaluate = RowEvaluator(game, players, max_batch)
    if probe is not None:
        evaluate.remember(torch.zeros(1, dtype=torch.long, device=players.device), probe)
    sums = InteractionSums(players)
    step = max(1, min(max_batch, _WORK_ELEMENTS // n_players**2))
    accumulate_interactions(evaluate, SubsetRows(players.mask), sums, step)
    raise_if_nonfinite(sums.bad)
    values = sums.values * (1 - torch.eye(n_players, dtype=torch.float64, device=players.device))
    dtype = evaluate.result_dtype
    return InteractionResult(
        values=values.to(dtype),
        base=sums.base.to(dtype),
        grand=sums.grand.to(dtype),
        n_evals=evaluate.n_evals + (0 if probe is None else probe.numel()),
        n_calls=evaluate.n_calls + (probe is not None),
    )
