"""The two forms of game and the evaluator that turns either into per-row values.

A *game* gives every sample's value for coalitions of players:

* dense form, any callable ``game(coalitions: Bool[K, M]) -> Float[K, N]``: one value per
  coalition (row) and sample (column). Natural when the model runs the whole batch under
  a modality mask.
* row-wise form, :class:`RowGame` wrapping ``fn(samples: Long[R], coalitions: Bool[R, M])
  -> Float[R]``: row ``r`` is sample ``samples[r]`` under coalition ``coalitions[r]``. Only
  the coalitions a sample needs are evaluated, so a sample with ``|A_i|`` available players
  costs ``2**|A_i|`` evaluations instead of ``2**M``.

A game must treat a player outside the coalition as absent (e.g. zero its features); it is
only ever asked about coalitions of players available to the sample in question.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from mce_shapley._checks import check_game_output, check_int
from mce_shapley.availability import Availability
from mce_shapley.coalitions import members_from_bits
from mce_shapley.sorted_table import SortedTable

DenseGame = Callable[[Tensor], Tensor]
"""``game(coalitions: Bool[K, M]) -> Float[K, N]``."""


@dataclass(frozen=True)
class RowGame:
    """A game evaluated one (sample, coalition) pair per row.

    Args:
        fn: ``fn(samples: Long[R], coalitions: Bool[R, M]) -> Float[R]``.
        n_samples: ``N``; needed only when the estimator is called without ``available``.
        device: where to build index tensors when called without ``available``.

    >>> scores = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # [sample, player]: an additive game
    >>> game = RowGame(lambda samples, coalitions: (scores[samples] * coalitions).sum(-1))
    >>> game(torch.tensor([0, 1]), torch.tensor([[True, True], [False, True]])).tolist()
    [3.0, 4.0]
    """

    fn: Callable[[Tensor, Tensor], Tensor]
    n_samples: int | None = None
    device: torch.device | str | None = None

    def __post_init__(self) -> None:
        if self.n_samples is not None:
            check_int("RowGame n_samples", self.n_samples, minimum=1)

    def __call__(self, samples: Tensor, coalitions: Tensor) -> Tensor:
        return self.fn(samples, coalitions)


Game = DenseGame | RowGame


def call_dense(game: DenseGame, members: Tensor, n_samples: int, device: torch.device) -> Tensor:
    """``Float[K, N]``: a dense game's values for ``members: Bool[K, M]``, checked."""
    return check_game_output(game(members), (members.shape[0], n_samples), device, "dense")


def infer_available(game: Game, n_players: int) -> tuple[Availability, Tensor | None]:
    """All players available, for callers who pass no ``available``.

    Returns:
        ``(availability, probe)``. ``N`` comes from ``RowGame.n_samples``, or for a dense
        game from one call on the empty coalition, whose values ``probe: Float[1, N]`` come
        back so they need not be paid for twice (``None`` for a row-wise game). That call's
        coalitions are on the CPU; later ones are on the device of its output.
    """
    if isinstance(game, RowGame):
        if game.n_samples is None:
            raise ValueError(
                "a RowGame called without `available` needs n_samples: "
                "RowGame(fn, n_samples=N) or pass available=Bool[N, M]"
            )
        device = torch.device(game.device if game.device is not None else "cpu")
        return Availability.everyone(game.n_samples, n_players, device), None
    probe = game(torch.zeros(1, n_players, dtype=torch.bool))
    if not isinstance(probe, Tensor) or probe.ndim != 2 or probe.shape[0] != 1 or probe.shape[1] == 0:
        shape = list(probe.shape) if isinstance(probe, Tensor) else type(probe).__name__
        raise ValueError(f"the dense game returned {shape} for one coalition; expected shape [1, N] with N >= 1")
    availability = Availability.everyone(probe.shape[1], n_players, probe.device)
    return availability, check_game_output(probe, (1, probe.shape[1]), probe.device, "dense")


class RowEvaluator:
    """Evaluates ``(sample, coalition)`` rows with either game form, at most ``max_batch`` per call.

    Counts evaluations (``n_evals``, as (sample, coalition) pairs) and calls (``n_calls``).
    A dense game computes every sample for each coalition it is asked about, so its values are
    kept by coalition: each coalition is evaluated once for all ``N`` samples, however many
    later requests need it.
    """

    def __init__(self, game: Game, available: Availability, max_batch: int) -> None:
        self.game = game
        self.n_players = available.n_players
        self.n_samples = available.n_samples
        self.device = available.device
        self.max_batch = max_batch
        self.n_evals = 0
        self.n_calls = 0
        self.dtype: torch.dtype | None = None  # the game's dtype, once it has returned values
        self.table = SortedTable((self.n_samples,), self.device)  # dense games: v_i(coalition) by coalition

    def saw(self, values: Tensor) -> None:
        """Note the dtype of values the game returned (promoted across calls)."""
        self.dtype = values.dtype if self.dtype is None else torch.promote_types(self.dtype, values.dtype)

    @property
    def result_dtype(self) -> torch.dtype:
        """The dtype results are returned in: the game's (float64 if it was never called)."""
        return torch.float64 if self.dtype is None else self.dtype

    def remember(self, bits: Tensor, values: Tensor) -> None:
        """Keep dense values already paid for: ``values[k, i] = v_i(bits[k])`` (``Long[K]``, ``Float[K, N]``)."""
        self.saw(values)
        self.table.add(bits, values)

    def __call__(self, samples: Tensor, bits: Tensor) -> Tensor:
        """``Float64[R]``: the value of sample ``samples[r]`` on coalition ``bits[r]``, accumulated in float64.

        Args:
            samples: ``Long[R]`` sample indices.
            bits: ``Long[R]`` coalition bitmasks.
        """
        if isinstance(self.game, RowGame):
            return self._rows(self.game, samples, bits)
        return self._dense(self.game, samples, bits)

    def _rows(self, game: RowGame, samples: Tensor, bits: Tensor) -> Tensor:
        parts = []
        for start in range(0, samples.shape[0], self.max_batch):
            chunk_samples = samples[start : start + self.max_batch]
            members = members_from_bits(bits[start : start + self.max_batch], self.n_players)
            values = check_game_output(game(chunk_samples, members), (chunk_samples.shape[0],), self.device, "row-wise")
            self.saw(values)
            parts.append(values.double())
            self.n_calls += 1
            self.n_evals += chunk_samples.shape[0]
        return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64, device=self.device)

    def _dense(self, game: DenseGame, samples: Tensor, bits: Tensor) -> Tensor:
        wanted = self.table.missing(torch.unique(bits))
        per_call = max(1, self.max_batch // self.n_samples)
        for start in range(0, wanted.shape[0], per_call):
            chunk = wanted[start : start + per_call]
            members = members_from_bits(chunk, self.n_players)
            self.remember(chunk, call_dense(game, members, self.n_samples, self.device))
            self.n_calls += 1
            self.n_evals += chunk.shape[0] * self.n_samples
        return self.table.values[self.table.index(bits), samples]
