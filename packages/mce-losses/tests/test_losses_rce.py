"""L_single (Eq. 9), L_sub (Eq. 11), L_aux (Eq. 13), Eq. 14: brute-force references and gradients."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
import torch
from torch import Tensor

from mce_losses import (
    auxiliary_loss,
    pair_features,
    single_modal_loss,
    subset_loss,
    subset_pairs,
    total_objective,
)
from mce_losses.subsets import SubsetPairs


def _grads(loss: Tensor, *inputs: Tensor) -> list[Tensor | None]:
    """d loss / d input for each input (None where the input does not reach the loss)."""
    return list(torch.autograd.grad(loss, inputs, allow_unused=True))


def _grad(loss: Tensor, tensor: Tensor) -> Tensor:
    (grad,) = _grads(loss, tensor)
    assert grad is not None
    return grad


def _random_presence(n: int, m: int, seed: int, rate: float = 0.6) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    present = torch.rand(n, m, generator=generator) < rate
    empty = ~present.any(dim=1)
    present[empty, torch.randint(0, m, (int(empty.sum()),), generator=generator)] = True
    return present


def _row_of(pairs: SubsetPairs) -> dict[tuple[int, tuple[int, ...]], int]:
    """(sample, sorted subset tuple) -> row index, to look rows up from the Python loops."""
    return {
        (int(n), tuple(int(k) for k in keep.nonzero().flatten())): p
        for p, (n, keep) in enumerate(zip(pairs.sample_index, pairs.keep, strict=True))
    }


def _feasible_subsets(present: Tensor, include_full: bool) -> list[tuple[tuple[int, ...], list[int]]]:
    """Eq. 10 by loops: every non-empty subset S with its N_S (skipping subsets with none)."""
    n_samples, n_modalities = present.shape
    out = []
    for size in range(1, n_modalities + 1):
        for subset in itertools.combinations(range(n_modalities), size):
            samples = [
                n
                for n in range(n_samples)
                if all(present[n, k] for k in subset) and (include_full or size < int(present[n].sum()))
            ]
            if samples:
                out.append((subset, samples))
    return out


def _brute_force_sub(losses: Tensor, pairs: SubsetPairs, present: Tensor, normalization: str) -> float:
    row = _row_of(pairs)
    if normalization == "subset":  # Eq. 11
        per_subset = []
        for subset, samples in _feasible_subsets(present, pairs.include_full):
            per_subset.append(sum(float(losses[row[(n, subset)]]) for n in samples) / len(samples))
        return sum(per_subset) / len(per_subset) if per_subset else 0.0
    per_sample = []
    for n in range(present.shape[0]):
        mine = [float(losses[p]) for (s, _), p in row.items() if s == n]
        if mine:
            per_sample.append(sum(mine) / len(mine))
    return sum(per_sample) / len(per_sample) if per_sample else 0.0


def _brute_force_aux(
    reconstructed: Tensor,
    features: Tensor,
    pairs: SubsetPairs,
    present: Tensor,
    weight: Tensor,
    distance: Callable[[Tensor, Tensor], float],
    normalization: str,
) -> float:
    row = _row_of(pairs)
    n_modalities = present.shape[1]

    def inner(n: int, subset: tuple[int, ...]) -> float:
        dropped = [m for m in range(n_modalities) if present[n, m] and m not in subset]
        if not dropped:
            return 0.0
        p = row[(n, subset)]
        return sum(float(weight[m]) * distance(reconstructed[p, m], features[n, m]) for m in dropped) / len(dropped)

    if normalization == "subset":  # Eq. 13
        per_subset = [
            sum(inner(n, subset) for n in samples) / len(samples)
            for subset, samples in _feasible_subsets(present, pairs.include_full)
        ]
        return sum(per_subset) / len(per_subset) if per_subset else 0.0
    per_sample = []
    for n in range(present.shape[0]):
        mine = [inner(n, subset) for (s, subset) in row if s == n]
        if mine:
            per_sample.append(sum(mine) / len(mine))
    return sum(per_sample) / len(per_sample) if per_sample else 0.0


DISTANCES: dict[str, Callable[[Tensor, Tensor], float]] = {
    "l1": lambda a, b: float((a - b).abs().mean()),
    "mse": lambda a, b: float(((a - b) ** 2).mean()),
    "l2": lambda a, b: float(((a - b) ** 2).sum().sqrt()),
}


# --- L_single -------------------------------------------------------------------------------


def test_single_modal_loss_matches_eq9_by_hand() -> None:
    present = torch.tensor([[True, False, True], [True, True, False], [False, False, True]])
    losses = torch.tensor([[1.0, 9.0, 2.0], [3.0, 4.0, 9.0], [9.0, 9.0, 6.0]])
    weight = torch.tensor([0.5, 2.0, 1.0])
    # default: sums over the samples that have m, divided by N = 3: rho = (4/3, 4/3, 8/3)
    assert single_modal_loss(losses, present).item() == pytest.approx(16 / 3)
    assert single_modal_loss(losses, present, weight).item() == pytest.approx(0.5 * 4 / 3 + 2 * 4 / 3 + 8 / 3)
    # "present": rho_0 = (1 + 3)/2 = 2, rho_1 = 4, rho_2 = (2 + 6)/2 = 4
    present_mean = {"sample_reduction": "present"}
    assert single_modal_loss(losses, present, **present_mean).item() == pytest.approx(10.0)  # type: ignore[arg-type]
    assert single_modal_loss(losses, present, weight, **present_mean).item() == pytest.approx(0.5 * 2 + 2 * 4 + 4)  # type: ignore[arg-type]
    assert single_modal_loss(
        losses, present, weight, modality_reduction="mean", sample_reduction="present"
    ).item() == pytest.approx(13 / 3)


def test_factor_a_with_batch_reduction_equalises_each_modalitys_total_update() -> None:
    """Fig. 2's counts: with A = N / count_m, every modality's summed gradient weight is the same."""
    counts = [10, 8, 5, 2]
    present = torch.tensor([[n < c for c in counts] for n in range(10)])
    a = 10 / torch.tensor(counts, dtype=torch.float32)
    losses = torch.ones(10, 4, requires_grad=True)
    grad = _grad(single_modal_loss(losses, present, a), losses)
    torch.testing.assert_close(grad.sum(0), torch.ones(4))  # A_m * count_m / N = 1 for every m
    doubled = _grad(single_modal_loss(losses, present, a, sample_reduction="present"), losses)
    torch.testing.assert_close(doubled.sum(0), a)  # dividing by count_m too: rare modalities counted twice


def test_single_modal_loss_absent_modality_contributes_zero_and_no_gradient() -> None:
    present = torch.tensor([[True, False], [True, False]])
    losses = torch.tensor([[1.0, float("nan")], [2.0, float("inf")]], requires_grad=True)
    out = single_modal_loss(losses, present, torch.tensor([1.0, 5.0]))
    assert out.item() == pytest.approx(1.5)  # (1 + 2) / N with N = 2
    torch.testing.assert_close(_grad(out, losses), torch.tensor([[0.5, 0.0], [0.5, 0.0]]))


# --- L_sub ----------------------------------------------------------------------------------


@pytest.mark.parametrize("normalization", ["subset", "sample"])
@pytest.mark.parametrize("include_full", [True, False])
@pytest.mark.parametrize(("n", "m", "seed"), [(1, 1, 0), (6, 2, 1), (10, 3, 2), (8, 4, 3), (5, 5, 4)])
def test_subset_loss_matches_brute_force(n: int, m: int, seed: int, include_full: bool, normalization: str) -> None:
    present = _random_presence(n, m, seed)
    pairs = subset_pairs(present, include_full=include_full)
    losses = torch.rand(pairs.n_pairs, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    expected = _brute_force_sub(losses, pairs, present, normalization)
    actual = subset_loss(losses, pairs, normalization=normalization)  # type: ignore[arg-type]
    assert actual.item() == pytest.approx(expected, abs=1e-12)


def test_subset_loss_hand_example() -> None:
    # Sample 0 has {0, 1}, sample 1 has {0}. S_batch = {0}, {1}, {0, 1}; N_{0} = {0, 1}.
    present = torch.tensor([[True, True], [True, False]])
    pairs = subset_pairs(present)
    row = _row_of(pairs)
    losses = torch.zeros(pairs.n_pairs)
    losses[row[(0, (0,))]], losses[row[(1, (0,))]] = 1.0, 3.0
    losses[row[(0, (1,))]], losses[row[(0, (0, 1))]] = 4.0, 6.0
    # Eq. 11: mean over subsets of (2, 4, 6) = 4; per sample: mean((1 + 4 + 6)/3, 3) = 3.3333
    assert subset_loss(losses, pairs).item() == pytest.approx(4.0)
    assert subset_loss(losses, pairs, normalization="sample").item() == pytest.approx((11 / 3 + 3) / 2)


def test_subset_loss_gradient_reaches_every_row() -> None:
    present = _random_presence(6, 3, 7)
    pairs = subset_pairs(present)
    losses = torch.rand(pairs.n_pairs, requires_grad=True)
    grad = _grad(subset_loss(losses, pairs), losses)
    assert (grad > 0).all()
    # each subset's rows share 1 / (|S_batch| |N_S|)
    counts = pairs.feasible.sum(dim=1).double()
    expected = 1.0 / (pairs.n_subsets * counts[pairs.subset_index])
    torch.testing.assert_close(grad.double(), expected, rtol=1e-6, atol=0.0)


def test_subset_loss_without_rows_is_zero() -> None:
    present = torch.tensor([[True, False], [False, True]])
    pairs = subset_pairs(present, include_full=False)  # single-modality samples have no proper subset
    assert pairs.n_pairs == 0
    assert subset_loss(torch.zeros(0), pairs).item() == 0.0


# --- L_aux ----------------------------------------------------------------------------------


@pytest.mark.parametrize("distance", sorted(DISTANCES))
@pytest.mark.parametrize("normalization", ["subset", "sample"])
@pytest.mark.parametrize(("n", "m", "feature_shape", "seed"), [(6, 2, (3,), 0), (9, 3, (4,), 1), (7, 4, (2, 3, 3), 2)])
def test_auxiliary_loss_matches_brute_force(
    n: int, m: int, feature_shape: tuple[int, ...], seed: int, normalization: str, distance: str
) -> None:
    present = _random_presence(n, m, seed)
    pairs = subset_pairs(present)
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(n, m, *feature_shape, generator=generator, dtype=torch.float64)
    reconstructed = torch.randn(pairs.n_pairs, m, *feature_shape, generator=generator, dtype=torch.float64)
    weight = torch.rand(m, generator=generator, dtype=torch.float64) * 2
    expected = _brute_force_aux(reconstructed, features, pairs, present, weight, DISTANCES[distance], normalization)
    actual = auxiliary_loss(
        reconstructed,
        features,
        pairs,
        weight,
        distance=distance,  # type: ignore[arg-type]
        normalization=normalization,  # type: ignore[arg-type]
    )
    assert actual.item() == pytest.approx(expected, abs=1e-10)


def test_auxiliary_loss_custom_distance() -> None:
    present = _random_presence(5, 3, 3)
    pairs = subset_pairs(present)
    features = torch.randn(5, 3, 4, dtype=torch.float64)
    reconstructed = torch.randn(pairs.n_pairs, 3, 4, dtype=torch.float64)

    def cosine(a: Tensor, b: Tensor) -> Tensor:
        return 1 - torch.nn.functional.cosine_similarity(a, b, dim=-1, eps=1e-8)

    expected = _brute_force_aux(
        reconstructed,
        features,
        pairs,
        present,
        torch.ones(3),
        lambda a, b: float(1 - torch.nn.functional.cosine_similarity(a, b, dim=-1)),
        "subset",
    )
    assert auxiliary_loss(reconstructed, features, pairs, distance=cosine).item() == pytest.approx(expected)
    with pytest.raises(ValueError, match=r"custom distance must return shape \[.*, 3\]"):
        auxiliary_loss(reconstructed, features, pairs, distance=lambda a, b: (a - b).abs())


def test_auxiliary_loss_hand_example() -> None:
    # One sample with {0, 1}; rows {0}, {1}, {0, 1}. Row {0} drops 1, row {1} drops 0.
    present = torch.tensor([[True, True]])
    pairs = subset_pairs(present)
    row = _row_of(pairs)
    features = torch.tensor([[[1.0, 1.0], [2.0, 2.0]]])
    reconstructed = torch.zeros(3, 2, 2)
    reconstructed[row[(0, (0,))], 1] = torch.tensor([2.0, 4.0])  # l1 to (2, 2): 1.0
    reconstructed[row[(0, (1,))], 0] = torch.tensor([4.0, 1.0])  # l1 to (1, 1): 1.5
    weight = torch.tensor([2.0, 3.0])
    # Eq. 13: subsets {0}: 3 * 1.0, {1}: 2 * 1.5, {0, 1}: nothing dropped -> 0; mean = 2.0
    assert auxiliary_loss(reconstructed, features, pairs, weight).item() == pytest.approx(2.0)


def _aux_setup(seed: int = 0) -> tuple[Tensor, SubsetPairs]:
    present = torch.tensor([[True, True, False], [True, False, True], [False, True, True], [True, True, True]])
    return present, subset_pairs(present)


def test_auxiliary_loss_gradients_reach_only_dropped_entries() -> None:
    present, pairs = _aux_setup()
    features = torch.randn(4, 3, 5, requires_grad=True)
    reconstructed = torch.randn(pairs.n_pairs, 3, 5, requires_grad=True)
    for distance in ("l1", "mse", "l2"):
        loss = auxiliary_loss(reconstructed, features, pairs, distance=distance)
        grad_reconstructed, grad_features = _grads(loss, reconstructed, features)
        assert grad_reconstructed is not None
        assert grad_features is not None
        touched = grad_reconstructed.abs().sum(dim=-1) > 0
        assert torch.equal(touched, pairs.drop)
        # target features: gradient on present entries that some row drops, never on absent ones
        assert grad_features[~present].eq(0).all()
        assert (grad_features[present].abs().sum(dim=-1) > 0).all()


def test_auxiliary_loss_detach_target_stops_gradient_into_features() -> None:
    _, pairs = _aux_setup()
    features = torch.randn(4, 3, 5, requires_grad=True)
    reconstructed = torch.randn(pairs.n_pairs, 3, 5, requires_grad=True)
    grad_reconstructed, grad_features = _grads(
        auxiliary_loss(reconstructed, features, pairs, detach_target=True), reconstructed, features
    )
    assert grad_features is None  # the target path is cut
    assert grad_reconstructed is not None
    default = auxiliary_loss(reconstructed, features, pairs)  # not detached
    assert _grad(default, features).abs().sum() > 0
    # With a reconstruction computed from the features, detaching leaves exactly that path.
    detached = auxiliary_loss(pair_features(features, pairs) * 0.5, features, pairs, detach_target=True)
    by_hand = auxiliary_loss(pair_features(features, pairs) * 0.5, features.detach(), pairs)
    torch.testing.assert_close(_grad(detached, features), _grad(by_hand, features))


def test_auxiliary_loss_ignores_non_finite_placeholders() -> None:
    present, pairs = _aux_setup()
    features = torch.randn(4, 3, 5)
    features[~present] = float("nan")  # absent modalities may hold anything
    features.requires_grad_()
    reconstructed = torch.randn(pairs.n_pairs, 3, 5)
    reconstructed[~pairs.drop] = float("inf")  # so may entries that are not reconstruction targets
    reconstructed.requires_grad_()
    for distance in ("l1", "mse", "l2"):
        loss = auxiliary_loss(reconstructed, features, pairs, distance=distance)
        assert torch.isfinite(loss)
        for grad in _grads(loss, features, reconstructed):
            assert grad is not None
            assert torch.isfinite(grad).all()


def test_l2_distance_has_a_finite_gradient_at_a_perfect_reconstruction() -> None:
    _present, pairs = _aux_setup()
    features = torch.randn(4, 3, 5)
    reconstructed = features[pairs.sample_index].clone().requires_grad_()
    loss = auxiliary_loss(reconstructed, features, pairs, distance="l2")
    assert loss.item() == 0.0
    assert torch.isfinite(_grad(loss, reconstructed)).all()


def test_factor_weights_carry_no_gradient() -> None:
    present, pairs = _aux_setup()
    weight = torch.tensor([1.0, 2.0, 0.5], requires_grad=True)
    reconstructed = torch.randn(pairs.n_pairs, 3, 2, requires_grad=True)
    aux = auxiliary_loss(reconstructed, torch.randn(4, 3, 2), pairs, weight)
    single = single_modal_loss(torch.rand(4, 3, requires_grad=True), present, weight)
    assert _grads(aux + single, weight) == [None]


def test_zero_factor_silences_a_modality() -> None:
    _present, pairs = _aux_setup()
    reconstructed = torch.randn(pairs.n_pairs, 3, 2, requires_grad=True)
    loss = auxiliary_loss(reconstructed, torch.randn(4, 3, 2), pairs, torch.tensor([1.0, 0.0, 1.0]))
    assert _grad(loss, reconstructed)[:, 1].eq(0).all()


def test_loss_argument_errors() -> None:
    present, pairs = _aux_setup()
    with pytest.raises(ValueError, match=r"pair_losses must have shape \[\d+\] \(one loss per row of pairs\)"):
        subset_loss(torch.zeros(3), pairs)
    with pytest.raises(ValueError, match=r"reconstructed must have shape \[\d+, 3, 2\]"):
        auxiliary_loss(torch.zeros(2, 3, 2), torch.zeros(4, 3, 2), pairs)
    with pytest.raises(ValueError, match=r"features must have shape \[N, M, \.\.\.\] = \[4, 3, \.\.\.\]"):
        auxiliary_loss(torch.zeros(pairs.n_pairs, 3, 2), torch.zeros(5, 3, 2), pairs)
    with pytest.raises(ValueError, match="distance must be one of 'l1', 'mse', 'l2'; got 'l3'"):
        auxiliary_loss(torch.zeros(pairs.n_pairs, 3, 2), torch.zeros(4, 3, 2), pairs, distance="l3")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"weight must have shape \[3\] \(one value per modality\); got shape \[2\]"):
        single_modal_loss(torch.zeros(4, 3), present, torch.ones(2))
    with pytest.raises(ValueError, match="normalization must be one of 'subset', 'sample'"):
        subset_loss(torch.zeros(pairs.n_pairs), pairs, normalization="batch")  # type: ignore[arg-type]


# --- Eq. 14 ---------------------------------------------------------------------------------


def test_total_objective_is_eq14() -> None:
    terms = [torch.tensor(v) for v in (1.0, 2.0, 3.0, 4.0)]
    assert total_objective(*terms).item() == pytest.approx(10.0)
    assert total_objective(*terms, lambda_single=1.0, lambda_sub=2.0, lambda_aux=0.5).item() == pytest.approx(11.0)
    with pytest.raises(ValueError, match="lambda_sub must be a finite number >= 0"):
        total_objective(*terms, lambda_sub=-1.0)
    with pytest.raises(ValueError, match=r"single must be a scalar loss \(shape \[\]\); got shape \[2\]"):
        total_objective(terms[0], torch.zeros(2), terms[2], terms[3])
