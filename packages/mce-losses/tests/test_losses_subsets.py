"""S_batch and N_S (Eq. 10), the pair batch, and Shapley values on it (Eq. 5), against brute force."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mce_losses import (
    all_subsets,
    batch_subsets,
    pair_features,
    shapley_from_pairs,
    subset_codes,
    subset_pairs,
)


def _random_presence(n: int, m: int, seed: int, rate: float = 0.5) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    present = torch.rand(n, m, generator=generator) < rate
    empty = ~present.any(dim=1)
    present[empty, torch.randint(0, m, (int(empty.sum()),), generator=generator)] = True
    return present


def _brute_force_subsets(present: torch.Tensor, include_full: bool) -> tuple[list[tuple[int, ...]], list[list[int]]]:
    """Eq. 10 by Python loops: subsets as sorted modality tuples in bit-code order, and N_S for each."""
    n_samples, n_modalities = present.shape
    available = [{m for m in range(n_modalities) if present[n, m]} for n in range(n_samples)]
    subsets, feasible = [], []
    for code in range(1, 2**n_modalities):
        subset = {m for m in range(n_modalities) if code >> m & 1}
        samples = [n for n in range(n_samples) if subset <= available[n] and (include_full or subset != available[n])]
        if samples:
            subsets.append(tuple(sorted(subset)))
            feasible.append(samples)
    return subsets, feasible


def _as_tuples(masks: torch.Tensor) -> list[tuple[int, ...]]:
    return [tuple(int(m) for m in row.nonzero().flatten()) for row in masks]


@pytest.mark.parametrize("include_full", [True, False])
@pytest.mark.parametrize(("n", "m", "seed"), [(1, 1, 0), (7, 3, 1), (12, 4, 2), (30, 5, 3), (9, 6, 4)])
def test_batch_subsets_match_brute_force(n: int, m: int, seed: int, include_full: bool) -> None:
    present = _random_presence(n, m, seed)
    subsets, feasible = batch_subsets(present, include_full=include_full)
    expected_subsets, expected_feasible = _brute_force_subsets(present, include_full)
    assert _as_tuples(subsets) == expected_subsets
    assert [row.nonzero().flatten().tolist() for row in feasible] == expected_feasible
    assert feasible.shape == (len(expected_subsets), n)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.integers(1, 5), st.integers(0, 2**31 - 1), st.booleans())
def test_subset_pairs_cover_each_feasible_pair_once(n: int, m: int, seed: int, include_full: bool) -> None:
    present = _random_presence(n, m, seed, rate=0.6)
    pairs = subset_pairs(present, include_full=include_full)
    expected = {
        (sample, tuple(sorted(subset)))
        for sample in range(n)
        for size in range(1, m + 1)
        for subset in itertools.combinations([k for k in range(m) if present[sample, k]], size)
        if include_full or size < int(present[sample].sum())
    }
    rows = list(zip(pairs.sample_index.tolist(), _as_tuples(pairs.keep), strict=True))
    assert len(rows) == len(set(rows)) == pairs.n_pairs
    assert set(rows) == expected
    # keep is the subset row, the drop mask is the rest of the sample's modalities
    torch.testing.assert_close(pairs.keep, pairs.subsets[pairs.subset_index])
    torch.testing.assert_close(pairs.keep | pairs.drop, present[pairs.sample_index])
    assert not (pairs.keep & pairs.drop).any()
    n_available = present.sum(dim=1)
    assert pairs.n_pairs == int((2**n_available - 1 - (0 if include_full else 1)).clamp_min(0).sum())


def test_rows_without_modalities_take_no_part() -> None:
    present = torch.tensor([[False, False], [True, False]])
    pairs = subset_pairs(present)
    assert pairs.sample_index.tolist() == [1]
    assert pairs.feasible[:, 0].sum() == 0


def test_all_subsets_and_codes() -> None:
    subsets = all_subsets(3)
    assert subsets.shape == (7, 3)
    assert subset_codes(subsets).tolist() == list(range(1, 8))
    with pytest.raises(ValueError, match="between 1 and 16 modalities"):
        all_subsets(17)
    with pytest.raises(ValueError, match="between 1 and 16 modalities"):
        batch_subsets(torch.ones(2, 17, dtype=torch.bool))


def test_pair_features_vector_and_spatial() -> None:
    present = torch.tensor([[True, True, False], [False, True, True]])
    pairs = subset_pairs(present)
    for shape in [(2, 3, 4), (2, 3, 2, 5, 5)]:
        features = torch.randn(*shape, requires_grad=True)
        rows = pair_features(features, pairs)
        assert rows.shape == (pairs.n_pairs, *shape[1:])
        for p in range(pairs.n_pairs):
            n = int(pairs.sample_index[p])
            for k in range(3):
                expected = features[n, k] if pairs.keep[p, k] else torch.zeros(shape[2:])
                torch.testing.assert_close(rows[p, k], expected)
        (grad,) = torch.autograd.grad(rows.sum(), features)
        # the modality no sample keeps in any row (absent) gets no gradient
        assert grad[0, 2].eq(0).all()
        assert grad[1, 0].eq(0).all()
    filled = pair_features(torch.zeros(2, 3, 1), pairs, fill=-1.0)
    assert filled[~pairs.keep].eq(-1.0).all()


def test_pair_features_rejects_mismatched_features() -> None:
    pairs = subset_pairs(torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"\[N, M, \.\.\.\] = \[2, 3, \.\.\.\].*got shape \[2, 4, 5\]"):
        pair_features(torch.zeros(2, 4, 5), pairs)


# --- Shapley values on the pair batch -------------------------------------------------------


def _brute_force_shapley(values: dict[tuple[int, tuple[int, ...]], float], present: torch.Tensor) -> torch.Tensor:
    """Eq. 5's summand by the textbook formula, per sample, over its own modalities; v(empty) = 0."""
    n_samples, n_modalities = present.shape
    out = torch.zeros(n_samples, n_modalities, dtype=torch.float64)
    for n in range(n_samples):
        players = [m for m in range(n_modalities) if present[n, m]]
        k = len(players)

        def v(coalition: tuple[int, ...], n: int = n) -> float:
            return values[(n, tuple(sorted(coalition)))] if coalition else 0.0

        for m in players:
            others = [j for j in players if j != m]
            for size in range(k):
                weight = math.factorial(size) * math.factorial(k - size - 1) / math.factorial(k)
                for subset in itertools.combinations(others, size):
                    out[n, m] += weight * (v((*subset, m)) - v(subset))
    return out


@pytest.mark.parametrize(("n", "m", "seed"), [(5, 2, 0), (10, 3, 1), (8, 4, 2), (6, 5, 3)])
def test_shapley_from_pairs_matches_textbook_formula(n: int, m: int, seed: int) -> None:
    present = _random_presence(n, m, seed, rate=0.7)
    pairs = subset_pairs(present)
    generator = torch.Generator().manual_seed(seed + 100)
    pair_values = torch.rand(pairs.n_pairs, generator=generator, dtype=torch.float64)
    table = {
        (int(s), subset): float(v)
        for s, subset, v in zip(pairs.sample_index, _as_tuples(pairs.keep), pair_values, strict=True)
    }
    phi = shapley_from_pairs(pair_values, pairs)
    torch.testing.assert_close(phi, _brute_force_shapley(table, present))
    # efficiency: the values of a sample add up to v(M_n) - v(empty)
    full = pairs.drop.sum(dim=1) == 0
    grand = torch.zeros(n, dtype=torch.float64).index_add(0, pairs.sample_index[full], pair_values[full])
    torch.testing.assert_close(phi.sum(dim=1), grand)
    assert phi[~present].eq(0).all()


def test_shapley_empty_value_and_errors() -> None:
    present = torch.tensor([[True, True, False]])
    pairs = subset_pairs(present)  # {0}, {1}, {0, 1}
    values = torch.tensor([0.5, 0.25, 1.0])
    phi = shapley_from_pairs(values, pairs, empty_value=0.25)
    torch.testing.assert_close(phi.sum(), torch.tensor(0.75))  # v(M_n) - v(empty)
    torch.testing.assert_close(phi[0, :2], torch.tensor([0.5, 0.25]))  # symmetric split of the synergy
    with pytest.raises(ValueError, match="include_full=True"):
        shapley_from_pairs(torch.zeros(2), subset_pairs(present, include_full=False))
    with pytest.raises(ValueError, match=r"pair_values must have shape \[3\]"):
        shapley_from_pairs(torch.zeros(4), pairs)
