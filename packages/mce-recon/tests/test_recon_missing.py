"""What sits in a missing slot never reaches the output; refine_observed=False keeps observed slots exact."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from mce_recon import CompletionTransformer

Build = Callable[..., CompletionTransformer]

PRESENT = torch.tensor([[True, False, True], [False, True, False], [True, True, True], [False, False, False]])


@pytest.mark.parametrize("options", [{}, {"mask_missing_keys": True}, {"refine_observed": False}, {"depth": 3}])
@pytest.mark.parametrize("spatial_shape", [(), (3, 2)])
def test_missing_slot_values_do_not_affect_the_output(
    options: dict[str, object], spatial_shape: tuple[int, ...], build: Build
) -> None:
    model = build(**options)
    features = torch.randn(4, 3, 8, *spatial_shape)
    perturbed = features.clone()
    missing = ~PRESENT
    perturbed[missing] = torch.randn_like(perturbed[missing]) * 100
    nan_filled = features.clone()
    nan_filled[missing] = float("nan")
    with torch.no_grad():
        out = model(features, PRESENT)
        assert torch.equal(model(perturbed, PRESENT), out)
        assert torch.equal(model(nan_filled, PRESENT), out)
        assert torch.isfinite(out).all()
        # and the observed slots do matter
        changed = features.clone()
        changed[0, 0] += torch.randn_like(changed[0, 0])  # not a constant: LayerNorm removes those
        assert not torch.allclose(model(changed, PRESENT)[0, 1], out[0, 1])  # slot 1 is missing: reconstructed


@pytest.mark.parametrize("spatial_shape", [(), (2, 2, 2)])
def test_keep_observed_returns_observed_slots_bit_identical(spatial_shape: tuple[int, ...], build: Build) -> None:
    model = build(refine_observed=False, depth=2)
    features = torch.randn(4, 3, 8, *spatial_shape)
    with torch.no_grad():
        out = model(features, PRESENT)
        refined = build(refine_observed=True, depth=2)(features, PRESENT)
    assert torch.equal(out[PRESENT], features[PRESENT])
    # missing slots are filled with what the refining model computes there
    assert torch.equal(out[~PRESENT], refined[~PRESENT])
    assert not torch.allclose(out[~PRESENT], torch.zeros_like(out[~PRESENT]))


def test_refining_changes_observed_slots(build: Build) -> None:
    features = torch.randn(4, 3, 8)
    with torch.no_grad():
        out = build()(features, PRESENT)
    assert not torch.allclose(out[PRESENT], features[PRESENT], atol=1e-3)


def test_key_masking_hides_missing_slots_from_observed_ones(build: Build) -> None:
    """With key masking, observed tokens see only each other: the output at observed slots equals
    a model over just those modalities (same weights, same embeddings)."""
    model = build(mask_missing_keys=True, depth=2)
    features = torch.randn(1, 3, 8)
    present = torch.tensor([[True, False, True]])
    small = CompletionTransformer(2, 8, heads=2, depth=2, mask_missing_keys=True).eval()
    state = model.state_dict()
    state["modality_embedding"] = state["modality_embedding"][:, [0, 2]]
    small.load_state_dict(state)
    with torch.no_grad():
        out = model(features, present)
        alone = small(features[:, [0, 2]], torch.ones(1, 2, dtype=torch.bool))
        torch.testing.assert_close(out[:, [0, 2]], alone)
        # without key masking the mask token of slot 1 changes what the observed slots see
        unmasked = build(depth=2)
        assert not torch.allclose(unmasked(features, present)[:, [0, 2]], alone, atol=1e-4)
