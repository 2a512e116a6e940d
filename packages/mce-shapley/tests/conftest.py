"""Independent references for the tests: the textbook Shapley formula and table-backed games."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import pytest
import torch
from torch import Tensor

from mce_shapley import RowGame

BruteForce = Callable[[Tensor, Tensor], Tensor]
TableGames = Callable[[Tensor], tuple[Callable[[Tensor], Tensor], RowGame]]


def _brute_force(table: Tensor, available: Tensor) -> Tensor:
    """Shapley values by the paper's Eq. 1, in Python floats, over each sample's own players.

    Args:
        table: ``[2**M, N]``, ``table[b, i]`` the value of coalition bitmask ``b`` for sample ``i``.
        available: ``Bool[N, M]``.
    """
    n_samples, n_players = available.shape
    out = torch.zeros(n_samples, n_players, dtype=torch.float64)
    for i in range(n_samples):
        players = [j for j in range(n_players) if available[i, j]]
        n = len(players)
        for j in players:
            others = [k for k in players if k != j]
            total = 0.0
            for size in range(n):
                weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
                for subset in itertools.combinations(others, size):
                    before = sum(1 << k for k in subset)
                    total += weight * (float(table[before | (1 << j), i]) - float(table[before, i]))
            out[i, j] = total
    return out


def _brute_force_banzhaf(table: Tensor, available: Tensor) -> Tensor:
    """Banzhaf values by their definition, in Python floats, over each sample's own players."""
    n_samples, n_players = available.shape
    out = torch.zeros(n_samples, n_players, dtype=torch.float64)
    for i in range(n_samples):
        players = [j for j in range(n_players) if available[i, j]]
        for j in players:
            others = [k for k in players if k != j]
            total = 0.0
            for size in range(len(others) + 1):
                for subset in itertools.combinations(others, size):
                    before = sum(1 << k for k in subset)
                    total += float(table[before | (1 << j), i]) - float(table[before, i])
            out[i, j] = total / 2 ** len(others)
    return out


def _brute_force_interactions(table: Tensor, available: Tensor) -> Tensor:
    """The pairwise Shapley interaction index by its definition (discrete derivatives), in Python floats."""
    n_samples, n_players = available.shape
    out = torch.zeros(n_samples, n_players, n_players, dtype=torch.float64)
    for i in range(n_samples):
        players = [j for j in range(n_players) if available[i, j]]
        n = len(players)
        for j, k in itertools.combinations(players, 2):
            others = [p for p in players if p not in (j, k)]
            total = 0.0
            for size in range(n - 1):
                weight = math.factorial(size) * math.factorial(n - size - 2) / math.factorial(n - 1)
                for subset in itertools.combinations(others, size):
                    s = sum(1 << p for p in subset)
                    jk, sj, sk = s | (1 << j) | (1 << k), s | (1 << j), s | (1 << k)
                    derivative = float(table[jk, i]) - float(table[sj, i]) - float(table[sk, i]) + float(table[s, i])
                    total += weight * derivative
            out[i, j, k] = out[i, k, j] = total
    return out


def _bits(coalitions: Tensor) -> Tensor:
    powers = 2 ** torch.arange(coalitions.shape[-1], device=coalitions.device)
    return (coalitions.long() * powers).sum(-1)


def _table_games(table: Tensor) -> tuple[Callable[[Tensor], Tensor], RowGame]:
    """The dense and the row-wise form of the game ``v_i(b) = table[b, i]``."""

    def dense(coalitions: Tensor) -> Tensor:
        return table[_bits(coalitions)]

    def rows(samples: Tensor, coalitions: Tensor) -> Tensor:
        return table[_bits(coalitions), samples]

    return dense, RowGame(rows, n_samples=table.shape[1])


@pytest.fixture(scope="session")
def brute_force() -> BruteForce:
    return _brute_force


@pytest.fixture(scope="session")
def brute_force_banzhaf() -> BruteForce:
    return _brute_force_banzhaf


@pytest.fixture(scope="session")
def brute_force_interactions() -> BruteForce:
    return _brute_force_interactions


@pytest.fixture(scope="session")
def table_games() -> TableGames:
    return _table_games
