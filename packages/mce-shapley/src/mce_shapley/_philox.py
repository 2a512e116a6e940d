"""Philox4x32-10 (Salmon et al., SC 2011) on int64 tensors: counter-based random bits.

Each output depends only on its counter and key, never on what else is drawn in the same
call, so a sample's random permutations are the same whichever batch or chunk it sits in.
32-bit lanes live in int64 tensors; products of two 32-bit lanes may wrap past 2**63, and
two's-complement wrapping keeps their 64 bits exact, which is all ``mulhilo`` needs.
"""

from __future__ import annotations

import torch
from torch import Tensor

_MASK = 0xFFFFFFFF
_MULTIPLIERS = (0xD2511F53, 0xCD9E8D57)
_WEYL = (0x9E3779B9, 0xBB67AE85)
_ROUNDS = 10


def philox4x32(
    counter: tuple[Tensor, Tensor, Tensor, Tensor], key: tuple[int, int]
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Four 32-bit random lanes per counter.

    Args:
        counter: four broadcastable ``Long[...]`` tensors with values in ``[0, 2**32)``.
        key: two ints in ``[0, 2**32)``.

    Returns:
        Four ``Long[...]`` tensors of the broadcast shape, values in ``[0, 2**32)``.
    """
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for round_index in range(_ROUNDS):
        if round_index:
            k0, k1 = (k0 + _WEYL[0]) & _MASK, (k1 + _WEYL[1]) & _MASK
        product0 = c0 * _MULTIPLIERS[0]
        product1 = c2 * _MULTIPLIERS[1]
        high0, low0 = (product0 >> 32) & _MASK, product0 & _MASK
        high1, low1 = (product1 >> 32) & _MASK, product1 & _MASK
        c0, c1, c2, c3 = high1 ^ c1 ^ k0, low1, high0 ^ c3 ^ k1, low0
    return c0, c1, c2, c3


def random_keys(seed: int, samples: Tensor, draws: Tensor, n_players: int) -> Tensor:
    """62-bit random sort keys, one per (sample, draw, player).

    Args:
        seed: an int in ``[0, 2**64)``; the Philox key.
        samples: ``Long[A]`` per-sample keys (any int64; both halves are used).
        draws: ``Long[P]`` draw (permutation) indices in ``[0, 2**32)``.
        n_players: ``M``.

    Returns:
        ``Long[A, P, M]`` with values in ``[0, 2**62)``.
    """
    players = torch.arange(n_players, device=samples.device)
    lanes = philox4x32(
        (
            (samples & _MASK)[:, None, None],
            ((samples >> 32) & _MASK)[:, None, None],
            draws[None, :, None],
            players[None, None, :],
        ),
        (seed & _MASK, (seed >> 32) & _MASK),
    )
    return (lanes[0] << 30) | (lanes[1] >> 2)
