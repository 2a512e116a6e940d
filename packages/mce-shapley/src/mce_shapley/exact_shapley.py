"""Exact Shapley values of every sample's game, restricted to the sample's available players.

Sample ``i`` with available players ``A_i`` (``n = |A_i|``) gets the Shapley values of its
own game ``v_i`` on ``A_i``: ``phi_j = sum_{S within A_i minus j} w(|S|, n) [v_i(S + j) - v_i(S)]``
with ``w(s, n) = s! (n - s - 1)! / n!``, and exactly 0 for ``j`` outside ``A_i`` (the null
player identity ``v_i(S) = v_i(S & A_i)``). Each coalition value enters with one coefficient
per player (:func:`~mce_shapley.coalitions.shapley_weights`), so the estimator is a weighted
sum accumulated in float64 chunk by chunk: memory stays at one chunk of game values.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from mce_shapley._checks import check_int, check_n_players, listed, raise_if_nonfinite
from mce_shapley.availability import Availability
from mce_shapley.coalitions import MAX_PLAYERS, SubsetRows, members_from_bits, shapley_weights
from mce_shapley.games import DenseGame, Game, RowEvaluator, RowGame, call_dense, infer_available
from mce_shapley.result import ShapleyResult

DEFAULT_MAX_BATCH = 2**20
"""Default cap on game evaluations ((sample, coalition) pairs) per game call."""

DEFAULT_MAX_PLAYERS = 20
"""Default cap on a sample's available players for exact values (``2**20`` coalitions)."""


class ShapleySums:
    """Running float64 sums of the exact estimator over chunks of coalition values.

    Args:
        available: the samples' players.
        weights: ``(joined, left_out)`` coefficient tables (default
            :func:`~mce_shapley.coalitions.shapley_weights`; Banzhaf values use
            :func:`~mce_shapley.coalitions.banzhaf_weights`).

    Attributes:
        values: ``Float64[N, M]`` Shapley values so far.
        base: ``Float64[N]``, ``v_i(empty set)`` once seen.
        grand: ``Float64[N]``, ``v_i(A_i)`` once seen.
        bad: ``Long[N]``, count of NaN/inf values met on needed coalitions.
        dtype: the dtype of the game's values, once a dense block has been added
            (:meth:`saw`); the sums themselves are float64.
    """

    def __init__(self, available: Availability, weights: tuple[Tensor, Tensor] | None = None) -> None:
        n_samples, n_players, device = available.n_samples, available.n_players, available.device
        self.players = available
        self.joined, self.left_out = shapley_weights(n_players, device) if weights is None else weights
        self.values = torch.zeros(n_samples, n_players, dtype=torch.float64, device=device)
        self.base = torch.zeros(n_samples, dtype=torch.float64, device=device)
        self.grand = torch.zeros_like(self.base)
        self.bad = torch.zeros(n_samples, dtype=torch.long, device=device)
        self.dtype: torch.dtype | None = None

    def saw(self, values: Tensor) -> None:
        """Note the dtype of game values about to be added (promoted across blocks)."""
        self.dtype = values.dtype if self.dtype is None else torch.promote_types(self.dtype, values.dtype)

    def add_rows(self, samples: Tensor, bits: Tensor, values: Tensor) -> None:
        """Add rows ``v_{samples[r]}(bits[r]) = values[r]`` (``Long[R]``, ``Long[R]``, ``Float64[R]``).

        Every coalition must be a subset of its sample's available players.
        """
        members = members_from_bits(bits, self.players.n_players)
        size = members.sum(dim=-1)
        n = self.players.counts[samples]
        left_out = self.players.mask[samples] & ~members
        coefficients = members * self.joined[n, size, None] - left_out * self.left_out[n, size, None]
        self.values = self.values.index_add(0, samples, values[:, None] * coefficients)
        self.base = self.base.index_add(0, samples, values * (bits == 0))
        self.grand = self.grand.index_add(0, samples, values * (bits == self.players.bits[samples]))
        self.bad = self.bad.index_add(0, samples, (~torch.isfinite(values)).long())

    def add_grid(self, bits: Tensor, values: Tensor) -> None:
        """Add a dense block: ``values[k, i] = v_i(bits[k])`` (``Long[K]``, ``Float64[K, N]``).

        Entries whose coalition is not within the sample's available players are ignored:
        their values, NaN included, never reach the sums (their gradients do, as with any
        ``torch.where``: a game to differentiate must be finite everywhere). When every
        sample has every player, the coefficients depend on the coalition alone and the
        update is one matrix product.
        """
        if self.players.complete:
            self._add_complete_grid(bits, values)
            return
        counts, players_bits = self.players.counts[None, :], self.players.bits[None, :]
        valid = (bits[:, None] & ~players_bits) == 0
        self.bad = self.bad + (valid & ~torch.isfinite(values)).sum(dim=0)
        values = torch.where(valid, values, 0.0)
        members = members_from_bits(bits, self.players.n_players).double()
        size = members.sum(dim=-1).long()[:, None]
        left_out_sums = (values * self.left_out[counts, size]).T @ (1.0 - members)
        self.values = self.values + (values * self.joined[counts, size]).T @ members - self.players.mask * left_out_sums
        self.base = self.base + (values * (bits == 0)[:, None]).sum(dim=0)
        self.grand = self.grand + (values * (bits[:, None] == players_bits)).sum(dim=0)

    def _add_complete_grid(self, bits: Tensor, values: Tensor) -> None:
        n = self.players.n_players
        members = members_from_bits(bits, n).double()
        size = members.sum(dim=-1).long()
        coefficients = members * self.joined[n, size, None] - (1.0 - members) * self.left_out[n, size, None]
        self.values = self.values + values.T @ coefficients
        self.base = self.base + (bits == 0).double() @ values
        self.grand = self.grand + (bits == self.players.bits[0]).double() @ values
        self.bad = self.bad + (~torch.isfinite(values)).sum(dim=0)


def check_exact_size(available: Availability, max_players: int) -> None:
    """Refuse samples whose ``2**n_i`` coalitions exceed what ``max_players`` allows."""
    largest = available.largest
    if largest > max_players:
        rows = (available.counts > max_players).nonzero().flatten().cpu()
        raise ValueError(
            f"exact Shapley values need 2**n coalitions per sample; samples {listed(rows)} have up to {largest} "
            f"available players ({2**largest:,} coalitions), above max_players={max_players}. "
            "Use mce_shapley.permutation(...) for a Monte Carlo estimate with standard errors, "
            "or raise max_players if you can afford the evaluations"
        )
    if available.n_samples * 2**largest >= 2**62:
        raise ValueError(
            f"exact Shapley values for {available.n_samples:,} samples of up to {largest} players need up to "
            f"{available.n_samples * 2**largest:,} evaluations, past what int64 indices count; use "
            "mce_shapley.permutation(...)"
        )


def needed_coalitions(players_bits: Tensor, n_players: int, chunk: int = DEFAULT_MAX_BATCH) -> Tensor:
    """``Long[K]``: sorted bitmasks of every coalition within some sample's players.

    Args:
        players_bits: ``Long[N]``, each sample's players as a bitmask.
        n_players: ``M``.
        chunk: subsets enumerated at a time, which bounds the memory besides the result.
    """
    subsets = SubsetRows(members_from_bits(torch.unique(players_bits), n_players))
    coalitions = torch.zeros(0, dtype=torch.long, device=players_bits.device)
    for start in range(0, subsets.total, chunk):
        found = subsets.take(start, min(start + chunk, subsets.total))[1]
        coalitions = torch.unique(torch.cat([coalitions, found]))
    return coalitions


def exact(
    game: Game,
    n_players: int,
    *,
    available: Tensor | None = None,
    max_batch: int = DEFAULT_MAX_BATCH,
    max_players: int = DEFAULT_MAX_PLAYERS,
) -> ShapleyResult:
    """Exact per-sample Shapley values.

    Args:
        game: a dense game ``game(coalitions: Bool[K, M]) -> Float[K, N]`` or a
            :class:`~mce_shapley.RowGame` (see :mod:`mce_shapley.games`).
        n_players: ``M``.
        available: ``Bool[N, M]``, the players each sample has (default: all). Sample ``i``
            gets the Shapley values of its game restricted to its own players; the others
            get exactly 0.
        max_batch: at most this many evaluations ((sample, coalition) pairs) per game call;
            the caller's memory cap. A dense game is called with
            ``max(1, max_batch // N)`` coalitions at a time.
        max_players: refuse samples with more available players than this.

    Returns:
        :class:`~mce_shapley.ShapleyResult` with ``std`` all zero, in the game's dtype (a
        float32 game gets float32 values; the sums are accumulated in float64 and cast once
        at the end). Differentiable when the game's values are.

    Cost: a dense game is evaluated on every coalition within some sample's players (all
    ``N`` samples each time); a row-wise game on ``sum_i 2**|A_i|`` rows. The chunk loop
    makes no host synchronisation; sizing the work reads the device once or twice up front.
    Without ``available``, a dense game's first call (on the empty coalition, to learn ``N``)
    receives its coalitions on the CPU: pass ``available`` on the game's device for a CUDA game.

    >>> weights = torch.tensor([[1.0, 2.0, 3.0]])           # one sample, additive game
    >>> result = exact(lambda coalitions: coalitions.float() @ weights.T, 3)
    >>> result.values.round(decimals=6).tolist()
    [[1.0, 2.0, 3.0]]
    >>> alone = exact(lambda c: c.float() @ weights.T, 3, available=torch.tensor([[True, False, True]]))
    >>> alone.values.round(decimals=6).tolist()
    [[1.0, 0.0, 3.0]]
    """
    return exact_values(game, n_players, available, max_batch, max_players, None)


def exact_values(
    game: Game,
    n_players: int,
    available: Tensor | None,
    max_batch: int,
    max_players: int,
    weights: Callable[[int, torch.device], tuple[Tensor, Tensor]] | None,
) -> ShapleyResult:
    """:func:`exact` with other per-coalition coefficients (``weights(M, device)``; None: Shapley's)."""
    n_players = check_n_players(n_players)
    check_int("max_batch", max_batch, minimum=1)
    check_int("max_players", max_players, minimum=1, maximum=MAX_PLAYERS)
    probe = None
    if available is None:
        players, probe = infer_available(game, n_players)
    else:
        players = Availability.check(available, n_players)
    check_exact_size(players, max_players)
    sums = ShapleySums(players, None if weights is None else weights(n_players, players.device))
    if isinstance(game, RowGame):
        n_evals, n_calls = _exact_rows(game, players, sums, max_batch)
    else:
        n_evals, n_calls = _exact_dense(game, sums, max_batch, probe)
    raise_if_nonfinite(sums.bad)
    dtype = torch.float64 if sums.dtype is None else sums.dtype
    return ShapleyResult(
        values=sums.values.to(dtype),
        std=torch.zeros_like(sums.values, dtype=dtype),
        base=sums.base.to(dtype),
        grand=sums.grand.to(dtype),
        n_evals=n_evals,
        n_calls=n_calls,
        n_permutations=torch.zeros_like(sums.bad),
    )


def _exact_rows(game: RowGame, players: Availability, sums: ShapleySums, max_batch: int) -> tuple[int, int]:
    evaluate = RowEvaluator(game, players, max_batch)
    accumulate_rows(evaluate, SubsetRows(players.mask), sums, max_batch)
    sums.dtype = evaluate.dtype
    return evaluate.n_evals, evaluate.n_calls


def accumulate_rows(
    evaluate: Callable[[Tensor, Tensor], Tensor], rows: SubsetRows, sums: ShapleySums, max_batch: int
) -> None:
    """The row-wise chunk loop: every (sample, subset) row, ``max_batch`` at a time; no host reads.

    ``evaluate(samples: Long[R], bits: Long[R]) -> Float64[R]`` gives the rows' values.
    """
    for start in range(0, rows.total, max_batch):
        samples, bits = rows.take(start, min(start + max_batch, rows.total))
        sums.add_rows(samples, bits, evaluate(samples, bits))


def _exact_dense(game: DenseGame, sums: ShapleySums, max_batch: int, probe: Tensor | None) -> tuple[int, int]:
    """Every needed coalition, ``max(1, max_batch // N)`` per call; ``probe`` holds ``v(empty)`` if already paid."""
    players = sums.players
    if players.complete:
        coalitions = torch.arange(2**players.n_players, device=players.device)
    else:
        coalitions = needed_coalitions(players.bits, players.n_players)
    n_calls = 0
    if probe is not None:
        sums.saw(probe)
        sums.add_grid(coalitions[:1], probe.double())
        coalitions, n_calls = coalitions[1:], 1
    n_calls += accumulate_dense(game, coalitions, sums, per_call=max(1, max_batch // players.n_samples))
    return (coalitions.shape[0] + (probe is not None)) * players.n_samples, n_calls


def accumulate_dense(game: DenseGame, coalitions: Tensor, sums: ShapleySums, per_call: int) -> int:
    """The dense chunk loop: ``coalitions`` (``Long[K]``), ``per_call`` at a time; no host reads.

    Returns the number of game calls made.
    """
    players = sums.players
    starts = range(0, coalitions.shape[0], per_call)
    for start in starts:
        bits = coalitions[start : start + per_call]
        values = call_dense(game, members_from_bits(bits, players.n_players), players.n_samples, players.device)
        sums.saw(values)
        sums.add_grid(bits, values.double())
    return len(starts)
