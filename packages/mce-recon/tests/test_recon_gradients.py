"""Gradients flow where they should (all parameters, E_pos, observed inputs) and nowhere else."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from mce_recon import CompletionTransformer

Build = Callable[..., CompletionTransformer]

PRESENT = torch.tensor([[True, False, True], [False, True, False], [True, True, True], [False, True, True]])


def _slot_mask(present: torch.Tensor, ndim: int) -> torch.Tensor:
    return present.reshape(present.shape + (1,) * (ndim - 2))


@pytest.mark.parametrize("options", [{}, {"norm": "post", "depth": 2}, {"mask_missing_keys": True}])
@pytest.mark.parametrize("spatial_shape", [(), (2, 3)])
def test_every_parameter_and_the_embedding_get_gradient(
    options: dict[str, object], spatial_shape: tuple[int, ...], build: Build
) -> None:
    model = build(**options).train()
    features = torch.randn(4, 3, 8, *spatial_shape, requires_grad=True)
    out = model(features, PRESENT)
    (out * torch.randn_like(out)).sum().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert parameter.grad.abs().sum() > 0, name
    assert features.grad is not None
    slot = _slot_mask(PRESENT, features.ndim).expand_as(features)
    assert torch.all(features.grad[~slot] == 0), "a missing slot's input must get no gradient"
    assert torch.all(features.grad[slot].reshape(-1, 8).abs().sum(-1) > 0)


@pytest.mark.parametrize("spatial_shape", [(), (2, 2)])
def test_keep_observed_gradients(spatial_shape: tuple[int, ...], build: Build) -> None:
    model = build(refine_observed=False).train()
    features = torch.randn(4, 3, 8, *spatial_shape, requires_grad=True)
    slot = _slot_mask(PRESENT, features.ndim).expand_as(features)

    # A loss on the observed outputs only: identity to the inputs, nothing to the parameters.
    out = model(features, PRESENT)
    (out * slot).sum().backward()
    assert features.grad is not None
    assert torch.equal(features.grad, slot.float())
    for name, parameter in model.named_parameters():
        assert parameter.grad is None or torch.all(parameter.grad == 0), name

    # A loss on the reconstructed (missing) outputs: reaches the parameters and, through the
    # reconstruction, the observed inputs, never the missing inputs.
    model.zero_grad()
    again = features.detach().clone().requires_grad_()
    out = model(again, PRESENT)
    (out * ~slot * torch.randn_like(out)).sum().backward()
    assert again.grad is not None
    assert torch.all(again.grad[~slot] == 0)
    assert again.grad[slot].abs().sum() > 0
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert parameter.grad.abs().sum() > 0, name


def test_auxiliary_completion_with_a_keep_mask(build: Build) -> None:
    """The L_aux use (paper Eqs. 12-13): drop a subset of the observed modalities, reconstruct
    them from the rest and compare with the real features; the dropped real features are targets
    only, reached by no gradient through the module."""
    model = build().train()
    features = torch.randn(4, 3, 8, requires_grad=True)
    keep = PRESENT & torch.tensor([True, False, True])  # drop modality 1 wherever it was observed
    dropped = PRESENT & ~keep
    completed = model(features, keep)
    loss = (completed - features.detach()).abs().sum(-1)[dropped].mean()
    loss.backward()
    assert features.grad is not None
    assert torch.all(features.grad[:, 1] == 0)  # modality 1 was an input to no row
    assert features.grad[keep].abs().sum() > 0
    assert model.modality_embedding.grad is not None
    assert model.modality_embedding.grad[0, 1].abs().sum() > 0  # the mask token of the dropped slot learns
