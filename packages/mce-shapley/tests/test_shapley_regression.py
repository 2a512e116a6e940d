"""mce_shapley.regression: exact where the method says so, efficient, availability-aware, reproducible, honest."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor

from mce_shapley import RowGame, kernel, regression

BruteForce = Callable[[Tensor, Tensor], Tensor]
TableGames = Callable[[Tensor], tuple[Callable[[Tensor], Tensor], RowGame]]


def _bits(coalitions: Tensor) -> Tensor:
    return (coalitions.long() * 2 ** torch.arange(coalitions.shape[-1])).sum(-1)


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _unanimity_game(n_players: int, n_samples: int, max_order: int, seed: int) -> tuple[Tensor, Tensor]:
    """Sums of unanimity games of order <= max_order per sample: the table and the exact Shapley values."""
    generator = _seeded(seed)
    coalitions = torch.arange(2**n_players)
    table = torch.zeros(2**n_players, n_samples, dtype=torch.float64)
    phi = torch.zeros(n_samples, n_players, dtype=torch.float64)
    for i in range(n_samples):
        for _ in range(3 * n_players):
            size = int(torch.randint(1, max_order + 1, (), generator=generator))
            members = torch.randperm(n_players, generator=generator)[:size]
            coefficient = float(torch.randn((), generator=generator, dtype=torch.float64))
            mask = int((1 << members).sum())
            table[:, i] += coefficient * ((coalitions & mask) == mask).double()
            phi[i, members] += coefficient / size
    return table, phi


def _game(table: Tensor) -> RowGame:
    return RowGame(lambda samples, coalitions: table[_bits(coalitions), samples], n_samples=table.shape[1])


def test_games_up_to_order_four_are_exact_without_ridge() -> None:
    table, phi = _unanimity_game(10, 4, max_order=4, seed=0)
    result = regression(_game(table), 10, budget=400, ridge=0.0, exact_when_cheaper=False, generator=_seeded(1))
    torch.testing.assert_close(result.values, phi, rtol=0, atol=1e-9)
    assert result.n_evals <= 4 * 400


def test_order_one_is_exact_up_to_order_two_at_any_budget() -> None:
    table, phi = _unanimity_game(10, 3, max_order=2, seed=2)
    for budget in (26, 64, 300):
        result = regression(_game(table), 10, budget=budget, order=1, exact_when_cheaper=False, generator=_seeded(3))
        torch.testing.assert_close(result.values, phi, rtol=0, atol=1e-9)


def test_enumerating_every_coalition_gives_brute_force(table_games: TableGames, brute_force: BruteForce) -> None:
    """All strata enumerated: the kernel theorem makes the fit exact, ridge or not, with availability."""
    generator = _seeded(4)
    table = torch.randn(2**7, 8, generator=generator, dtype=torch.float64)
    available = torch.rand(8, 7, generator=generator) < 0.8
    available[:, :3] = True
    truth = brute_force(table, available)
    for game in table_games(table):
        for ridge in (0.0, 1.0):
            result = regression(
                game, 7, available=available, budget=2**7, ridge=ridge, exact_when_cheaper=False, generator=_seeded(5)
            )
            torch.testing.assert_close(result.values, truth, rtol=0, atol=1e-9)
            assert torch.all(result.std == 0)


def test_efficiency_availability_and_budget() -> None:
    generator = _seeded(6)
    table = torch.randn(2**11, 20, generator=generator, dtype=torch.float64)
    available = torch.rand(20, 11, generator=generator) < 0.8
    available[:, :6] = True
    result = regression(_game(table), 11, available=available, budget=100, generator=_seeded(7))
    assert result.efficiency_gap.abs().max() < 1e-9
    assert torch.all(result.values[~available] == 0)
    assert torch.all(result.std[~available] == 0)
    assert result.n_evals <= 20 * 100
    cheap = available.sum(1) <= 6  # 2**6 <= 100: solved exactly
    assert torch.all(result.n_permutations[cheap] == 0)
    assert torch.all(result.n_permutations[~cheap] > 0)


def test_reproducible_and_independent_of_the_batch() -> None:
    table, _ = _unanimity_game(10, 6, max_order=6, seed=8)
    keys = torch.arange(6) * 7 + 1
    together = regression(_game(table), 10, budget=200, generator=_seeded(9), sample_keys=keys)
    again = regression(_game(table), 10, budget=200, generator=_seeded(9), sample_keys=keys)
    assert torch.equal(together.values, again.values)
    alone = regression(
        RowGame(lambda s, c: table[_bits(c), s + 4], n_samples=1),
        10,
        budget=200,
        generator=_seeded(9),
        sample_keys=keys[4:5],
    )
    torch.testing.assert_close(alone.values[0], together.values[4], rtol=0, atol=1e-10)


def test_more_accurate_than_kernel_at_equal_evaluations() -> None:
    """High-order random games, 2**10 / 4 evaluations: the cubic terms must pay for themselves."""
    table, phi = _unanimity_game(10, 16, max_order=10, seed=10)
    ours = regression(_game(table), 10, budget=256, exact_when_cheaper=False, generator=_seeded(11))
    theirs = kernel(_game(table), 10, n_pairs=127, exact_when_cheaper=False, generator=_seeded(11))
    assert ours.n_evals <= 16 * 256  # equal budgets (kernel's repeats are free, so it may use fewer)
    assert theirs.n_evals <= 16 * 256
    ours_error = (ours.values - phi).pow(2).mean(dim=1)
    theirs_error = (theirs.values - phi).pow(2).mean(dim=1)
    assert float(ours_error.median()) < 0.7 * float(theirs_error.median())


def test_a_ridge_grid_gives_each_sample_one_of_its_fits() -> None:
    """Each sample's values are those of one fixed ridge of the grid, chosen per sample, not one for all."""
    low, _ = _unanimity_game(10, 6, max_order=3, seed=17)  # nearly no ridge is best
    high, _ = _unanimity_game(10, 6, max_order=10, seed=21)
    table = torch.cat([low, high], dim=1)
    grid = (0.01, 1.0, 100.0)
    chosen = regression(_game(table), 10, budget=200, ridge=grid, exact_when_cheaper=False, generator=_seeded(18))
    fixed = torch.stack(
        [
            regression(_game(table), 10, budget=200, ridge=r, exact_when_cheaper=False, generator=_seeded(18)).values
            for r in grid
        ]
    )  # [K, N, M]
    distance = (fixed - chosen.values).abs().amax(dim=-1)  # [K, N]
    assert torch.all(distance.amin(dim=0) < 1e-9)  # every sample matches one fit
    assert len(set(distance.argmin(dim=0).tolist())) > 1  # and the choice differs between samples
    assert chosen.efficiency_gap.abs().max() < 1e-9


def test_the_grid_picks_the_exact_fit_when_there_is_one() -> None:
    """Order-3 games: ridge 0 fits every row exactly (zero leave-one-out error), so the grid picks it."""
    table, phi = _unanimity_game(10, 4, max_order=3, seed=19)
    grid = (0.0, 30.0)
    chosen = regression(_game(table), 10, budget=300, ridge=grid, exact_when_cheaper=False, generator=_seeded(20))
    torch.testing.assert_close(chosen.values, phi, rtol=0, atol=1e-9)
    heavy = regression(_game(table), 10, budget=300, ridge=30.0, exact_when_cheaper=False, generator=_seeded(20))
    assert float((heavy.values - phi).abs().max()) > 1e-3  # the heavy ridge alone is not exact


def test_standard_errors_are_of_the_right_size() -> None:
    table, phi = _unanimity_game(10, 12, max_order=10, seed=12)
    result = regression(_game(table), 10, budget=600, ridge=0.0, exact_when_cheaper=False, generator=_seeded(13))
    ratio = float((result.values - phi).pow(2).mean().sqrt() / result.std.pow(2).mean().sqrt())
    assert 0.5 < ratio < 2.0


def test_float32_game_gets_float32_values() -> None:
    table, phi = _unanimity_game(9, 2, max_order=3, seed=14)
    game = RowGame(lambda s, c: table.float()[_bits(c), s], n_samples=2)
    result = regression(game, 9, budget=300, ridge=0.0, exact_when_cheaper=False, generator=_seeded(15))
    assert result.values.dtype == result.std.dtype == result.base.dtype == torch.float32
    torch.testing.assert_close(result.values, phi.float(), rtol=0, atol=1e-5)


def test_arguments_are_checked() -> None:
    table, _ = _unanimity_game(8, 1, max_order=2, seed=16)
    with pytest.raises(ValueError, match=r"budget must be >= 2 \* \|A_i\| \+ 6 = 22"):
        regression(_game(table), 8, available=torch.ones(1, 8, dtype=torch.bool), budget=20)
    with pytest.raises(ValueError, match="order"):
        regression(_game(table), 8, available=torch.ones(1, 8, dtype=torch.bool), order=2)
    for ridge in (-1.0, (), (1.0, float("nan")), "auto"):
        with pytest.raises(ValueError, match="ridge must be a finite number >= 0 or a non-empty sequence"):
            regression(_game(table), 8, available=torch.ones(1, 8, dtype=torch.bool), ridge=ridge)  # type: ignore[arg-type]
