"""MCE's Shapley values: the fused head's per-sample score over each sample's own modalities.

The reference is the textbook formula on coalition values obtained by calling the model once per
(sample, coalition), independent of the pair batch and of mce-shapley.
"""

import itertools
import math

import torch

from mce_losses import classification_score, subset_pairs
from mce_recon import CompletionTransformer
from mce_train.benchmarks.iemocap import models as iemocap
from mce_train.methods.mce.shapley import batch_shapley
from mce_train.network import MultiModalNet


def _net() -> MultiModalNet:
    torch.manual_seed(0)
    dims = {"acoustic": 5, "visual": 6, "lexical": 7}
    return MultiModalNet(
        iemocap.MODALITIES,
        iemocap.encoders(8, dims),
        iemocap.head(8, 16),
        iemocap.unimodal_heads(8, 16),
        CompletionTransformer(3, 8, heads=2),
    )


def _brute_force(model: MultiModalNet, h: torch.Tensor, present: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    n, m = present.shape
    phi = torch.zeros(n, m, dtype=torch.float64)
    for row in range(n):
        players = [j for j in range(m) if present[row, j]]
        k = len(players)

        def value(coalition: tuple[int, ...], row: int = row) -> float:
            if not coalition:
                return 0.0
            keep = torch.zeros(1, m, dtype=torch.bool)
            keep[0, list(coalition)] = True
            return float(classification_score(model.predict(h[row : row + 1], keep), target[row : row + 1])[0])

        for player in players:
            others = [p for p in players if p != player]
            for size in range(k):
                for coalition in itertools.combinations(others, size):
                    weight = math.factorial(size) * math.factorial(k - size - 1) / math.factorial(k)
                    with_player = tuple(sorted((*coalition, player)))
                    phi[row, player] += weight * (value(with_player) - value(coalition))
    return phi


def test_exact_shapley_from_the_pair_batch_matches_the_textbook_formula() -> None:
    """In training mode too: the head's batch norm must not make one sample's game depend on the others."""
    model = _net().train()
    generator = torch.Generator().manual_seed(1)
    n = 12
    present = torch.rand(n, 3, generator=generator) < 0.6
    present[~present.any(1), 0] = True
    inputs = {
        name: torch.randn(n, 4, d, generator=generator)
        for name, d in {"acoustic": 5, "visual": 6, "lexical": 7}.items()
    }
    lengths = {name: torch.full((n,), 4) for name in inputs}
    target = torch.randint(0, 4, (n,), generator=generator)
    with torch.no_grad():
        h = model.encode(inputs, present, lengths)
        pairs = subset_pairs(present)
        prediction = model.head(model.complete(h.index_select(0, pairs.sample_index), pairs.keep))
    statistics = {k: v.clone() for k, v in model.state_dict().items() if "running" in k or "num_batches" in k}

    class Batch:
        pass

    batch = Batch()
    batch.present, batch.target = present, target  # type: ignore[attr-defined]

    def values(estimator: str) -> torch.Tensor:
        generator = torch.Generator().manual_seed(0)
        return batch_shapley(
            model,
            h,
            batch,
            pairs,
            prediction,
            score=classification_score,
            estimator=estimator,
            permutations=8,
            generator=generator,
        )

    phi = values("exact")
    assert model.training  # restored
    assert statistics  # the head has batch norm
    for key, value in statistics.items():  # and its running statistics were not touched
        torch.testing.assert_close(model.state_dict()[key], value)
    with torch.no_grad():
        reference = _brute_force(model.eval(), h, present, target)
    model.train()
    torch.testing.assert_close(phi, reference, atol=1e-6, rtol=0)
    assert torch.all(phi[~present] == 0)
    assert (phi[present] != 0).sum() >= 3  # an untrained head still gives non-trivial games
    # M = 3: 2**|A_i| <= 8 coalitions fit the budget, so the Monte Carlo path solves every sample exactly
    torch.testing.assert_close(values("permutation"), phi)
    for key, value in statistics.items():
        torch.testing.assert_close(model.state_dict()[key], value)
