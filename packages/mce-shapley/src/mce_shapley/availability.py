"""Which players each sample has, and what the estimators derive from that, computed once."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from mce_shapley._checks import listed
from mce_shapley.coalitions import bits_from_members


@dataclass(frozen=True)
class Availability:
    """A validated availability matrix with its per-sample summaries.

    Attributes:
        mask: ``Bool[N, M]``, ``True`` where sample ``i`` has player ``j``.
        counts: ``Long[N]``, players per sample (``|A_i|``).
        bits: ``Long[N]``, each sample's players as a coalition bitmask.
        largest: ``max_i |A_i|``.
        complete: every sample has every player.
    """

    mask: Tensor
    counts: Tensor
    bits: Tensor
    largest: int
    complete: bool

    @property
    def n_samples(self) -> int:
        return self.mask.shape[0]

    @property
    def n_players(self) -> int:
        return self.mask.shape[1]

    @property
    def device(self) -> torch.device:
        return self.mask.device

    @classmethod
    def everyone(cls, n_samples: int, n_players: int, device: torch.device) -> Availability:
        """All ``n_players`` players for each of ``n_samples`` samples (no device reads)."""
        mask = torch.ones(n_samples, n_players, dtype=torch.bool, device=device)
        counts = torch.full((n_samples,), n_players, dtype=torch.long, device=device)
        return cls(mask, counts, bits_from_members(mask), n_players, True)

    @classmethod
    def check(cls, available: object, n_players: int) -> Availability:
        """Validate ``available`` (expected ``Bool[N >= 1, n_players]``, no empty row).

        Reads the device once (the smallest and largest player counts).
        """
        if not isinstance(available, Tensor):
            raise TypeError(
                f"available must be a torch.Tensor of dtype bool and shape [N, {n_players}]; "
                f"got {type(available).__name__}"
            )
        if available.dtype != torch.bool:
            raise TypeError(
                "available must have dtype torch.bool (True = the player exists for that sample); "
                f"got {available.dtype}. Convert with `available.bool()`"
            )
        if available.ndim != 2 or available.shape[1] != n_players or available.shape[0] == 0:
            raise ValueError(
                f"available must have shape [N, n_players] = [N >= 1, {n_players}]; got {list(available.shape)}"
            )
        counts = available.sum(dim=1)
        smallest, largest = torch.stack(torch.aminmax(counts)).tolist()
        if smallest == 0:
            empty = (counts == 0).nonzero().flatten().cpu()
            raise ValueError(
                f"every sample needs at least one available player; rows {listed(empty)} have none. "
                "Drop those samples: their Shapley values are undefined"
            )
        return cls(available, counts, bits_from_members(available), largest, smallest == n_players)
