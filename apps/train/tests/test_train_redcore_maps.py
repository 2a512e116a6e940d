"""RedCore on feature maps, by hand: per-location KL and squared error, the per-location Gaussian head,
the cross-modal imputation per location, and one dense step's logged losses against hand-worked values."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from mce_data.collate import Batch
from mce_losses import gaussian_kl
from mce_train.methods.redcore import RedCore, RedCoreNet
from mce_train.methods.redcore.completion import CrossModalCompletion
from mce_train.methods.redcore.maps import location_kl, location_squared_error
from mce_train.methods.redcore.modules import ResidualCrossEncoder, VariationalEncoder
from mce_train.network import MultiModalNet

NAN = float("nan")


def _linear(weight: list[list[float]], bias: list[float]) -> nn.Linear:
    layer = nn.Linear(len(weight[0]), len(weight))
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(weight))
        layer.bias.copy_(torch.tensor(bias))
    return layer


def test_location_kl_sums_channels_and_averages_locations() -> None:
    mu = torch.tensor([[[1.0, 2.0], [0.0, 0.0]]])  # one sample, C = 2, two locations
    logvar = torch.tensor([[[0.0, 0.0], [math.log(2.0), 0.0]]])
    # location 0: ½·1² + ½(2 - 1 - ln 2); location 1: ½·2²
    expected = (0.5 + 0.5 * (1.0 - math.log(2.0)) + 2.0) / 2
    assert location_kl(mu, logvar).tolist() == pytest.approx([expected], rel=1e-6)
    vectors = torch.tensor([[1.0, -2.0], [0.5, 0.0]])
    assert torch.equal(location_kl(vectors, torch.zeros(2, 2)), gaussian_kl(vectors, torch.zeros(2, 2)))
    grid = torch.tensor([[[[1.0, 2.0], [3.0, 0.0]]]])  # [1, C=1, 2, 2]: the mean runs over both spatial axes
    assert location_kl(grid, torch.zeros_like(grid)).tolist() == pytest.approx([(0.5 + 2.0 + 4.5 + 0.0) / 4])


def test_location_squared_error_per_sample_and_modality() -> None:
    a = torch.tensor([[[[1.0, 2.0], [0.0, 1.0]], [[3.0, 3.0], [3.0, 3.0]]]])  # [N=1, M=2, C=2, 2 locations]
    b = torch.tensor([[[[0.0, 0.0], [0.0, 0.0]], [[3.0, 1.0], [3.0, 1.0]]]])
    # m = 0: locations (1² + 0², 2² + 1²) -> (1 + 5) / 2; m = 1: (0, 4 + 4) -> 4
    assert location_squared_error(a, b).tolist() == [[3.0, 4.0]]
    assert location_squared_error(torch.ones(2, 3, 4), torch.zeros(2, 3, 4)).tolist() == [[4.0] * 3] * 2
    with pytest.raises(ValueError, match="share a shape"):
        location_squared_error(a, b[:, :1])


def test_variational_encoder_on_maps_is_a_per_location_gaussian_head() -> None:
    encoder = VariationalEncoder(nn.Identity(), 2, 2, extra=1)
    with torch.no_grad():  # μ = (x0 + x1, 2·x0), log σ² = (x1, -1)
        encoder.gaussian.linear.weight.copy_(torch.tensor([[1.0, 1.0], [2.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
        encoder.gaussian.linear.bias.copy_(torch.tensor([0.0, 0.0, 0.0, -1.0]))
    x = torch.tensor([[[1.0, 3.0], [2.0, -1.0], [7.0, 8.0]]])  # [1, 2 + 1 extra channels, 2 locations]
    out = encoder(x)
    assert out.tolist() == [[[3.0, 2.0], [2.0, 6.0], [7.0, 8.0], [2.0, -1.0], [-1.0, -1.0]]]
    with pytest.raises(ValueError, match=r"\[n, 3, \.\.\.\]"):
        encoder(x[:, :2])


def _completion() -> CrossModalCompletion:
    """M = 3, C = 1: ẑ_a = z_b + 2 z_c, ẑ_b = 3 z_a - z_c, ẑ_c = z_a + z_b + 1 (per location)."""
    cross = {
        "a": _linear([[1.0, 2.0]], [0.0]),
        "b": _linear([[3.0, -1.0]], [0.0]),
        "c": _linear([[1.0, 1.0]], [1.0]),
    }
    return CrossModalCompletion(("a", "b", "c"), cross)


def test_cross_modal_imputation_per_location_reads_kept_slots_only() -> None:
    completion = _completion()
    latent = torch.tensor([[[[1.0, 2.0]], [[NAN, NAN]], [[3.0, 4.0]]], [[[1.0, -1.0]], [[2.0, 5.0]], [[NAN, NAN]]]])
    keep = torch.tensor([[True, False, True], [True, True, False]])  # the NaN slots are the dropped ones
    completed = completion(latent, keep)
    # sample 0: b = 3a - c = (0, 2); sample 1: c = a + b + 1 = (4, 5); kept slots unchanged
    expected = [[[[1.0, 2.0]], [[0.0, 2.0]], [[3.0, 4.0]]], [[[1.0, -1.0]], [[2.0, 5.0]], [[4.0, 5.0]]]]
    assert completed.tolist() == expected  # small integers: exact whatever the summation order
    # the imputation of the kept slots (what L_MSE compares), from the other kept modalities, dropped ones as 0
    imputed = completion.impute(latent, keep, keep)
    # sample 0: a = 0 + 2·c = (6, 8), c = a + 0 + 1 = (2, 3); sample 1: a = b + 0 = (2, 5), b = 3a - 0 = (3, -3)
    expected = [[[[6.0, 8.0]], [[0.0, 0.0]], [[2.0, 3.0]]], [[[2.0, 5.0]], [[3.0, -3.0]], [[0.0, 0.0]]]]
    assert imputed.tolist() == expected


def test_residual_cross_encoder_on_a_map_equals_it_on_each_location() -> None:
    torch.manual_seed(0)
    cross = {name: ResidualCrossEncoder(2 * 3, 3, (4, 2), 2) for name in ("a", "b", "c")}
    completion = CrossModalCompletion(("a", "b", "c"), cross)
    latent = torch.randn(2, 3, 3, 2, 5, generator=torch.Generator().manual_seed(1))  # [N, M, C, X, Y]
    keep = torch.tensor([[True, False, True], [False, True, True]])
    maps = completion(latent, keep)
    # every location as a sample of its own: [N, M, C, X, Y] -> [N·X·Y, M, C]
    vectors = latent.permute(0, 3, 4, 1, 2).reshape(-1, 3, 3)
    per_location = completion(vectors, keep.repeat_interleave(10, dim=0))
    assert torch.allclose(maps.permute(0, 3, 4, 1, 2).reshape(-1, 3, 3), per_location, atol=1e-6)


class _Mean(nn.Module):
    """Any features ``[n, ...] -> Float[n, 1]``: the mean of each row (a decoder one can work by hand)."""

    def forward(self, h: Tensor) -> Tensor:
        return h.flatten(1).mean(1, keepdim=True)


def _squared(prediction: Tensor, target: Tensor) -> Tensor:
    return (prediction[:, 0] - target).pow(2)


def test_a_dense_step_logs_hand_worked_losses() -> None:
    """M = 2, C = 1, two locations; μ = x, log σ² = -30 (noise ~3e-7), ẑ_a = 1 and ẑ_b = -2 everywhere."""
    names = ("a", "b")
    encoders = {}
    for name in names:
        encoders[name] = VariationalEncoder(nn.Identity(), 1, 1)
        with torch.no_grad():
            encoders[name].gaussian.linear.weight.copy_(torch.tensor([[1.0], [0.0]]))
            encoders[name].gaussian.linear.bias.copy_(torch.tensor([0.0, -30.0]))
    cross = {"a": _linear([[0.0]], [1.0]), "b": _linear([[0.0]], [-2.0])}
    network = MultiModalNet(names, {n: nn.Identity() for n in names}, _Mean(), {n: _Mean() for n in names})
    model = RedCoreNet(network, encoders, cross, 1)
    present = torch.tensor([[True, True], [True, False], [False, True]])
    inputs = {
        "a": torch.tensor([[[1.0, 3.0]], [[2.0, 2.0]], [[NAN, NAN]]]),  # [N, C=1, 2 locations]
        "b": torch.tensor([[[0.0, 4.0]], [[NAN, NAN]], [[-1.0, 1.0]]]),
    }
    target = torch.tensor([0.0, 1.0, 2.0])
    batch = Batch(["s0", "s1", "s2"], inputs, {}, present, target, {})
    method = RedCore(_squared, names, gamma=0.008)
    loss, logs = method.loss(model, batch)
    # L_MSE: a over samples 0, 1: ((0 + 4) / 2 + (1 + 1) / 2) / 2; b over 0, 2: ((4 + 36) / 2 + (1 + 9) / 2) / 2
    assert logs["mse_a"] == pytest.approx(1.5, abs=1e-4)
    assert logs["mse_b"] == pytest.approx(12.5, abs=1e-4)
    # KL per location ½(μ² + 29) (+ ½e^-30); averaged over locations, then over all N = 3 (absent rows 0)
    kl_a = ((15.0 + 19.0) / 2 + 16.5) / 3
    kl_b = ((14.5 + 22.5) / 2 + 15.0) / 3
    assert logs["kl"] == pytest.approx(kl_a + kl_b, rel=1e-6)
    # decoders on the completed maps: joint means (2, 0, 0.5), unimodal a (2, 2, 1), b (2, -2, 0)
    assert logs["ce_joint"] == pytest.approx((4.0 + 1.0 + 2.25) / 3, abs=1e-5)
    assert logs["ce_unimodal"] == pytest.approx((4.0 + 1.0 + 1.0) / 3 + (4.0 + 9.0 + 4.0) / 3, abs=1e-5)
    regulated = logs["eta_a"] * 1.5 + logs["eta_b"] * 12.5
    expected = (4.0 + 1.0 + 2.25) / 3 + 2.0 + 17.0 / 3 + 0.008 * (kl_a + kl_b) + regulated
    assert float(loss.detach()) == pytest.approx(expected, abs=1e-4)
    assert logs["eta_b"] > logs["eta_a"]  # b imputes worse: it gains supervision at the first update
