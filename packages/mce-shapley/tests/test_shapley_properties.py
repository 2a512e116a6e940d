"""The Shapley axioms as properties of mce_shapley.exact (and efficiency of permutation)."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor

from mce_shapley import RowGame, exact, permutation


def _bits(coalitions: Tensor) -> Tensor:
    return (coalitions.long() * 2 ** torch.arange(coalitions.shape[-1])).sum(-1)


def _game(table: Tensor) -> RowGame:
    return RowGame(lambda samples, coalitions: table[_bits(coalitions), samples])


@st.composite
def cases(draw: st.DrawFn) -> tuple[Tensor, Tensor]:
    """A random table game ``[2**M, N]`` and availability ``Bool[N, M]`` without empty rows."""
    n_players = draw(st.integers(1, 6))
    n_samples = draw(st.integers(1, 5))
    generator = torch.Generator().manual_seed(draw(st.integers(0, 2**31)))
    table = torch.randn(2**n_players, n_samples, generator=generator, dtype=torch.float64)
    available = torch.rand(n_samples, n_players, generator=generator) < draw(st.floats(0.2, 1.0))
    available[:, draw(st.integers(0, n_players - 1))] = True
    return table, available


@settings(max_examples=60, deadline=None)
@given(cases())
def test_efficiency(case: tuple[Tensor, Tensor]) -> None:
    table, available = case
    result = exact(_game(table), available.shape[1], available=available)
    players_bits = _bits(available)
    expected = table[players_bits, torch.arange(table.shape[1])] - table[0]
    torch.testing.assert_close(result.values.sum(1), expected, rtol=0, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(cases(), st.data())
def test_symmetry(case: tuple[Tensor, Tensor], data: st.DataObject) -> None:
    """Players j and k that are interchangeable in the game get equal values."""
    table, available = case
    n_players = available.shape[1]
    j, k = data.draw(st.integers(0, n_players - 1)), data.draw(st.integers(0, n_players - 1))
    bits = torch.arange(2**n_players)
    swapped = bits & ~((1 << j) | (1 << k)) | ((bits >> j) & 1) << k | ((bits >> k) & 1) << j
    symmetric = (table + table[swapped]) / 2
    both = available.clone()
    both[:, [j, k]] = True
    values = exact(_game(symmetric), n_players, available=both).values
    torch.testing.assert_close(values[:, j], values[:, k], rtol=0, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(cases(), st.data())
def test_null_player(case: tuple[Tensor, Tensor], data: st.DataObject) -> None:
    """A player whose joining never changes the value gets 0, whatever the others do."""
    table, available = case
    n_players = available.shape[1]
    null = data.draw(st.integers(0, n_players - 1))
    bits = torch.arange(2**n_players)
    table = table[bits & ~(1 << null)]  # v(S) = v(S without the null player)
    result = exact(_game(table), n_players, available=available)
    torch.testing.assert_close(
        result.values[:, null], torch.zeros(table.shape[1], dtype=torch.float64), rtol=0, atol=1e-12
    )


@settings(max_examples=60, deadline=None)
@given(cases(), st.floats(-3, 3), st.floats(-3, 3))
def test_linearity(case: tuple[Tensor, Tensor], a: float, b: float) -> None:
    table, available = case
    other = torch.flip(table, dims=[0]) ** 2
    n_players = available.shape[1]
    combined = exact(_game(a * table + b * other), n_players, available=available).values
    separate = (
        a * exact(_game(table), n_players, available=available).values
        + b * exact(_game(other), n_players, available=available).values
    )
    torch.testing.assert_close(combined, separate, rtol=1e-9, atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(cases(), st.integers(0, 2**31))
def test_permutation_estimates_are_efficient_too(case: tuple[Tensor, Tensor], seed: int) -> None:
    """Each permutation's marginal contributions telescope to grand - base."""
    table, available = case
    result = permutation(
        _game(table),
        available.shape[1],
        available=available,
        n_permutations=8,
        min_permutations=4,
        exact_when_cheaper=False,
        generator=torch.Generator().manual_seed(seed),
    )
    assert result.efficiency_gap.abs().max() <= 1e-12
    assert torch.all(result.values[~available] == 0)
