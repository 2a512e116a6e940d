"""mce_shapley.exact against the textbook formula, restricted games, and its contracts."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor

from mce_shapley import RowGame, exact

BruteForce = Callable[[Tensor, Tensor], Tensor]
TableGames = Callable[[Tensor], tuple[Callable[[Tensor], Tensor], RowGame]]


def random_case(n_players: int, n_samples: int, seed: int, p_available: float = 0.7) -> tuple[Tensor, Tensor]:
    """A random table game ``[2**M, N]`` and availability ``Bool[N, M]`` with no empty row."""
    generator = torch.Generator().manual_seed(seed)
    table = torch.randn(2**n_players, n_samples, generator=generator, dtype=torch.float64)
    available = torch.rand(n_samples, n_players, generator=generator) < p_available
    available[torch.arange(n_samples), torch.randint(0, n_players, (n_samples,), generator=generator)] = True
    return table, available


@pytest.mark.parametrize("n_players", range(1, 9))
@pytest.mark.parametrize("form", ["dense", "rows"])
def test_matches_textbook_formula_with_all_players(
    n_players: int, form: str, brute_force: BruteForce, table_games: TableGames
) -> None:
    table, _ = random_case(n_players, 4, seed=n_players)
    dense, rows = table_games(table)
    result = exact(dense if form == "dense" else rows, n_players)
    full = torch.ones(4, n_players, dtype=torch.bool)
    torch.testing.assert_close(result.values, brute_force(table, full), rtol=0, atol=1e-12)
    torch.testing.assert_close(result.base, table[0])
    torch.testing.assert_close(result.grand, table[-1])


@pytest.mark.parametrize("n_players", range(1, 9))
@pytest.mark.parametrize("form", ["dense", "rows"])
def test_matches_textbook_formula_on_each_samples_own_players(
    n_players: int, form: str, brute_force: BruteForce, table_games: TableGames
) -> None:
    table, available = random_case(n_players, 6, seed=100 + n_players)
    dense, rows = table_games(table)
    result = exact(dense if form == "dense" else rows, n_players, available=available)
    torch.testing.assert_close(result.values, brute_force(table, available), rtol=0, atol=1e-12)
    assert torch.all(result.values[~available] == 0)
    players_bits = (available.long() * 2 ** torch.arange(n_players)).sum(-1)
    torch.testing.assert_close(result.grand, table[players_bits, torch.arange(6)])


def test_availability_equals_the_explicitly_restricted_game(brute_force: BruteForce) -> None:
    """Sample i's values are those of a smaller game on its own players, re-indexed 0..n_i-1."""
    n_players = 6
    table, available = random_case(n_players, 5, seed=7, p_available=0.5)
    result = exact(
        RowGame(lambda s, c: table[(c.long() * 2 ** torch.arange(n_players)).sum(-1), s]),
        n_players,
        available=available,
    )
    for i in range(5):
        players = available[i].nonzero().flatten().tolist()
        n = len(players)
        restricted = torch.empty(2**n, 1, dtype=torch.float64)
        for small in range(2**n):
            large = sum(1 << players[b] for b in range(n) if small >> b & 1)
            restricted[small, 0] = table[large, i]
        expected = brute_force(restricted, torch.ones(1, n, dtype=torch.bool))[0]
        torch.testing.assert_close(result.values[i, players], expected, rtol=0, atol=1e-12)


def test_each_form_costs_what_it_should(table_games: TableGames) -> None:
    """Row-wise: 2**|A_i| rows per sample. Dense: every coalition within some sample's players, for all N."""
    table, available = random_case(8, 10, seed=3, p_available=0.5)
    dense, rows = table_games(table)
    assert exact(rows, 8, available=available).n_evals == int((2 ** available.sum(1)).sum())
    needed = set()
    for players in available.tolist():
        own = [j for j, present in enumerate(players) if present]
        for mask in range(2 ** len(own)):
            needed.add(sum(1 << own[b] for b in range(len(own)) if mask >> b & 1))
    assert len(needed) < 256
    assert exact(dense, 8, available=available).n_evals == len(needed) * 10


def test_refuses_counts_past_int64_instead_of_returning_zeros() -> None:
    with pytest.raises(ValueError, match=r"past what int64 indices count"):
        exact(
            RowGame(lambda s, c: c.double().sum(-1)), 62, available=torch.ones(2, 62, dtype=torch.bool), max_players=62
        )


@pytest.mark.parametrize("form", ["dense", "rows"])
@pytest.mark.parametrize("max_batch", [1, 7, 64])
def test_chunking_changes_calls_not_values(form: str, max_batch: int, table_games: TableGames) -> None:
    table, available = random_case(5, 6, seed=11)
    dense, rows = table_games(table)
    game = dense if form == "dense" else rows
    whole = exact(game, 5, available=available)
    chunked = exact(game, 5, available=available, max_batch=max_batch)
    torch.testing.assert_close(chunked.values, whole.values, rtol=0, atol=1e-12)
    assert chunked.n_evals == whole.n_evals
    assert chunked.n_calls >= whole.n_calls
    per_call = max(1, max_batch // 6) if form == "dense" else max_batch
    assert chunked.n_calls == -(-(whole.n_evals // (6 if form == "dense" else 1)) // per_call)


def late_fusion_game(n_players: int, n_samples: int, seed: int) -> tuple[Callable[[Tensor], Tensor], list[Tensor]]:
    """A float32 two-layer head over M modalities of 8 features; absent modalities zeroed."""
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(n_samples, n_players, 8, generator=generator)
    hidden = torch.randn(n_players * 8, 16, generator=generator, requires_grad=True)
    out = torch.randn(16, 3, generator=generator, requires_grad=True)
    target = torch.randint(0, 3, (n_samples,), generator=generator)

    def game(coalitions: Tensor) -> Tensor:
        masked = features[None] * coalitions[:, None, :, None]  # [coalition, sample, modality, feature]
        logits = torch.tanh(masked.flatten(2) @ hidden) @ out  # [coalition, sample, class]
        return logits.gather(-1, target.expand(coalitions.shape[0], -1)[..., None]).squeeze(-1)

    return game, [hidden, out]


def test_a_float32_game_gets_float32_values_summed_in_float64() -> None:
    game, _ = late_fusion_game(6, 64, seed=0)
    result = exact(game, 6)
    for tensor in (result.values, result.std, result.base, result.grand):
        assert tensor.dtype == torch.float32
    # the same float32 game values, summed in float64 and cast once: equal to the last float32 bit or so
    in_float64 = exact(lambda coalitions: game(coalitions).double(), 6)
    assert in_float64.values.dtype == torch.float64
    torch.testing.assert_close(result.values, in_float64.values.float(), rtol=1e-6, atol=1e-6)
    assert in_float64.efficiency_gap.abs().max() <= 1e-12
    assert result.efficiency_gap.abs().max() <= 1e-5  # float32 rounding of the returned values only


def test_gradients_flow_through_the_game() -> None:
    game, parameters = late_fusion_game(4, 5, seed=1)
    result = exact(game, 4)
    via_values = torch.autograd.grad(result.values.sum(), parameters, retain_graph=True)
    # Efficiency makes sum(values) the same function of the parameters as grand - base.
    via_efficiency = torch.autograd.grad((result.grand - result.base).sum(), parameters)
    for grad, expected in zip(via_values, via_efficiency, strict=True):
        assert grad.abs().sum() > 0
        torch.testing.assert_close(grad, expected, rtol=1e-5, atol=1e-5)


def test_gradcheck_in_float64() -> None:
    generator = torch.Generator().manual_seed(2)
    scores = torch.randn(3, 3, dtype=torch.float64, generator=generator, requires_grad=True)
    available = torch.tensor([[True, True, True], [True, False, True], [False, True, False]])

    def values(weights: Tensor) -> Tensor:
        def game(coalitions: Tensor) -> Tensor:
            return torch.tanh(coalitions.double() @ weights)  # [coalition, sample]

        return exact(game, 3, available=available).values

    assert torch.autograd.gradcheck(values, (scores,))


def test_nan_on_a_needed_coalition_names_the_sample(table_games: TableGames) -> None:
    table, available = random_case(4, 6, seed=5)
    table = table.clone()
    table[0, 4] = float("nan")  # the empty coalition of sample 4
    dense, rows = table_games(table)
    for game in (dense, rows):
        with pytest.raises(ValueError, match=r"NaN or inf for samples \[4\] \(1 in total\)"):
            exact(game, 4, available=available)


def test_nan_on_a_coalition_no_sample_needs_is_ignored(table_games: TableGames) -> None:
    table, _ = random_case(3, 2, seed=6)
    table = table.clone()
    available = torch.tensor([[True, False, False], [True, True, False]])
    table[0b100, :] = float("inf")  # player 2 is nobody's
    table[0b011, 0] = float("nan")  # sample 0 lacks player 1
    dense, _ = table_games(table)
    assert torch.isfinite(exact(dense, 3, available=available).values).all()


def test_too_many_players_names_the_alternative() -> None:
    with pytest.raises(ValueError, match=r"permutation"):
        exact(RowGame(lambda s, c: c.double().sum(-1), n_samples=2), 12, max_players=10)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"n_players": 0}, ValueError, r"n_players must be >= 1 and <= 62; got 0"),
        ({"n_players": True}, TypeError, r"n_players must be an int; got bool"),
        ({"n_players": 63}, ValueError, r"got 63"),
        ({"max_batch": 0}, ValueError, r"max_batch must be >= 1; got 0"),
        ({"available": torch.ones(2, 3)}, TypeError, r"dtype torch.bool .* got torch.float32"),
        ({"available": torch.ones(2, 4, dtype=torch.bool)}, ValueError, r"\[N >= 1, 3\]; got \[2, 4\]"),
        ({"available": torch.ones(0, 3, dtype=torch.bool)}, ValueError, r"got \[0, 3\]"),
        (
            {"available": torch.tensor([[True] * 3, [False] * 3, [False] * 3])},
            ValueError,
            r"rows \[1, 2\] \(2 in total\) have none",
        ),
    ],
)
def test_bad_arguments_say_what_was_expected(kwargs: dict[str, object], error: type[Exception], message: str) -> None:
    arguments: dict[str, object] = {"n_players": 3, **kwargs}
    with pytest.raises(error, match=message):
        exact(lambda c: c.double().sum(-1, keepdim=True).expand(-1, 2), **arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("game", "error", "message"),
    [
        (lambda c: c.double().sum(-1), ValueError, r"dense game returned shape \[\d+\]; expected \[\d+, 2\]"),
        (
            lambda c: c.long().sum(-1, keepdim=True).expand(-1, 2),
            TypeError,
            r"floating-point values; got dtype torch.int64",
        ),
        (lambda c: [0.0], TypeError, r"must return a torch.Tensor; got list"),
        (RowGame(lambda s, c: c.double()), ValueError, r"row-wise game returned shape \[\d+, 3\]; expected \[\d+\]"),
    ],
)
def test_bad_game_output_says_what_was_expected(game: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        exact(game, 3, available=torch.ones(2, 3, dtype=torch.bool))  # type: ignore[arg-type]


def test_row_game_without_availability_needs_its_size() -> None:
    with pytest.raises(ValueError, match=r"n_samples"):
        exact(RowGame(lambda s, c: c.double().sum(-1)), 3)
    with pytest.raises(ValueError, match=r"RowGame n_samples must be >= 1; got 0"):
        RowGame(lambda s, c: c.double().sum(-1), n_samples=0)
