"""Row weights: Eqs. 11 and 13 as weighted sums, so a batch split across processes adds up exactly."""

import pytest
import torch

from mce_losses import (
    SubsetPairs,
    auxiliary_loss,
    subset_loss,
    subset_pair_weights,
    subset_pairs,
    subset_row_counts,
)


def _batch(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    present = torch.rand(n, 3, generator=generator) < 0.6
    present[~present.any(1), 1] = True
    losses = torch.rand(n, 7, generator=generator)  # a loss per (sample, subset code)
    features = torch.randn(n, 3, 4, generator=generator)
    return present, losses, features


def _pair_values(pairs_losses: torch.Tensor, present_rows: torch.Tensor, pairs: SubsetPairs) -> torch.Tensor:
    codes = (pairs.keep.long() * torch.tensor([1, 2, 4])).sum(1)
    return pairs_losses[pairs.sample_index, codes - 1]


def test_own_counts_reproduce_the_per_subset_normalisation() -> None:
    present, losses, features = _batch(20, 0)
    pairs = subset_pairs(present)
    rows = _pair_values(losses, present, pairs)
    weights = subset_pair_weights(pairs)
    assert subset_loss(rows, pairs, pair_weights=weights).item() == pytest.approx(subset_loss(rows, pairs).item())
    reconstructed = torch.randn(pairs.n_pairs, 3, 4, generator=torch.Generator().manual_seed(1))
    weight = torch.tensor([1.0, 2.0, 0.5])
    assert auxiliary_loss(reconstructed, features, pairs, weight, pair_weights=weights).item() == pytest.approx(
        auxiliary_loss(reconstructed, features, pairs, weight).item()
    )


@pytest.mark.parametrize("split", [5, 10, 13])
def test_slices_with_summed_counts_add_up_to_the_whole_batch(split: int) -> None:
    present, losses, features = _batch(20, 3)
    whole = subset_pairs(present)
    reference_sub = subset_loss(_pair_values(losses, present, whole), whole).item()
    reconstructed_all = torch.randn(20, 7, 3, 4, generator=torch.Generator().manual_seed(2))  # one per (sample, code)
    codes = (whole.keep.long() * torch.tensor([1, 2, 4])).sum(1)
    weight = torch.tensor([1.0, 2.0, 0.5])
    reference_aux = auxiliary_loss(reconstructed_all[whole.sample_index, codes - 1], features, whole, weight).item()
    slices = [slice(0, split), slice(split, 20)]
    parts = [subset_pairs(present[s]) for s in slices]
    counts = torch.stack([subset_row_counts(p) for p in parts]).sum(0)  # what an all-reduce gives
    total_sub = total_aux = 0.0
    for s, pairs in zip(slices, parts, strict=True):
        weights = subset_pair_weights(pairs, counts)
        total_sub += subset_loss(_pair_values(losses[s], present[s], pairs), pairs, pair_weights=weights).item()
        local_codes = (pairs.keep.long() * torch.tensor([1, 2, 4])).sum(1)
        reconstructed = reconstructed_all[s][pairs.sample_index, local_codes - 1]
        total_aux += auxiliary_loss(reconstructed, features[s], pairs, weight, pair_weights=weights).item()
    assert total_sub == pytest.approx(reference_sub, rel=1e-6)
    assert total_aux == pytest.approx(reference_aux, rel=1e-6)


def test_row_counts_and_bad_shapes() -> None:
    pairs = subset_pairs(torch.tensor([[True, True], [True, False]]))
    assert subset_row_counts(pairs).tolist() == [0.0, 2.0, 1.0, 1.0]
    with pytest.raises(ValueError, match=r"row_counts must have shape \[4\]"):
        subset_pair_weights(pairs, torch.ones(3))
