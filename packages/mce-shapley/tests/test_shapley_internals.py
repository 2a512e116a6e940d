"""Building blocks against independent references: Philox known answers, subset enumeration, weights."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from mce_shapley._philox import philox4x32
from mce_shapley.coalitions import SubsetRows, bits_from_members, members_from_bits, shapley_weights
from mce_shapley.permutation_shapley import _orders, _Plan

# Random123's tests/kat_vectors, the three "philox4x32 10" lines: counter[4] key[2] -> result[4].
KNOWN_ANSWERS = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


@pytest.mark.parametrize(("counter", "key", "expected"), KNOWN_ANSWERS)
def test_philox_known_answers(counter: tuple[int, ...], key: tuple[int, int], expected: tuple[int, ...]) -> None:
    c0, c1, c2, c3 = (torch.tensor([c]) for c in counter)
    assert tuple(int(lane) for lane in philox4x32((c0, c1, c2, c3), key)) == expected


def test_bits_round_trip_and_subsets_are_enumerated_once() -> None:
    available = torch.tensor([[True, False, True, True], [False, True, False, False], [True] * 4])
    rows = SubsetRows(available)
    samples, bits = rows.take(0, rows.total)
    assert rows.total == 8 + 2 + 16
    for i in range(3):
        players = available[i].nonzero().flatten().tolist()
        expected = {
            sum(1 << p for p in subset)
            for r in range(len(players) + 1)
            for subset in itertools.combinations(players, r)
        }
        got = bits[samples == i].tolist()
        assert sorted(got) == sorted(expected)
    assert torch.equal(bits_from_members(members_from_bits(bits, 4)), bits)
    first, second = rows.take(0, 11), rows.take(11, rows.total)
    assert torch.equal(torch.cat([first[1], second[1]]), bits)


@pytest.mark.parametrize("n", range(1, 12))
def test_weights_make_each_players_coefficients_a_distribution(n: int) -> None:
    """sum_s C(n-1, s) w(s, n) = 1, and w matches s!(n-s-1)!/n!."""
    joined, left_out = shapley_weights(12, torch.device("cpu"))
    total = sum(math.comb(n - 1, s) * float(left_out[n, s]) for s in range(n))
    assert total == pytest.approx(1.0, abs=1e-12)
    for s in range(n):
        assert float(left_out[n, s]) == pytest.approx(math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n))
        assert float(joined[n, s + 1]) == float(left_out[n, s])


@pytest.mark.parametrize("antithetic", [False, True])
def test_orders_are_uniform_permutations_of_the_available_players(antithetic: bool) -> None:
    """Chi-square test of the 24 orders of 4 available players (and the unavailable one last)."""
    plan = _Plan(
        n_players=5,
        n_permutations=24_000,
        antithetic=antithetic,
        per_round=24_000,
        min_permutations=4,
        tolerance=None,
        z=1.96,
        seed=12345,
    )
    available = torch.tensor([[True, True, False, True, True]])
    orders = _orders(plan, torch.tensor([7]), available, 0, 24_000)[0]
    assert torch.all(orders[:, -1] == 2)
    counts: dict[tuple[int, ...], int] = {}
    for row in orders[:, :4].tolist():
        counts[tuple(row)] = counts.get(tuple(row), 0) + 1
    assert len(counts) == 24
    expected = 24_000 / 24
    chi_square = sum((c - expected) ** 2 / expected for c in counts.values())
    assert chi_square < 49.7  # the 0.999 quantile of chi-square with 23 degrees of freedom
    if antithetic:
        assert torch.equal(orders[12_000:, :4], orders[:12_000, :4].flip(-1))
