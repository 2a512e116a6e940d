"""Coalitions as int64 bitmasks: conversions, subset enumeration and Shapley weights.

A coalition of ``M`` players is either a boolean membership row ``Bool[..., M]`` (the form
games receive) or an int64 bitmask ``Long[...]`` with bit ``j`` set when player ``j`` is in
it (the form used internally to sort, deduplicate and compare coalitions). Bitmasks limit
games to :data:`MAX_PLAYERS` players.
"""

from __future__ import annotations

import math
from functools import cache

import torch
from torch import Tensor

MAX_PLAYERS = 62
"""Largest number of players: coalitions are int64 bitmasks with headroom for the sign bit."""


def _bit_values(n_players: int, device: torch.device) -> Tensor:
    """``Long[n_players]``: ``2**j`` for each player ``j``."""
    return torch.ones(n_players, dtype=torch.long, device=device) << torch.arange(n_players, device=device)


def bits_from_members(members: Tensor) -> Tensor:
    """Pack membership rows into bitmasks.

    Args:
        members: ``Bool[..., M]``, ``True`` where the player belongs to the coalition.

    Returns:
        ``Long[...]``: bit ``j`` set where ``members[..., j]``.

    >>> bits_from_members(torch.tensor([[True, False, True], [False, False, False]]))
    tensor([5, 0])
    """
    return (members.long() * _bit_values(members.shape[-1], members.device)).sum(-1)


def members_from_bits(bits: Tensor, n_players: int) -> Tensor:
    """Unpack bitmasks into membership rows.

    Args:
        bits: ``Long[...]`` coalition bitmasks.
        n_players: ``M``, the number of players.

    Returns:
        ``Bool[..., M]``.

    >>> members_from_bits(torch.tensor([5, 2]), 3)
    tensor([[ True, False,  True],
            [False,  True, False]])
    """
    players = torch.arange(n_players, device=bits.device)
    return ((bits.unsqueeze(-1) >> players) & 1).bool()


def available_first(available: Tensor) -> Tensor:
    """Order each row's players so the available ones come first, in ascending order.

    Args:
        available: ``Bool[N, M]``.

    Returns:
        ``Long[N, M]``: row ``i`` lists the available players of sample ``i`` (ascending),
        then the unavailable ones.
    """
    return torch.argsort((~available).to(torch.uint8), dim=-1, stable=True)


def deposit(rank: Tensor, player_order: Tensor) -> Tensor:
    """Map subset ranks to coalitions of each row's available players (a vectorised ``pdep``).

    Bit ``b`` of ``rank`` decides whether the ``b``-th available player joins, so the ranks
    ``0 .. 2**n - 1`` of a row with ``n`` available players enumerate exactly the ``2**n``
    subsets of those players; ``rank < 2**n`` keeps every other player out.

    Args:
        rank: ``Long[R]``, each below ``2**n`` for its row.
        player_order: ``Long[R, M]`` from :func:`available_first`.

    Returns:
        ``Long[R]`` coalition bitmasks.

    >>> order = available_first(torch.tensor([[False, True, False, True]]))
    >>> deposit(torch.tensor([0, 1, 2, 3]), order.expand(4, -1))
    tensor([ 0,  2,  8, 10])
    """
    positions = torch.arange(player_order.shape[-1], device=rank.device)
    chosen = (rank.unsqueeze(-1) >> positions) & 1
    return (chosen << player_order).sum(-1)


def _weight_rows(n_players: int) -> tuple[tuple[float, ...], ...]:
    rows = []
    for n in range(n_players + 1):
        row = [0.0] * (n_players + 1)
        for size in range(n):
            row[size] = 1.0 / (n * math.comb(n - 1, size))
        rows.append(tuple(row))
    return tuple(rows)


@cache
def shapley_weights(n_players: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Per-coalition Shapley coefficients, indexed by game size and coalition size.

    With ``w(s, n) = s! (n - s - 1)! / n!``, sample ``i`` (``n`` available players) gets
    ``phi_j = sum_T v(T) * c_j(T)`` over coalitions ``T`` of its players, where
    ``c_j(T) = w(|T| - 1, n)`` if ``j`` is in ``T`` and ``-w(|T|, n)`` otherwise.

    Returns:
        ``(joined, left_out)``, each ``Float64[M + 1, M + 1]`` indexed ``[n, |T|]``:
        ``joined[n, s] = w(s - 1, n)`` and ``left_out[n, s] = w(s, n)``, zero where undefined.
        Cached per ``(n_players, device)``: treat them as read-only.
    """
    left_out = torch.tensor(_weight_rows(n_players), dtype=torch.float64, device=device)
    joined = torch.zeros_like(left_out)
    joined[:, 1:] = left_out[:, :-1]
    return joined, left_out


@cache
def banzhaf_weights(n_players: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Per-coalition Banzhaf coefficients, in the layout of :func:`shapley_weights`.

    Sample ``i`` (``n`` available players) gets ``beta_j = sum_T v(T) c_j(T)`` with
    ``c_j(T) = 2**-(n - 1)`` if ``j`` is in ``T`` and ``-2**-(n - 1)`` otherwise.

    Returns:
        ``(joined, left_out)``, each ``Float64[M + 1, M + 1]`` indexed ``[n, |T|]``, zero where
        undefined (``|T| = 0`` for ``joined``, ``|T| = n`` for ``left_out``). Read-only.
    """
    left_out = torch.zeros(n_players + 1, n_players + 1, dtype=torch.float64, device=device)
    for n in range(1, n_players + 1):
        left_out[n, :n] = 2.0 ** -(n - 1)
    joined = torch.zeros_like(left_out)
    joined[:, 1:] = left_out[:, :-1]
    return joined, left_out


class SubsetRows:
    """Every ``(row, subset of that row's available players)`` pair, enumerated in ranges.

    Row ``i`` of ``available`` contributes its ``2**n_i`` subsets, in rank order (the empty
    coalition first, all of its players last). Building this reads the total count from the
    device once; :meth:`take` then runs without host synchronisation.

    Args:
        available: ``Bool[N, M]``.

    >>> rows = SubsetRows(torch.tensor([[True, False, True], [False, True, False]]))
    >>> rows.total
    6
    >>> rows.take(0, rows.total)
    (tensor([0, 0, 0, 0, 1, 1]), tensor([0, 1, 4, 5, 0, 2]))
    """

    def __init__(self, available: Tensor) -> None:
        self.order = available_first(available)
        self.counts = torch.ones_like(self.order[:, 0]) << available.sum(dim=1)
        self.ends = self.counts.cumsum(0)
        self.total = int(self.ends[-1])

    def take(self, start: int, stop: int) -> tuple[Tensor, Tensor]:
        """Pairs ``start .. stop - 1`` as ``(rows: Long[R], bits: Long[R])``."""
        flat = torch.arange(start, stop, device=self.ends.device)
        rows = torch.searchsorted(self.ends, flat, right=True)
        rank = flat - (self.ends[rows] - self.counts[rows])
        return rows, deposit(rank, self.order[rows])
