"""mce_shapley.permutation: unbiased, honest about its error, reproducible, batch-independent."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from mce_shapley import RowGame, ShapleyResult, exact, permutation


def _bits(coalitions: Tensor) -> Tensor:
    return (coalitions.long() * 2 ** torch.arange(coalitions.shape[-1])).sum(-1)


def table_case(n_players: int, n_samples: int, seed: int) -> tuple[Tensor, RowGame, Tensor]:
    """A random (non-additive) table game, its row form indexed by sample id, and availability."""
    generator = torch.Generator().manual_seed(seed)
    table = torch.randn(2**n_players, n_samples, generator=generator, dtype=torch.float64)
    available = torch.rand(n_samples, n_players, generator=generator) < 0.8
    available[:, 0] = True
    return table, RowGame(lambda s, c: table[_bits(c), s]), available


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_converges_to_exact() -> None:
    _table, game, available = table_case(8, 6, seed=0)
    truth = exact(game, 8, available=available).values
    errors, reported = [], []
    for n_permutations in (16, 256, 4096):
        result = permutation(
            game,
            8,
            available=available,
            n_permutations=n_permutations,
            permutations_per_round=256,
            exact_when_cheaper=False,
            generator=seeded(1),
        )
        errors.append(float((result.values - truth).pow(2).mean().sqrt()))
        reported.append(float(result.std.pow(2).mean().sqrt()))
    assert errors[0] > 2 * errors[1] > 4 * errors[2]  # about 1/sqrt(permutations)
    for error, std in zip(errors, reported, strict=True):
        assert 0.5 * std < error < 2 * std  # the standard errors describe the actual error


def test_confidence_intervals_cover_the_exact_values() -> None:
    """About 95% of the 95% intervals (value ± 1.96 std) contain the exact value."""
    _table, game, available = table_case(6, 500, seed=2)
    truth = exact(game, 6, available=available).values
    result = permutation(game, 6, available=available, n_permutations=64, exact_when_cheaper=False, generator=seeded(3))
    inside = (result.values - truth).abs() <= 1.96 * result.std + 1e-12
    coverage = float(inside[available].double().mean())
    assert 0.91 <= coverage <= 0.98, coverage


def test_antithetic_pairs_reduce_the_error() -> None:
    generator = torch.Generator().manual_seed(4)
    weights = torch.randn(300, 10, generator=generator, dtype=torch.float64)
    quadratic = torch.randn(300, generator=generator, dtype=torch.float64)

    def values(samples: Tensor, coalitions: Tensor) -> Tensor:  # additive plus a size effect
        return (weights[samples] * coalitions).sum(-1) + quadratic[samples] * coalitions.sum(-1).double() ** 2

    game = RowGame(values, n_samples=300)
    truth = exact(game, 10).values
    errors = {}
    for antithetic in (True, False):
        result = permutation(
            game, 10, n_permutations=32, antithetic=antithetic, exact_when_cheaper=False, generator=seeded(5)
        )
        errors[antithetic] = float((result.values - truth).pow(2).mean())
    assert errors[True] < 0.5 * errors[False]


def test_same_generator_state_same_values_other_state_other_values() -> None:
    _, game, available = table_case(7, 20, seed=6)
    first = permutation(game, 7, available=available, n_permutations=32, exact_when_cheaper=False, generator=seeded(7))
    again = permutation(game, 7, available=available, n_permutations=32, exact_when_cheaper=False, generator=seeded(7))
    other = permutation(game, 7, available=available, n_permutations=32, exact_when_cheaper=False, generator=seeded(8))
    assert torch.equal(first.values, again.values)
    assert torch.equal(first.std, again.std)
    assert not torch.equal(first.values, other.values)


def test_a_sample_gets_the_same_estimate_in_any_batch() -> None:
    _, game, available = table_case(7, 40, seed=9)

    def estimate(game: RowGame, available: Tensor, keys: Tensor | None = None) -> ShapleyResult:
        return permutation(
            game,
            7,
            available=available,
            sample_keys=keys,
            generator=seeded(10),
            n_permutations=128,
            exact_when_cheaper=False,
            tolerance=0.3,
            min_permutations=8,
            permutations_per_round=8,
        )

    whole = estimate(game, available)
    subset = torch.tensor([31, 2, 17, 5])
    inner = game.fn
    part = estimate(RowGame(lambda s, c: inner(subset[s], c)), available[subset], subset)
    assert torch.equal(part.values, whole.values[subset])
    assert torch.equal(part.std, whole.std[subset])
    assert torch.equal(part.n_permutations, whole.n_permutations[subset])
    assert (whole.n_permutations[subset] < 128).any()  # the tolerance stop took part
    assert (whole.n_permutations[subset] == 128).any()


@pytest.mark.parametrize("max_batch", [1, 13, 10_000])
def test_chunking_does_not_change_the_estimate(max_batch: int) -> None:
    _, game, available = table_case(7, 12, seed=11)
    whole = permutation(game, 7, available=available, n_permutations=32, generator=seeded(12), exact_when_cheaper=False)
    chunked = permutation(
        game,
        7,
        available=available,
        n_permutations=32,
        generator=seeded(12),
        exact_when_cheaper=False,
        max_batch=max_batch,
    )
    assert torch.equal(chunked.values, whole.values)
    assert chunked.n_evals == whole.n_evals


@pytest.mark.parametrize("max_batch", [16, 2**20])
@pytest.mark.parametrize("exact_when_cheaper", [False, True])
def test_a_dense_game_is_asked_about_each_coalition_once(max_batch: int, exact_when_cheaper: bool) -> None:
    """Across rounds, chunks and the exact switch, and including the probe when N is unknown."""
    table, _, _ = table_case(6, 12, seed=22)
    asked: list[int] = []

    def dense(coalitions: Tensor) -> Tensor:
        asked.extend(_bits(coalitions).tolist())
        return table[_bits(coalitions)]

    result = permutation(
        dense,
        6,
        n_permutations=32,
        permutations_per_round=8,
        max_batch=max_batch,
        exact_when_cheaper=exact_when_cheaper,
        generator=seeded(23),
    )
    assert len(asked) == len(set(asked))
    assert result.n_evals == len(asked) * 12


def test_splitting_samples_into_chunks_does_not_change_the_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    _, game, available = table_case(7, 30, seed=24)
    options = {"n_permutations": 32, "permutations_per_round": 8, "tolerance": 0.3, "min_permutations": 8}
    whole = permutation(game, 7, available=available, generator=seeded(25), exact_when_cheaper=False, **options)  # type: ignore[arg-type]
    monkeypatch.setattr("mce_shapley.permutation_shapley._WORK_ELEMENTS", 8 * 8 * 4)  # 4 samples per chunk
    split = permutation(game, 7, available=available, generator=seeded(25), exact_when_cheaper=False, **options)  # type: ignore[arg-type]
    assert split.n_calls > whole.n_calls
    assert torch.equal(split.values, whole.values)
    assert torch.equal(split.std, whole.std)
    assert torch.equal(split.n_permutations, whole.n_permutations)


def test_dense_and_row_forms_give_the_same_estimate() -> None:
    table, game, available = table_case(6, 9, seed=13)
    dense = permutation(
        lambda c: table[_bits(c)],
        6,
        available=available,
        n_permutations=16,
        exact_when_cheaper=False,
        generator=seeded(14),
    )
    rows = permutation(game, 6, available=available, n_permutations=16, exact_when_cheaper=False, generator=seeded(14))
    assert torch.equal(dense.values, rows.values)


def test_cache_never_pays_for_a_coalition_twice() -> None:
    """With 3 players there are 8 coalitions per sample, however many permutations are drawn."""
    _table, game, available = table_case(3, 10, seed=15)
    result = permutation(
        game, 3, available=available, n_permutations=200, exact_when_cheaper=False, generator=seeded(16)
    )
    assert result.n_evals <= int((2 ** available.sum(1)).sum())
    assert torch.all(result.n_permutations == 200)


def test_samples_the_budget_covers_are_solved_exactly() -> None:
    _table, game, available = table_case(8, 30, seed=17)
    available[:10, 3:] = False  # ten samples with at most 3 players
    truth = exact(game, 8, available=available).values
    result = permutation(game, 8, available=available, n_permutations=8, generator=seeded(18))
    n = available.sum(1)
    small = 2**n <= 8 * (n - 1) + 2  # n <= 5: the 8 permutations could visit every coalition
    assert small.sum() >= 10
    assert (~small).sum() >= 10
    torch.testing.assert_close(result.values[small], truth[small], rtol=0, atol=1e-12)
    assert torch.all(result.std[small] == 0)
    assert torch.all(result.n_permutations[small] == 0)
    assert torch.all(result.n_permutations[~small] == 8)


def test_tolerance_stops_each_sample_when_its_interval_is_narrow() -> None:
    generator = torch.Generator().manual_seed(19)
    noise = torch.rand(40, generator=generator, dtype=torch.float64) * (torch.arange(40) >= 20)
    table = torch.randn(2**8, 40, generator=generator, dtype=torch.float64) * noise
    weights = torch.randn(40, 8, generator=generator, dtype=torch.float64)

    def values(samples: Tensor, coalitions: Tensor) -> Tensor:  # additive for samples < 20
        return (weights[samples] * coalitions).sum(-1) + table[_bits(coalitions), samples]

    result = permutation(
        RowGame(values, n_samples=40),
        8,
        n_permutations=512,
        tolerance=0.05,
        min_permutations=16,
        permutations_per_round=16,
        exact_when_cheaper=False,
        generator=seeded(20),
    )
    assert torch.all(result.n_permutations[:20] == 16)  # zero variance: stop at the first check
    stopped = result.n_permutations < 512
    assert stopped[20:].any()
    assert (result.n_permutations[20:] > 16).any()
    half_width = 1.959963984540054 * result.std
    assert torch.all(half_width[stopped].amax(1) <= 0.05)


def test_nan_values_name_the_sample() -> None:
    table, _, available = table_case(6, 8, seed=21)
    table = table.clone()
    table[0, 5] = float("nan")
    game = RowGame(lambda s, c: table[_bits(c), s])
    with pytest.raises(ValueError, match=r"NaN or inf for samples \[5\]"):
        permutation(game, 6, available=available, n_permutations=8, exact_when_cheaper=False)
    with pytest.raises(ValueError, match=r"NaN or inf for samples \[5\]"):
        permutation(game, 6, available=available, n_permutations=64)  # solved exactly


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_permutations": 7}, r"n_permutations must be even with antithetic=True .* got 7"),
        ({"n_permutations": 2}, r"n_permutations must be >= 4; got 2"),
        ({"permutations_per_round": 3}, r"permutations_per_round must be even"),
        ({"tolerance": 0.0}, r"tolerance must be a positive number or None; got 0.0"),
        ({"confidence": 1.0}, r"confidence must lie strictly between 0 and 1; got 1.0"),
        (
            {"sample_keys": torch.arange(3)},
            r"sample_keys must be an int64 tensor of shape \[4\] .* got torch.int64 "
            r"tensor of shape \[3\]",
        ),
    ],
)
def test_bad_arguments_say_what_was_expected(kwargs: dict[str, object], message: str) -> None:
    game = RowGame(lambda s, c: c.double().sum(-1), n_samples=4)
    with pytest.raises(ValueError, match=message):
        permutation(game, 3, **kwargs)  # type: ignore[arg-type]
