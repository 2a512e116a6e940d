"""Banzhaf values and pairwise Shapley interactions: brute force, the axioms, availability, Monte Carlo honesty."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor

from mce_shapley import RowGame, banzhaf, banzhaf_exact, exact, interactions

BruteForce = Callable[[Tensor, Tensor], Tensor]
TableGames = Callable[[Tensor], tuple[Callable[[Tensor], Tensor], RowGame]]


def _bits(coalitions: Tensor) -> Tensor:
    return (coalitions.long() * 2 ** torch.arange(coalitions.shape[-1])).sum(-1)


def _case(n_players: int, n_samples: int, seed: int, p: float = 0.7) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    table = torch.randn(2**n_players, n_samples, generator=generator, dtype=torch.float64)
    available = torch.rand(n_samples, n_players, generator=generator) < p
    available[:, 0] = True
    available[0] = True
    return table, available


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_exact_banzhaf_matches_brute_force(table_games: TableGames, brute_force_banzhaf: BruteForce) -> None:
    table, available = _case(6, 12, seed=0)
    truth = brute_force_banzhaf(table, available)
    for game in table_games(table):
        result = banzhaf_exact(game, 6, available=available)
        torch.testing.assert_close(result.values, truth, rtol=0, atol=1e-12)
        assert torch.all(result.values[~available] == 0)


def test_interactions_match_brute_force(table_games: TableGames, brute_force_interactions: BruteForce) -> None:
    table, available = _case(6, 10, seed=1)
    truth = brute_force_interactions(table, available)
    for game in table_games(table):
        result = interactions(game, 6, available=available, max_batch=7)
        torch.testing.assert_close(result.values, truth, rtol=0, atol=1e-12)
        assert torch.all(result.values == result.values.transpose(1, 2))
        lacking = ~(available[:, :, None] & available[:, None, :])
        assert torch.all(result.values[lacking] == 0)


@st.composite
def _tables(draw: st.DrawFn) -> tuple[Tensor, Tensor]:
    n_players = draw(st.integers(2, 5))
    generator = _seeded(draw(st.integers(0, 2**31)))
    table = torch.randn(2**n_players, 3, generator=generator, dtype=torch.float64)
    available = torch.rand(3, n_players, generator=generator) < draw(st.floats(0.3, 1.0))
    available[:, :2] = True
    return table, available


def _game(table: Tensor) -> RowGame:
    return RowGame(lambda samples, coalitions: table[_bits(coalitions), samples])


@settings(max_examples=15, deadline=None)
@given(_tables(), st.integers(0, 2**31))
def test_linearity(case: tuple[Tensor, Tensor], seed: int) -> None:
    table, available = case
    n = available.shape[1]
    other = torch.randn(table.shape, generator=_seeded(seed), dtype=torch.float64)
    for method in (banzhaf_exact, interactions):
        together = method(_game(2.0 * table - 3.0 * other), n, available=available).values
        apart = 2.0 * method(_game(table), n, available=available).values
        apart = apart - 3.0 * method(_game(other), n, available=available).values
        torch.testing.assert_close(together, apart, rtol=0, atol=1e-11)


@settings(max_examples=15, deadline=None)
@given(_tables())
def test_null_player_and_symmetry(case: tuple[Tensor, Tensor]) -> None:
    """Player 1 never matters (null); in the second game, players 0 and 1 can be exchanged (symmetric)."""
    table, available = case
    n = available.shape[1]
    coalitions = torch.arange(2**n)
    without_1 = coalitions & ~2
    null_table = table[without_1]
    swapped = ((coalitions & 1) << 1) | ((coalitions >> 1) & 1) | (coalitions & ~3)
    symmetric_table = table + table[swapped]
    null_banzhaf = banzhaf_exact(_game(null_table), n, available=available).values
    null_pairs = interactions(_game(null_table), n, available=available).values
    assert null_banzhaf[:, 1].abs().max() < 1e-12
    assert null_pairs[:, 1].abs().max() < 1e-12
    symmetric = banzhaf_exact(_game(symmetric_table), n, available=available).values
    torch.testing.assert_close(symmetric[:, 0], symmetric[:, 1], rtol=0, atol=1e-12)
    pairs = interactions(_game(symmetric_table), n, available=available).values
    if n > 2:
        torch.testing.assert_close(pairs[:, 0, 2:], pairs[:, 1, 2:], rtol=0, atol=1e-12)


def test_known_games() -> None:
    """x0 x1 (pure pairwise): I_01 = 1 and beta = 1/2 each; an additive game: no interaction, beta = weights."""
    pair = interactions(lambda c: (c[:, 0] & c[:, 1]).double()[:, None], 4)
    expected = torch.zeros(1, 4, 4, dtype=torch.float64)
    expected[0, 0, 1] = expected[0, 1, 0] = 1.0
    torch.testing.assert_close(pair.values, expected, rtol=0, atol=1e-12)
    weights = torch.tensor([[0.5, -1.0, 2.0, 3.0]], dtype=torch.float64)
    additive = lambda c: c.double() @ weights.T  # noqa: E731
    assert interactions(additive, 4).values.abs().max() < 1e-12
    torch.testing.assert_close(banzhaf_exact(additive, 4).values, weights, rtol=0, atol=1e-12)
    half = banzhaf_exact(lambda c: (c[:, 0] & c[:, 1]).double()[:, None], 4).values
    torch.testing.assert_close(half, torch.tensor([[0.5, 0.5, 0.0, 0.0]], dtype=torch.float64), rtol=0, atol=1e-12)


def test_interactions_of_a_sample_are_those_of_its_restricted_game(brute_force_interactions: BruteForce) -> None:
    """Availability is the null-player identity: same as the game on the sample's own players only."""
    table, available = _case(5, 6, seed=2)
    n = 5
    coalitions = torch.arange(2**n)
    restricted = torch.stack([table[coalitions & int(_bits(available[i])), i] for i in range(6)], dim=1)
    everyone = torch.ones_like(available)
    full = interactions(_game(restricted), n, available=everyone).values
    masked = interactions(_game(table), n, available=available).values
    torch.testing.assert_close(masked, full, rtol=0, atol=1e-12)


def test_values_are_in_the_game_dtype() -> None:
    weights = torch.tensor([[1.0, 2.0, 3.0]])
    game = lambda c: c.float() @ weights.T + (c[:, 0] & c[:, 2]).float()[:, None]  # noqa: E731
    assert banzhaf_exact(game, 3).values.dtype == torch.float32
    assert interactions(game, 3).values.dtype == torch.float32
    assert banzhaf(game, 3, n_pairs=2, exact_when_cheaper=False, generator=_seeded(0)).values.dtype == torch.float32


def test_monte_carlo_banzhaf_is_unbiased_and_its_errors_are_honest(brute_force_banzhaf: BruteForce) -> None:
    table, available = _case(8, 40, seed=3, p=0.9)
    truth = brute_force_banzhaf(table, available)
    result = banzhaf(_game(table), 8, available=available, n_pairs=200, exact_when_cheaper=False, generator=_seeded(4))
    z = ((result.values - truth) / result.std)[available]
    assert 0.8 < float(z.pow(2).mean().sqrt()) < 1.25  # standard errors match the errors
    assert abs(float(z.mean())) < 0.2  # no bias
    assert torch.all(result.values[~available] == 0)
    assert torch.all(result.n_permutations == 200)
    assert result.n_evals <= 40 * (2 * 200 + 2)


def test_monte_carlo_banzhaf_exact_when_cheaper_and_batch_independent(brute_force_banzhaf: BruteForce) -> None:
    table, available = _case(7, 16, seed=5, p=0.5)
    truth = brute_force_banzhaf(table, available)
    result = banzhaf(_game(table), 7, available=available, n_pairs=16, generator=_seeded(6))
    cheap = available.sum(1) <= 5  # 2**5 <= 2 * 16
    torch.testing.assert_close(result.values[cheap], truth[cheap], rtol=0, atol=1e-12)
    assert torch.all(result.std[cheap] == 0)
    keys = torch.arange(16) + 100
    alone = banzhaf(
        RowGame(lambda s, c: table[_bits(c), s + 3]),
        7,
        available=available[3:4],
        n_pairs=16,
        generator=_seeded(6),
        sample_keys=keys[3:4],
    )
    together = banzhaf(_game(table), 7, available=available, n_pairs=16, generator=_seeded(6), sample_keys=keys)
    torch.testing.assert_close(alone.values[0], together.values[3], rtol=0, atol=1e-12)


def test_banzhaf_and_shapley_agree_for_two_players() -> None:
    """With two players every coalition weighs 1/2 under both values."""
    table, available = _case(2, 5, seed=7, p=1.0)
    torch.testing.assert_close(
        banzhaf_exact(_game(table), 2, available=available).values,
        exact(_game(table), 2, available=available).values,
        rtol=0,
        atol=1e-12,
    )


def test_arguments_are_checked() -> None:
    game = lambda c: c.double().sum(-1, keepdim=True)  # noqa: E731
    with pytest.raises(ValueError, match="n_pairs"):
        banzhaf(game, 3, n_pairs=1)
    with pytest.raises(ValueError, match="max_players"):
        interactions(game, 3, max_players=2)


def test_against_shapiq_exact_computer() -> None:
    """The same games through shapiq's ExactComputer (SII of order 2, Banzhaf); skipped without shapiq."""
    shapiq = pytest.importorskip("shapiq")
    table, _ = _case(6, 3, seed=8, p=1.0)
    for i in range(3):
        column = table[:, i]

        def game(coalitions: Any, column: Tensor = column) -> Any:
            rows = torch.as_tensor(coalitions).reshape(-1, 6).long()
            return column[(rows << torch.arange(6)).sum(-1)].numpy()

        computer = shapiq.ExactComputer(game, n_players=6)
        sii = computer("SII", 2)
        bv = computer("BV", 1)
        ours = interactions(_game(table[:, i : i + 1]), 6).values[0]
        ours_bv = banzhaf_exact(_game(table[:, i : i + 1]), 6).values[0]
        for j in range(6):
            assert abs(float(bv[(j,)]) - float(ours_bv[j])) < 1e-10
            for k in range(j + 1, 6):
                assert abs(float(sii[(j, k)]) - float(ours[j, k])) < 1e-10
