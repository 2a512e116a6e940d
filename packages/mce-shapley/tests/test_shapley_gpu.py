"""CUDA: the same values as on the CPU, and a chunk loop free of host synchronisation."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from mce_shapley import RowGame, exact, permutation
from mce_shapley.availability import Availability
from mce_shapley.coalitions import SubsetRows
from mce_shapley.exact_shapley import ShapleySums

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


def test_exact_chunk_loop_never_synchronises() -> None:
    table, available = _case("cuda")
    sums = ShapleySums(Availability.check(available, 6))
    rows = SubsetRows(available)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for start in range(0, rows.total, 64):
            samples, bits = rows.take(start, min(start + 64, rows.total))
            sums.add_rows(samples, bits, table[bits, samples])
        coalitions = torch.arange(64, device="cuda")
        sums.add_grid(coalitions, table[coalitions])
    finally:
        torch.cuda.set_sync_debug_mode("default")
