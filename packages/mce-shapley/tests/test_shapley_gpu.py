"""CUDA: the same values as on the CPU, and a chunk loop free of host synchronisation."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from mce_shapley import RowGame, banzhaf, banzhaf_exact, exact, interactions, permutation, regression
from mce_shapley.availability import Availability
from mce_shapley.banzhaf import InteractionSums, accumulate_interactions
from mce_shapley.coalitions import SubsetRows, banzhaf_weights
from mce_shapley.exact_shapley import ShapleySums, accumulate_dense, accumulate_rows, needed_coalitions
from mce_shapley.games import RowEvaluator

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def _case(device: str) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(0)
    table = torch.randn(2**6, 50, generator=generator, dtype=torch.float64)
    available = torch.rand(50, 6, generator=generator) < 0.7
    available[:, 0] = True
    return table.to(device), available.to(device)


def _bits(coalitions: Tensor) -> Tensor:
    return (coalitions.long() * 2 ** torch.arange(coalitions.shape[-1], device=coalitions.device)).sum(-1)


def test_cuda_matches_cpu() -> None:
    for estimator in ("exact", "permutation"):
        results = []
        for device in ("cpu", "cuda"):
            table, available = _case(device)
            game = RowGame(lambda s, c, t=table: t[_bits(c), s])  # type: ignore[misc]
            if estimator == "exact":
                results.append(exact(game, 6, available=available).values.cpu())
            else:
                results.append(
                    permutation(
                        game,
                        6,
                        available=available,
                        n_permutations=16,
                        exact_when_cheaper=False,
                        generator=torch.Generator().manual_seed(1),
                    ).values.cpu()
                )
        torch.testing.assert_close(results[1], results[0], rtol=0, atol=1e-12)


def test_exact_chunk_loops_never_synchronise() -> None:
    """The library's own chunk loops, run under CUDA's sync debugger set to raise."""
    table, available = _case("cuda")
    players = Availability.check(available, 6)
    rows = SubsetRows(available)
    dense_sums, row_sums = ShapleySums(players), ShapleySums(players)
    evaluate = RowEvaluator(RowGame(lambda s, c: table[_bits(c), s]), players, max_batch=64)
    coalitions = needed_coalitions(players.bits, 6)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        accumulate_rows(evaluate, rows, row_sums, max_batch=64)
        accumulate_dense(lambda c: table[_bits(c)], coalitions, dense_sums, per_call=5)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    torch.testing.assert_close(row_sums.values, dense_sums.values, rtol=0, atol=1e-12)


def test_new_estimators_match_the_cpu() -> None:
    results: dict[str, list[Tensor]] = {}
    for device in ("cpu", "cuda"):
        table, available = _case(device)
        game = RowGame(lambda s, c, t=table: t[_bits(c), s])  # type: ignore[misc]
        seeded = torch.Generator().manual_seed(2)
        for name, values in (
            ("banzhaf_exact", banzhaf_exact(game, 6, available=available).values),
            ("interactions", interactions(game, 6, available=available).values),
            (
                "banzhaf",
                banzhaf(game, 6, available=available, n_pairs=8, exact_when_cheaper=False, generator=seeded).values,
            ),
            ("regression", regression(game, 6, available=available, budget=40, exact_when_cheaper=False).values),
        ):
            results.setdefault(name, []).append(values.cpu())
    for name in ("banzhaf_exact", "interactions", "banzhaf"):
        torch.testing.assert_close(results[name][1], results[name][0], rtol=0, atol=1e-12)


def test_banzhaf_and_interaction_loops_never_synchronise() -> None:
    table, available = _case("cuda")
    players = Availability.check(available, 6)
    rows = SubsetRows(available)
    evaluate = RowEvaluator(RowGame(lambda s, c: table[_bits(c), s]), players, max_batch=64)
    banzhaf_sums = ShapleySums(players, banzhaf_weights(6, available.device))
    pair_sums = InteractionSums(players)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        accumulate_rows(evaluate, rows, banzhaf_sums, max_batch=64)
        accumulate_interactions(evaluate, rows, pair_sums, step=64)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    torch.testing.assert_close(banzhaf_sums.values, banzhaf_exact(evaluate.game, 6, available=available).values)
